import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MediaNode } from "../../media-node/src/media-node.js";
import { EdgePeer } from "../support/edge-peer.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { until } from "../support/wait.js";

// The node's side of Sora's connection management APIs (Disconnect*, Push*, GetStatsConnection,
// RequestKeyFrame, spotlight focus) driven through the control protocol, with werift clients:
// what each client sees on the wire, and the event webhook's `disconnect_api_reason`.

let edge: EdgePeer;
let node: MediaNode;
let url: string;
let hooks: Server;
const events: Record<string, unknown>[] = [];


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  hooks = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      events.push(JSON.parse(body));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, "127.0.0.1", r));
  const hookPort = (hooks.address() as { port: number }).port;
  edge = new EdgePeer();
  await new Promise((r) => edge.server.once("listening", r));
  node = new MediaNode({ port: 0, edgeUrl: edge.url, nodeSecret: "s3cret", webhooks: { eventUrl: `http://127.0.0.1:${hookPort}/event` } });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
  await node.control!.link.waitReady(5000);
});

afterAll(async () => {
  await node?.stop();
  edge?.server.close();
  hooks?.close();
});

/** A client that keeps only DataChannel signaling (the WebSocket closed after `switched`). */
async function dataChannelOnly(channelId: string, role: "sendrecv" | "recvonly" = "recvonly"): Promise<WeriftSoraClient> {
  const client = new WeriftSoraClient({ url, channelId, role, dataChannelSignaling: true, ignoreDisconnectWebSocket: true });
  await client.connect();
  await until("switched", () => client.messages.some((m) => m.type === "switched"));
  client.ws.close();
  return client;
}

it("DisconnectConnection: a WebSocket client gets close 1000 DISCONNECTED-API, the others connection.destroyed, the webhook the reason", async () => {
  const channelId = "kick-ws";
  const a = new WeriftSoraClient({ url, channelId, role: "sendrecv" });
  const b = new WeriftSoraClient({ url, channelId, role: "recvonly" });
  await a.connect();
  await b.connect();
  await until("a hears b", () => a.notifies("connection.created").some((n) => n.connection_id === b.connectionId));

  const ack = await edge.command({ name: "disconnect", channel_id: channelId, connection_id: a.connectionId, reason: { why: "kick" } });
  expect(ack).toMatchObject({ ok: true, result: { connection_ids: [a.connectionId] } });
  await until("a closed", () => a.closeInfo !== undefined);
  expect(a.closeInfo).toEqual({ code: 1000, reason: "DISCONNECTED-API" });
  await until("b hears a leave", () => b.notifies("connection.destroyed").some((n) => n.connection_id === a.connectionId));
  expect(b.closeInfo).toBeUndefined();
  await until("destroyed webhook", () => events.some((e) => e.type === "connection.destroyed" && e.connection_id === a.connectionId));
  expect(events.find((e) => e.type === "connection.destroyed" && e.connection_id === a.connectionId)).toMatchObject({
    disconnect_api_reason: { why: "kick" },
  });

  // A connection that leaves on its own carries no disconnect_api_reason.
  await b.close();
  await until("b's destroyed webhook", () => events.some((e) => e.type === "connection.destroyed" && e.connection_id === b.connectionId));
  expect(events.find((e) => e.type === "connection.destroyed" && e.connection_id === b.connectionId)).not.toHaveProperty("disconnect_api_reason");
  await a.close();
});

