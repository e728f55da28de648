import { expect, it } from "vitest";
import { rfc3339Micros } from "../../media-node/src/sfu/connection-stats.js";
import { KEY_FRAME_REQUEST_MAX_PLIS, KeyFrameRequest } from "../../media-node/src/sfu/keyframe-request.js";
import { AudioActivity, FORCED_FOCUS_HOLD_MS, Spotlight } from "../../media-node/src/sfu/spotlight.js";

// The pure parts behind RequestKeyFrame, the spotlight focus APIs and GetStatsConnection.

it("RequestKeyFrame schedule: a PLI now, then one per second, at most 5, none after a keyframe", () => {
  const request = new KeyFrameRequest();
  expect(request.pending).toBe(false);
  expect(request.takePli(0)).toBe(false);
  request.start(1000);
  const sent: number[] = [];
  for (let t = 1000; t <= 9000; t += 100) if (request.takePli(t)) sent.push(t);
  expect(sent).toEqual([1000, 2000, 3000, 4000, 5000]);
  expect(sent).toHaveLength(KEY_FRAME_REQUEST_MAX_PLIS);
  expect(request.pending).toBe(false);

  request.start(10_000);
  expect(request.takePli(10_000)).toBe(true);
  expect(request.takePli(10_500)).toBe(false);
  request.keyFrameReceived();
  expect(request.pending).toBe(false);
  expect(request.takePli(11_000)).toBe(false);

  // A new request during a chase starts over (the first PLI at once).
  request.start(20_000);
  expect(request.takePli(20_000)).toBe(true);
  request.start(20_300);
  expect(request.takePli(20_300)).toBe(true);
});

const speaking = () => {
  const a = new AudioActivity();
  for (let i = 0; i < 500; i++) a.onLevel(10);
  return a;
};
const silent = () => new AudioActivity();

it("FocusSpotlightFixed holds a slot against speakers until UnfocusSpotlight", () => {
  const spotlight = new Spotlight(1);
  const loudness = () => 0;
  spotlight.evaluate([{ id: "a", activity: silent() }, { id: "b", activity: silent() }], 0);
  expect(spotlight.focused()).toEqual(["a"]);

  const changes = spotlight.focus("b", true, loudness, 0);
  expect(changes).toEqual([{ slot: 0, spotlightId: expect.any(String), focused: "b", unfocused: "a" }]);
  expect(spotlight.isFixed("b")).toBe(true);
  // a speaks: b is fixed, so nothing moves, however long.
  const senders = [{ id: "a", activity: speaking() }, { id: "b", activity: silent() }];
  expect(spotlight.evaluate(senders, 60_000)).toEqual([]);
  expect(spotlight.focused()).toEqual(["b"]);
  // Every slot fixed: no room for another fixed focus, and the refused one is not left fixed.
  expect(spotlight.focus("a", true, loudness, 60_000)).toBe("SPOTLIGHT-NO-ROOM");
  expect(spotlight.isFixed("a")).toBe(false);
  // Focusing the focused one again changes nothing.
  expect(spotlight.focus("b", true, loudness, 60_000)).toEqual([]);

  expect(spotlight.unfocus("b")).toEqual([{ slot: 0, spotlightId: expect.any(String), unfocused: "b" }]);
  expect(spotlight.isFixed("b")).toBe(false);
  expect(spotlight.evaluate(senders, 60_100)).toEqual([{ slot: 0, spotlightId: expect.any(String), focused: "a", unfocused: undefined }]);
});

it("FocusSpotlight is held a while, then a speaker may take the slot; UnfocusSpotlight keeps join order from refocusing", () => {
  const spotlight = new Spotlight(1);
  const loudness = () => 0;
  const quiet = [{ id: "a", activity: silent() }, { id: "b", activity: silent() }, { id: "c", activity: silent() }];
  spotlight.evaluate(quiet, 0);
  expect(spotlight.focus("b", false, loudness, 0)).toEqual([{ slot: 0, spotlightId: expect.any(String), focused: "b", unfocused: "a" }]);
  const cSpeaks = [{ id: "a", activity: silent() }, { id: "b", activity: silent() }, { id: "c", activity: speaking() }];
  expect(spotlight.evaluate(cSpeaks, FORCED_FOCUS_HOLD_MS - 1)).toEqual([]);
  expect(spotlight.evaluate(cSpeaks, FORCED_FOCUS_HOLD_MS)).toEqual([{ slot: 0, spotlightId: expect.any(String), focused: "c", unfocused: "b" }]);

  // Unfocused a is not picked by join order; b is. Once a speaks, it competes again.
  const two = new Spotlight(1);
  two.evaluate(quiet, 0);
  expect(two.focused()).toEqual(["a"]);
  two.unfocus("a");
  two.evaluate(quiet, 100);
  expect(two.focused()).toEqual(["b"]);
  two.evaluate([{ id: "a", activity: speaking() }, { id: "b", activity: silent() }, { id: "c", activity: silent() }], 200);
  expect(two.focused()).toEqual(["a"]);
  // A fixed sender that leaves frees its slot and its fixed state.
  two.focus("c", true, loudness, 300);
  two.evaluate([{ id: "a", activity: silent() }, { id: "b", activity: silent() }], 400);
  expect(two.isFixed("c")).toBe(false);
  expect(two.focused()).toEqual(["a"]);
});

it("FocusSpotlight with free slots takes one and displaces nobody", () => {
  const spotlight = new Spotlight(2);
  spotlight.evaluate([{ id: "a" }], 0);
  expect(spotlight.focused()).toEqual(["a"]);
  expect(spotlight.focus("b", false, () => 0, 0)).toEqual([{ slot: 1, spotlightId: expect.any(String), focused: "b", unfocused: undefined }]);
  expect(spotlight.focused()).toEqual(["a", "b"]);
});

it("GetStatsConnection timestamps are RFC 3339 with microseconds", () => {
  expect(rfc3339Micros(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)))).toBe("2026-01-02T03:04:05.678000Z");
});
