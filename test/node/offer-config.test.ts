import { expect, it } from "vitest";
import { isIosSdk, offerConfig } from "../../media-node/src/signaling/offer-config.js";

const TURN = { urls: ["turn:192.0.2.1:3478?transport=udp"], username: "1700000000:ABC", credential: "c2VjcmV0" };

it("gives every client but the iOS SDK a config with iceServers, even an empty one (C++/Momo read it with .at())", () => {
  for (const client of [undefined, "Sora C++ SDK 2026.1.0 (0090ccf)", "Sora Android SDK 2026.2.0 (abc)", "WebRTC Native Client Momo 2025.1.3 (e8d7eb0)"]) {
    expect(offerConfig({ iceServers: [] }, client), String(client)).toEqual({ iceServers: [] });
    expect(offerConfig({ iceServers: [TURN], iceTransportPolicy: "all" }, client), String(client)).toEqual({ iceServers: [TURN] });
  }
});

it("leaves config out for the iOS SDK unless relay (its decoder accepts only iceTransportPolicy: relay)", () => {
  const ios = "Sora iOS SDK 2026.2.0-canary.5";
  expect(isIosSdk(ios)).toBe(true);
  expect(offerConfig({ iceServers: [] }, ios)).toBeUndefined();
  expect(offerConfig({ iceServers: [TURN], iceTransportPolicy: "all" }, ios)).toBeUndefined();
  expect(offerConfig({ iceServers: [TURN], iceTransportPolicy: "relay" }, ios)).toEqual({ iceServers: [TURN], iceTransportPolicy: "relay" });
});

it("never sends iceTransportPolicy other than relay, and always string credentials and url arrays", () => {
  expect(offerConfig({ iceServers: [{ urls: "stun:192.0.2.1:3478" }], iceTransportPolicy: "all" }, undefined)).toEqual({
    iceServers: [{ urls: ["stun:192.0.2.1:3478"], username: "", credential: "" }],
  });
  expect(offerConfig({ iceServers: [TURN], iceTransportPolicy: "relay" }, "Sora C++ SDK")).toEqual({
    iceServers: [TURN],
    iceTransportPolicy: "relay",
  });
});
