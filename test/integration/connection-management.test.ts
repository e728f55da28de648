import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { startEdge, startNode, until, type EdgeProcess, type NodeProcess } from "./processes.js";

// Sora's connection management targets end to end: the Worker in workerd (wrangler dev) → the
// Durable Objects → the node's control link → live werift clients, and the event webhook.

let edge: EdgeProcess;
let node: NodeProcess;
let hooks: Server;
const events: Record<string, any>[] = [];
const clients: WeriftSoraClient[] = [];

beforeAll(async () => {
  hooks = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      events.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => hooks.listen(0, "127.0.0.1", resolve));
  const hookPort = (hooks.address() as AddressInfo).port;
  edge = await startEdge();
  node = await startNode(edge, { args: ["--event-webhook-url", `http://127.0.0.1:${hookPort}/event`] });
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await node?.stop();
  await edge?.stop();
  await new Promise<void>((resolve) => hooks?.close(() => resolve()) ?? resolve());
}, 60_000);

async function join(channelId: string, role: "sendrecv" | "sendonly" | "recvonly", extra: Record<string, unknown> = {}, dataChannelOnly = false) {
  const client = new WeriftSoraClient({ url: node.signalingUrl, channelId, role, extra, ...(dataChannelOnly ? { dataChannelSignaling: true, ignoreDisconnectWebSocket: true } : {}) });
  clients.push(client);
  await client.connect();
  if (dataChannelOnly) {
    await until("switched", () => client.messages.some((m) => m.type === "switched"));
    client.ws.close();
  }
  return client;
}

it("lists, pushes, reads stats, asks for keyframes and disconnects through the real Worker", async () => {
  const channel_id = "managed";
  const sender = await join(channel_id, "sendrecv", { client_id: "presenter" });
  const viewer = await join(channel_id, "recvonly");
  const dcOnly = await join(channel_id, "recvonly", {}, true);
  sender.startMedia(50, 500);
  const listed = await until("edge lists three connections", async () => {
    const list = await edge.ok("Sora_20201013.ListChannelConnections", { channel_id });
    return list.length === 3 ? list : undefined;
  });
  expect(listed.find((c: any) => c.connection_id === sender.connectionId)).toMatchObject({
    channel_id,
    client_id: "presenter",
    role: "sendrecv",
    audio: true,
    video: true,
    multistream: true,
    simulcast: false,
    spotlight: false,
    created_time: expect.any(Number),
  });
  expect((await edge.ok("Sora_20201013.ListConnections")).length).toBe(3);

  // Push: one connection, then by role (the DataChannel-only client gets it on its `push` channel).
  expect(await edge.ok("Sora_20160711.PushConnection", { channel_id, connection_id: viewer.connectionId, data: { n: 1 } })).toEqual({ type: "push", data: { n: 1 } });
  await edge.ok("Sora_20201120.PushChannelByRole", { channel_id, role: "recvonly", data: { n: 2 } });
  await edge.ok("Sora_20160711.PushClient", { channel_id, client_id: "presenter", data: { n: 3 } });
  const pushes = (c: WeriftSoraClient) => c.messages.filter((m) => m.type === "push").map((m) => (m.data as { n: number }).n);
  await until("pushes arrive", () => pushes(viewer).length === 2 && pushes(dcOnly).length === 1 && pushes(sender).length === 1);
  expect(pushes(viewer)).toEqual([1, 2]);
  expect(pushes(dcOnly)).toEqual([2]);
  expect(pushes(sender)).toEqual([3]);

  // Stats and keyframes of the live sender.
  await until("viewer gets video", () => viewer.packetsFrom(sender.connectionId, "video") > 10);
  const stats = await edge.ok("Sora_20170529.GetStatsConnection", { channel_id, connection_id: sender.connectionId });
  expect(stats).toMatchObject({ channel_id, connection_id: sender.connectionId, client_id: "presenter" });
  expect(stats.rtp.total_received_rtp).toBeGreaterThan(10);
  expect(await edge.ok("Sora_20241218.RequestKeyFrame", { channel_id, connection_id: sender.connectionId })).toEqual({ channel_id, connection_id: sender.connectionId });
  const notSender = await edge.api("Sora_20241218.RequestKeyFrame", { channel_id, connection_id: viewer.connectionId });
  expect(notSender).toMatchObject({ status: 400, body: { error_type: "NOT-A-SENDER" } });

  // Unknown channel/connection: Sora's errors, not a 500.
  expect(await edge.api("Sora_20151104.DisconnectConnection", { channel_id, connection_id: "NOPE" })).toMatchObject({
    status: 400,
    body: { error_type: "CONNECTION-NOT-FOUND" },
  });
  expect(await edge.api("Sora_20151104.DisconnectConnection", { channel_id: "nowhere", connection_id: sender.connectionId })).toMatchObject({
    status: 400,
    body: { error_type: "CHANNEL-NOT-FOUND" },
  });
  expect(await edge.api("Sora_20170529.GetStatsConnection", { channel_id, connection_id: "NOPE" })).toMatchObject({ status: 400 });

  // DisconnectConnection of the DataChannel-only client: close message on `signaling`, the reason in the webhook.
  expect(await edge.ok("Sora_20151104.DisconnectConnection", { channel_id, connection_id: dcOnly.connectionId, reason: { by: "moderator" } })).toEqual({
    channel_id,
    connection_id: dcOnly.connectionId,
  });
  await until("close message", () => dcOnly.messages.some((m) => m.type === "close"));
  expect(dcOnly.messages.find((m) => m.type === "close")).toEqual({ type: "close", code: 1000, reason: "DISCONNECTED-API" });
  await until("viewer hears it leave", () => viewer.notifies("connection.destroyed").some((n) => n.connection_id === dcOnly.connectionId));
  await until("webhook", () => events.some((e) => e.type === "connection.destroyed" && e.connection_id === dcOnly.connectionId));
  expect(events.find((e) => e.type === "connection.destroyed" && e.connection_id === dcOnly.connectionId)).toMatchObject({ disconnect_api_reason: { by: "moderator" } });
  await until("edge lists two", async () => (await edge.ok("Sora_20201013.ListChannelConnections", { channel_id })).length === 2);

  // DisconnectChannel: every WebSocket client closes with 1000 DISCONNECTED-API; the session ends.
  expect(await edge.ok("Sora_20151104.DisconnectChannel", { channel_id })).toEqual({ channel_id });
  await until("both closed", () => sender.closeInfo !== undefined && viewer.closeInfo !== undefined);
  expect(sender.closeInfo).toEqual({ code: 1000, reason: "DISCONNECTED-API" });
  expect(viewer.closeInfo).toEqual({ code: 1000, reason: "DISCONNECTED-API" });
  await until("channel gone", async () => (await edge.ok("Sora_20201013.ListChannels")).length === 0);
  expect(await edge.api("Sora_20201013.ListChannelConnections", { channel_id })).toMatchObject({ status: 400, body: { error_type: "CHANNEL-NOT-FOUND" } });
}, 90_000);