it("DisconnectConnection: a DataChannel-only client gets the close message on `signaling`, then its DataChannels close", async () => {
  const channelId = "kick-dc";
  const bystander = new WeriftSoraClient({ url, channelId, role: "sendrecv" });
  await bystander.connect();
  const d = await dataChannelOnly(channelId);
  await until("bystander hears d", () => bystander.notifies("connection.created").some((n) => n.connection_id === d.connectionId));
  const closedLabels: string[] = [];
  for (const [label, dc] of d.dataChannels) dc.stateChanged.subscribe((s) => s === "closed" && closedLabels.push(label));

  expect(await edge.command({ name: "disconnect", channel_id: channelId, connection_id: d.connectionId })).toMatchObject({ ok: true });
  await until("close message", () => d.messages.some((m) => m.type === "close"));
  expect(d.messages.find((m) => m.type === "close")).toEqual({ type: "close", code: 1000, reason: "DISCONNECTED-API" });
  await until("its DataChannels close", () => ["signaling", "notify", "push", "stats"].every((l) => closedLabels.includes(l)));
  await until("bystander hears d leave", () => bystander.notifies("connection.destroyed").some((n) => n.connection_id === d.connectionId));
  expect(node.sfu.findConnection(channelId, d.connectionId)).toBeUndefined();
  // No reason given: the webhook has none either.
  await until("d's destroyed webhook", () => events.some((e) => e.type === "connection.destroyed" && e.connection_id === d.connectionId));
  expect(events.find((e) => e.type === "connection.destroyed" && e.connection_id === d.connectionId)).not.toHaveProperty("disconnect_api_reason");
  await d.close();
  await bystander.close();
});

it("Disconnect by client, by role and the whole channel; unknown targets are errors, not crashes", async () => {
  const channelId = "kick-many";
  const alice1 = new WeriftSoraClient({ url, channelId, role: "sendrecv", extra: { client_id: "alice" } });
  const alice2 = new WeriftSoraClient({ url, channelId, role: "recvonly", extra: { client_id: "alice" } });
  const bob = new WeriftSoraClient({ url, channelId, role: "recvonly", extra: { client_id: "bob" } });
  const carol = new WeriftSoraClient({ url, channelId, role: "sendonly", extra: { client_id: "carol" } });
  for (const c of [alice1, alice2, bob, carol]) await c.connect();
  await until("all connected", () => node.sfu.channels.get(channelId)?.counters().channel_connections === 4);

  expect(await edge.command({ name: "disconnect", channel_id: channelId, connection_id: "NOPE" })).toMatchObject({ ok: false, error_type: "CONNECTION-NOT-FOUND" });
  expect(await edge.command({ name: "disconnect", channel_id: "nowhere" })).toMatchObject({ ok: false, error_type: "CHANNEL-NOT-FOUND" });

  const byClient = await edge.command({ name: "disconnect", channel_id: channelId, client_id: "alice" });
  expect((byClient.result as { connection_ids: string[] }).connection_ids.sort()).toEqual([alice1.connectionId, alice2.connectionId].sort());
  await until("alice's two closed", () => alice1.closeInfo !== undefined && alice2.closeInfo !== undefined);
  expect(bob.closeInfo).toBeUndefined();

  const byRole = await edge.command({ name: "disconnect", channel_id: channelId, role: "recvonly" });
  expect(byRole.result).toEqual({ connection_ids: [bob.connectionId] });
  await until("bob closed", () => bob.closeInfo?.reason === "DISCONNECTED-API");
  expect(carol.closeInfo).toBeUndefined();

  expect(await edge.command({ name: "disconnect", channel_id: channelId })).toMatchObject({ ok: true, result: { connection_ids: [carol.connectionId] } });
  await until("carol closed", () => carol.closeInfo?.reason === "DISCONNECTED-API");
  await until("session gone", () => !node.sfu.channels.has(channelId));
  for (const c of [alice1, alice2, bob, carol]) await c.close();
});

