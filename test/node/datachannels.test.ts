import { afterAll, beforeAll, expect, it } from "vitest";
import { MediaNode } from "../../media-node/src/media-node.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { until } from "../support/wait.js";

// DataChannel signaling with werift clients: `switched`, life after the WebSocket closes,
// notifies over the `notify` channel, periodic connection.updated, and `#` messaging relay
// with the sender_connection_id header.

let node: MediaNode;
let url: string;

beforeAll(async () => {
  node = new MediaNode({ port: 0, connectionUpdatedIntervalMs: 400 });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
});

afterAll(async () => {
  await node?.stop();
});


it("switches to DataChannels, survives the WebSocket closing and relays messaging", async () => {
  const channelId = "dc-signaling";
  const common = { dataChannelSignaling: true, ignoreDisconnectWebSocket: true };
  const a = new WeriftSoraClient({
    url,
    channelId,
    role: "sendrecv",
    ...common,
    extra: { data_channels: [{ label: "#chat", direction: "sendrecv" }] },
  });
  await a.connect();
  expect(a.offer.data_channels).toEqual([
    { label: "signaling", direction: "sendrecv", compress: false },
    { label: "notify", direction: "sendrecv", compress: false },
    { label: "push", direction: "sendrecv", compress: false },
    { label: "stats", direction: "sendrecv", compress: false },
    { label: "#chat", direction: "sendrecv", compress: false },
  ]);
  await until("switched", () => a.messages.some((m) => m.type === "switched"));
  expect(a.messages.find((m) => m.type === "switched")).toEqual({ type: "switched", ignore_disconnect_websocket: true });
  a.ws.close(); // the SDK closes the WebSocket itself after `switched`
  a.startMedia(50, 400);

  const b = new WeriftSoraClient({
    url,
    channelId,
    role: "recvonly",
    ...common,
    extra: { data_channels: [{ label: "#chat", direction: "recvonly", header: [{ type: "sender_connection_id" }] }] },
  });
  await b.connect();
  await until("switched b", () => b.messages.some((m) => m.type === "switched"));
  b.ws.close();

  // a hears about b on the notify DataChannel, after its WebSocket is gone.
  await until("a gets connection.created for b", () => a.notifies("connection.created").some((n) => n.connection_id === b.connectionId));
  await until("b receives a's video", () => b.packetsFrom(a.connectionId, "video") > 20);
  // connection.updated comes every 400 ms from a's connect on: the first may predate b (a loaded
  // machine can take longer than that to connect b), so look for one sent after b joined.
  const updated = await until("connection.updated counting b", () => a.notifies("connection.updated").find((n) => n.channel_connections === 2));
  expect(updated).toMatchObject({ channel_connections: 2, channel_recvonly_connections: 1 });

  await until("#chat open", () => a.dataChannels.get("#chat")?.readyState === "open" && b.dataChannels.get("#chat")?.readyState === "open");
  a.dataChannels.get("#chat")!.send(Buffer.from("hello"));
  await until("b gets the message", () => b.dataChannelMessages.length > 0);
  const got = b.dataChannelMessages[0]!;
  expect(got.label).toBe("#chat");
  expect(got.data.subarray(0, 26).toString()).toBe(a.connectionId);
  expect(got.data.subarray(26).toString()).toBe("hello");

  // Hang-up over DataChannel signaling: the node ends the connection and tells the other one.
  a.dataChannels.get("signaling")!.send(JSON.stringify({ type: "disconnect", reason: "NO-ERROR" }));
  await until("b gets connection.destroyed", () => b.notifies("connection.destroyed").some((n) => n.connection_id === a.connectionId));
  await a.close();
  await b.close();
});

it("closes a session on hostile DataChannel signaling (after the WebSocket is gone) and keeps the others", async () => {
  const channelId = "dc-hostile";
  const common = { dataChannelSignaling: true, ignoreDisconnectWebSocket: true };
  const bystander = new WeriftSoraClient({ url, channelId, role: "sendrecv", ...common });
  await bystander.connect();
  await until("bystander switched", () => bystander.messages.some((m) => m.type === "switched"));
  bystander.ws.close();
  bystander.startMedia(50, 300);

  const inputs: [string, string][] = [
    ["not json {", "INVALID-JSON"],
    [JSON.stringify({ type: "no-such-type" }), "UNKNOWN-MESSAGE-TYPE"],
    [JSON.stringify({ type: "re-answer", sdp: 42 }), "INVALID-MESSAGE"],
  ];
  for (const [input, reason] of inputs) {
    const hostile = new WeriftSoraClient({ url, channelId, role: "sendrecv", ...common });
    await hostile.connect();
    await until("hostile switched", () => hostile.messages.some((m) => m.type === "switched"));
    hostile.ws.close();
    await until("bystander hears the hostile one", () => bystander.notifies("connection.created").some((n) => n.connection_id === hostile.connectionId));
    hostile.dataChannels.get("signaling")!.send(input);
    await until(`close over DataChannel for ${reason}`, () => hostile.messages.some((m) => m.type === "close"));
    expect(hostile.messages.find((m) => m.type === "close")).toEqual({ type: "close", code: 4400, reason });
    await until("bystander hears it leave", () => bystander.notifies("connection.destroyed").some((n) => n.connection_id === hostile.connectionId));
    await hostile.close();
  }
  // The node freed every hostile connection and still serves the bystander and newcomers.
  await until("only the bystander is left", () => node.sfu.connectionCount() === 1);
  const late = new WeriftSoraClient({ url, channelId, role: "recvonly", ...common });
  await late.connect();
  await until("late joiner receives the bystander's video", () => late.packetsFrom(bystander.connectionId, "video") > 10);
  await late.close();
  await bystander.close();
});

it("sends `switched` only after an outstanding re-offer is answered (the SDK raises `datachannel` in its switched handler)", async () => {
  const channelId = `dc-reoffer-${Math.random().toString(36).slice(2)}`;
  // B's first answer waits until A publishes: the node queues a re-offer for A's tracks behind it
  // and sends it as soon as B's answer is applied, before B's DataChannels are open. B takes 1.5 s
  // to answer re-offers, long after its DataChannels open.
  let publish!: () => void;
  const published = new Promise<void>((r) => (publish = r));
  const b = new WeriftSoraClient({
    url,
    channelId,
    role: "recvonly",
    dataChannelSignaling: true,
    extra: { data_channels: [{ label: "#chat", direction: "sendrecv" }] },
    answerAfter: published,
    reAnswerDelayMs: 1_500,
  });
  const bConnected = b.connect();
  await until("b has its offer", () => b.messages.some((m) => m.type === "offer"));
  const a = new WeriftSoraClient({ url, channelId, role: "sendonly" });
  await a.connect();
  publish();
  await bConnected;
  await until("b re-offered", () => b.order.includes("re-offer"), 10_000);
  await until("b switched", () => b.order.includes("switched"), 15_000);
  expect(b.order.indexOf("re-answer sent")).toBeGreaterThan(-1);
  expect(b.order.indexOf("re-answer sent")).toBeLessThan(b.order.indexOf("switched"));
  await a.close();
  await b.close();
}, 30_000);