it("focuses a spotlight sender (fixed) and changes the focus number through the Worker", async () => {
  const channel_id = "managed-spotlight";
  const first = await join(channel_id, "sendonly", { spotlight: true, spotlight_number: 1 });
  const second = await join(channel_id, "sendonly", { spotlight: true });
  const viewer = await join(channel_id, "recvonly", { spotlight: true });
  await until("edge knows three", async () => (await edge.ok("Sora_20201013.ListChannelConnections", { channel_id })).length === 3);
  expect(await edge.ok("Sora_20200807.FocusSpotlightFixed", { channel_id, connection_id: second.connectionId })).toEqual({ channel_id, connection_id: second.connectionId });
  await until("fixed focus notify", () => viewer.notifies("spotlight.focused").some((n) => n.connection_id === second.connectionId && n.fixed === true));
  const firstFocused = () => viewer.notifies("spotlight.focused").filter((n) => n.connection_id === first.connectionId).length;
  const before = firstFocused();
  expect(await edge.ok("Sora_20200807.ChangeSpotlightNumber", { channel_id, spotlight_number: 2 })).toEqual({ channel_id, spotlight_number: 2 });
  await until("first focused again in the new slot", () => firstFocused() > before);
  expect(await edge.ok("Sora_20200807.UnfocusSpotlight", { channel_id, connection_id: second.connectionId })).toEqual({ channel_id, connection_id: second.connectionId });
  await until("unfocused notify", () => viewer.notifies("spotlight.unfocused").some((n) => n.connection_id === second.connectionId));
  const noSpotlight = await edge.api("Sora_20200807.FocusSpotlight", { channel_id: "managed-plain", connection_id: first.connectionId });
  expect(noSpotlight).toMatchObject({ status: 400, body: { error_type: "CHANNEL-NOT-FOUND" } });
}, 60_000);