it("Push by channel, client, connection and role reaches exactly the matching clients", async () => {
  const channelId = "push-many";
  const s = new WeriftSoraClient({ url, channelId, role: "sendrecv", extra: { client_id: "s" } });
  const r1 = new WeriftSoraClient({ url, channelId, role: "recvonly", extra: { client_id: "viewer" } });
  const r2 = await dataChannelOnly(channelId);
  for (const c of [s, r1]) await c.connect();
  await until("all connected", () => node.sfu.channels.get(channelId)?.counters().channel_connections === 3);
  const pushes = (c: WeriftSoraClient) => c.messages.filter((m) => m.type === "push").map((m) => (m.data as { n: number }).n);

  expect(await edge.command({ name: "push", channel_id: channelId, data: { n: 1 } })).toMatchObject({ ok: true });
  expect(await edge.command({ name: "push", channel_id: channelId, client_id: "viewer", data: { n: 2 } })).toMatchObject({ ok: true, result: { connection_ids: [r1.connectionId] } });
  expect(await edge.command({ name: "push", channel_id: channelId, connection_ids: [s.connectionId], data: { n: 3 } })).toMatchObject({ ok: true });
  expect(await edge.command({ name: "push", channel_id: channelId, role: "recvonly", data: { n: 4 } })).toMatchObject({ ok: true });
  expect(await edge.command({ name: "push", channel_id: "nowhere", data: {} })).toMatchObject({ ok: false, error_type: "CHANNEL-NOT-FOUND" });
  await until("pushes arrive", () => pushes(s).length === 2 && pushes(r1).length === 3 && pushes(r2).length === 2);
  await sleep(200);
  expect(pushes(s)).toEqual([1, 3]);
  expect(pushes(r1)).toEqual([1, 2, 4]);
  expect(pushes(r2)).toEqual([1, 4]); // over the `push` DataChannel: its WebSocket is gone
  for (const c of [s, r1, r2]) await c.close();
});

it("GetStatsConnection counts what the sender sent; RequestKeyFrame sends PLI every second, 5 at most, without a keyframe", async () => {
  const channelId = "stats-kf";
  const sender = new WeriftSoraClient({ url, channelId, role: "sendonly" });
  const viewer = new WeriftSoraClient({ url, channelId, role: "recvonly" });
  await sender.connect();
  await viewer.connect();
  sender.startMedia(50, 500);
  await until("video flows", () => viewer.packetsFrom(sender.connectionId, "video") > 20);

  const stats = await edge.command({ name: "get_connection_stats", channel_id: channelId, connection_id: sender.connectionId });
  expect(stats.ok).toBe(true);
  const result = stats.result as { rtp: { total_received_rtp: number; total_received_rtp_byte_size: number }; timestamp: string };
  expect(result).toMatchObject({ channel_id: channelId, connection_id: sender.connectionId, client_id: sender.connectionId, session_id: expect.any(String) });
  expect(result.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  expect(result.rtp.total_received_rtp).toBeGreaterThan(20);
  expect(result.rtp.total_received_rtp_byte_size).toBeGreaterThan(20 * 80);
  expect(await edge.command({ name: "get_connection_stats", channel_id: channelId, connection_id: "NOPE" })).toMatchObject({ ok: false, error_type: "CONNECTION-NOT-FOUND" });

  // The synthetic payload (0xab…) is never a VP8 keyframe, so the node gives up after 5 PLIs.
  // (werift's client routes PSFB by the PLI's sender SSRC and never shows it on the sender, so
  // the PLIs are counted where the node hands them to its transport; the browser test sees
  // Chrome's pliCount.)
  const pub = node.sfu.findConnection(channelId, sender.connectionId)!.publications.find((p) => p.kind === "video")!;
  const receiver = (pub as unknown as { receiver: { sendRtcpPLI(ssrc: number): Promise<void> } }).receiver;
  const plis: number[] = [];
  const original = receiver.sendRtcpPLI.bind(receiver);
  receiver.sendRtcpPLI = (ssrc: number) => {
    if (ssrc === pub.layers[0]!.ssrc) plis.push(Date.now());
    return original(ssrc);
  };
  expect(await edge.command({ name: "request_key_frame", channel_id: channelId, connection_id: viewer.connectionId })).toMatchObject({ ok: false, error_type: "NOT-A-SENDER" });
  // The viewer's subscription asks for a keyframe every 500 ms until one is forwarded (never, with
  // this payload): let it go so only RequestKeyFrame's PLIs remain.
  await viewer.close();
  await until("the viewer has left", () => node.sfu.findConnection(channelId, viewer.connectionId) === undefined);
  await sleep(500);
  plis.length = 0;
  const asked = Date.now();
  expect(await edge.command({ name: "request_key_frame", channel_id: channelId, connection_id: sender.connectionId })).toMatchObject({ ok: true });
  await until("5 PLIs", () => plis.length >= 5, 8000);
  await sleep(1500);
  expect(plis).toHaveLength(5);
  expect(plis[0]! - asked).toBeLessThan(500);
  for (let i = 1; i < 5; i++) expect(plis[i]! - plis[i - 1]!).toBeGreaterThanOrEqual(900);

  expect(await edge.command({ name: "request_key_frame", channel_id: "nowhere", connection_id: sender.connectionId })).toMatchObject({ ok: false, error_type: "CHANNEL-NOT-FOUND" });
  await sender.close();
}, 20_000);

it("spotlight focus: fixed focus takes the slot and is announced `fixed`, unfocus gives it back, the number changes", async () => {
  const channelId = "spot-api";
  const first = new WeriftSoraClient({ url, channelId, role: "sendonly", extra: { spotlight: true, spotlight_number: 1 } });
  const second = new WeriftSoraClient({ url, channelId, role: "sendonly", extra: { spotlight: true } });
  const viewer = new WeriftSoraClient({ url, channelId, role: "recvonly", extra: { spotlight: true } });
  await first.connect();
  await second.connect();
  await viewer.connect();
  const focusedNow = () => node.sfu.channels.get(channelId)!.spotlightState!.focused();
  await until("first focused by join order", () => focusedNow()[0] === first.connectionId);

  expect(await edge.command({ name: "set_spotlight_focus", channel_id: channelId, connection_id: second.connectionId, focus: "fixed" })).toMatchObject({ ok: true });
  expect(focusedNow()).toEqual([second.connectionId]);
  await until("focused notify", () => viewer.notifies("spotlight.focused").some((n) => n.connection_id === second.connectionId));
  expect(viewer.notifies("spotlight.focused").find((n) => n.connection_id === second.connectionId)).toMatchObject({ fixed: true });
  expect(viewer.notifies("spotlight.unfocused").some((n) => n.connection_id === first.connectionId)).toBe(true);
  // Every slot is fixed: a second fixed focus has no room.
  expect(await edge.command({ name: "set_spotlight_focus", channel_id: channelId, connection_id: first.connectionId, focus: "fixed" })).toMatchObject({
    ok: false,
    error_type: "SPOTLIGHT-NO-ROOM",
  });
  await sleep(700); // speaker rounds do not move a fixed focus
  expect(focusedNow()).toEqual([second.connectionId]);

  expect(await edge.command({ name: "set_spotlight_focus", channel_id: channelId, connection_id: second.connectionId, focus: "unfocus" })).toMatchObject({ ok: true });
  expect(focusedNow()).toEqual([first.connectionId]);
  expect(await edge.command({ name: "change_spotlight_number", channel_id: channelId, spotlight_number: 2 })).toMatchObject({ ok: true });
  expect(node.sfu.channels.get(channelId)!.spotlightState!.number).toBe(2);
  expect(await edge.command({ name: "set_spotlight_focus", channel_id: channelId, connection_id: second.connectionId, focus: "focus" })).toMatchObject({ ok: true });
  expect(focusedNow().sort()).toEqual([first.connectionId, second.connectionId].sort());

  expect(await edge.command({ name: "set_spotlight_focus", channel_id: channelId, connection_id: viewer.connectionId, focus: "fixed" })).toMatchObject({
    ok: false,
    error_type: "NOT-A-SENDER",
  });
  expect(await edge.command({ name: "change_spotlight_number", channel_id: "kick-none", spotlight_number: 2 })).toMatchObject({ ok: false, error_type: "CHANNEL-NOT-FOUND" });
  for (const c of [first, second, viewer]) await c.close();
});
