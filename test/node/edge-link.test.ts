import { readFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { MediaNode } from "../../media-node/src/media-node.js";
import { EdgePeer } from "../support/edge-peer.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";

// The node's half of the control protocol, driven by a test peer that speaks the edge's half
// (the real edge is exercised in workerd by test/edge and end to end by test/integration).
// Checks that what the node reports and how it obeys commands match shared/control-protocol.ts.

let edge: EdgePeer;
let node: MediaNode;
let url: string;
const crashLogDir = mkdtempSync(path.join(tmpdir(), "crash-"));

async function until(what: string, cond: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  edge = new EdgePeer();
  await new Promise((r) => edge.server.once("listening", r));
  node = new MediaNode({ port: 0, edgeUrl: edge.url, nodeSecret: "s3cret", crashLogDir, defaultRpcMethods: ["2025.2.0/PutSignalingNotifyMetadata"] });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
  await node.control!.link.waitReady(5000);
});

afterAll(async () => {
  await node?.stop();
  edge?.server.close();
});

it("says hello with its identity and a bearer secret, and takes the cluster's epoch", () => {
  const hello = edge.of("hello")[0]!;
  expect(hello.node_name).toBe(`node-${node.port}@127.0.0.1`);
  expect(hello.external_signaling_url).toBe(url);
  expect(hello.auto_join).toBe(true);
  expect(hello.channels).toEqual([]);
  expect(edge.authHeaders[0]).toBe("Bearer s3cret");
  expect(node.control!.epoch).toBe(3);
});

it("reports sessions, connections and stats, and obeys metadata, push and pause commands", async () => {
  const a = new WeriftSoraClient({ url, channelId: "ctl", role: "sendrecv", extra: { signaling_notify_metadata: { n: 1 } } });
  const b = new WeriftSoraClient({ url, channelId: "ctl", role: "recvonly" });
  await a.connect();
  await b.connect();
  expect(edge.of("place").map((p) => p.channel_id)).toEqual(["ctl"]); // asked once, for the new session
  await until("connection reports", () => edge.of("connection.created").length === 2);
  const created = edge.of("connection.created").find((r) => r.connection.connection_id === a.connectionId)!;
  expect(created.connection).toMatchObject({ role: "sendrecv", signaling_notify_metadata: { n: 1 }, simulcast: false });
  expect(edge.of("session.created")[0]!.channel.channel_id).toBe("ctl");

  // Metadata with push: every client gets the push; later notifies carry the new metadata.
  const push = { type: "signaling_notify_metadata_ext", action: "PutMetadata", connection_id: a.connectionId, metadata: { n: 2 } };
  const ack = await edge.command({ name: "set_notify_metadata", channel_id: "ctl", connection_id: a.connectionId, metadata: { n: 2 }, push });
  expect(ack.ok).toBe(true);
  await until("push at b", () => b.messages.some((m) => m.type === "push"));
  expect(b.messages.find((m) => m.type === "push")).toEqual({ type: "push", data: push });
  expect(node.sfu.findConnection("ctl", a.connectionId)!.info().signaling_notify_metadata).toEqual({ n: 2 });

  const missing = await edge.command({ name: "set_notify_metadata", channel_id: "ctl", connection_id: "NOPE", metadata: {} });
  expect(missing).toMatchObject({ ok: false, error_type: "CONNECTION-NOT-FOUND" });
  const noChannel = await edge.command({ name: "set_paused_streams", channel_id: "nope", paused: [] });
  expect(noChannel).toMatchObject({ ok: false, error_type: "CHANNEL-NOT-FOUND" });

  // Pause a's video towards b: b stops getting video but keeps audio; resume brings it back.
  a.startMedia(100, 500);
  await until("video at b", () => b.packetsFrom(a.connectionId, "video") > 20);
  await edge.command({
    name: "set_paused_streams",
    channel_id: "ctl",
    paused: [{ recv_connection_id: b.connectionId, send_connection_id: a.connectionId }],
  });
  await new Promise((r) => setTimeout(r, 200));
  const videoAtPause = b.packetsFrom(a.connectionId, "video");
  const audioAtPause = b.packetsFrom(a.connectionId, "audio");
  await new Promise((r) => setTimeout(r, 500));
  expect(b.packetsFrom(a.connectionId, "video")).toBe(videoAtPause);
  expect(b.packetsFrom(a.connectionId, "audio")).toBeGreaterThan(audioAtPause + 10);
  await edge.command({ name: "set_paused_streams", channel_id: "ctl", paused: [] });
  await until("video resumes", () => b.packetsFrom(a.connectionId, "video") > videoAtPause + 10, 2000);

  // Counters, crash log, unsupported features.
  const counters = await edge.command({ name: "get_counters" });
  expect(counters.result).toMatchObject({ total_ongoing_connections: 2, total_session_created: 1 });
  const crash = await edge.command({ name: "generate_crash_log", info: { why: "test" } });
  const file = (crash.result as { path: string }).path;
  expect(path.dirname(file)).toBe(crashLogDir);
  expect(JSON.parse(await readFile(file, "utf8"))).toMatchObject({ info: { why: "test" }, node_name: node.config.nodeName });
  const forwarding = await edge.command({
    name: "start_forwarding_rtp",
    channel_id: "ctl",
    ip_address: "127.0.0.1",
    audio_port: 5004,
    video_port: 5006,
  });
  expect(forwarding).toMatchObject({ ok: true, result: { sdp: expect.stringContaining("m=audio 5004 RTP/AVP") } });
  expect(await edge.command({ name: "stop_forwarding_rtp", channel_id: "ctl" })).toMatchObject({ ok: true, result: { channel_id: "ctl" } });
  // No audio_streaming_url configured on this node.
  expect(await edge.command({ name: "start_audio_streaming", channel_id: "ctl" })).toMatchObject({ ok: false, error_type: "FEATURE-NOT-AVAILABLE" });

  await a.close();
  await b.close();
  await until("session destroyed report", () => edge.of("session.destroyed").length === 1);
  expect(edge.of("connection.destroyed")).toHaveLength(2);
});

it("sends a connection's RPC to the edge, which holds the state: the change arrives as the edge's command", async () => {
  const client = new WeriftSoraClient({ url, channelId: "rpc", role: "recvonly", dataChannelSignaling: true });
  await client.connect();
  await until("switched", () => client.messages.some((m) => m.type === "switched"));
  await until("connection.created report", () => edge.of("connection.created").some((r) => r.connection.connection_id === client.connectionId));
  let metadataWhenAsked: unknown = "not asked";
  edge.rpcAnswer = async (report) => {
    metadataWhenAsked = node.sfu.findConnection("rpc", client.connectionId)?.signalingNotifyMetadata;
    const call = report.call as { metadata: unknown };
    await edge.command({ name: "set_notify_metadata", channel_id: report.channel_id, connection_id: report.connection_id, metadata: call.metadata });
    return { ok: true, result: call.metadata };
  };
  const rpc = client.dataChannels.get("rpc")!;
  rpc.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "2025.2.0/PutSignalingNotifyMetadata", params: { metadata: { k: "v" } } }));
  const answers = () => client.dataChannelMessages.filter((m) => m.label === "rpc").map((m) => JSON.parse(m.data.toString()));
  await until("answer", () => answers().length === 1);
  expect(answers()[0]).toEqual({ jsonrpc: "2.0", id: 1, result: { k: "v" } });
  expect(edge.of("rpc").at(-1)).toMatchObject({ channel_id: "rpc", connection_id: client.connectionId, call: { method: "PutSignalingNotifyMetadata", metadata: { k: "v" } } });
  expect(metadataWhenAsked).toBeUndefined(); // the node did not apply it on its own
  expect(node.sfu.findConnection("rpc", client.connectionId)?.signalingNotifyMetadata).toEqual({ k: "v" });

  edge.rpcAnswer = async () => ({ ok: false, error_type: "CONNECTION-NOT-FOUND", error_reason: { connection_id: "X" } });
  rpc.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "2025.2.0/PutSignalingNotifyMetadata", params: { metadata: {} } }));
  await until("error answer", () => answers().length === 2);
  expect(answers()[1]).toEqual({
    jsonrpc: "2.0",
    id: 2,
    error: { code: -32602, message: "Invalid params", data: { error_type: "CONNECTION-NOT-FOUND", error_reason: { connection_id: "X" } } },
  });
  await client.close();
});

it("refuses by mode as the edge commands it", async () => {
  await edge.command({ name: "change_mode", mode: "block_new_session" });
  const refused = new WeriftSoraClient({ url, channelId: "blocked", role: "sendrecv" });
  await expect(refused.connect()).rejects.toThrow(/BLOCK-NEW-SESSION/);
  await edge.command({ name: "change_mode", mode: "normal" });
  const admitted = new WeriftSoraClient({ url, channelId: "blocked", role: "sendrecv" });
  await admitted.connect();
  await admitted.close();
});

it("redirects a connect for a channel another node owns", async () => {
  edge.placeAnswer = (channelId) =>
    channelId === "elsewhere" ? { owner: "node-b@127.0.0.1", redirect_url: "ws://127.0.0.1:5999/signaling" } : { owner: "self" };
  const ws = new WebSocket(url);
  await new Promise((r) => ws.once("open", r));
  const messages: unknown[] = [];
  ws.on("message", (d) => messages.push(JSON.parse(d.toString())));
  const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
  ws.send(JSON.stringify({ type: "connect", role: "recvonly", channel_id: "elsewhere", sdp: "v=0" }));
  expect(await closed).toBe(1000);
  expect(messages).toEqual([{ type: "redirect", location: "ws://127.0.0.1:5999/signaling" }]);
  expect(node.sfu.channels.has("elsewhere")).toBe(false);
});

it("re-dials after the edge drops the link and re-sends a full hello", async () => {
  const before = edge.of("hello").length;
  edge.socket!.terminate();
  await until("second hello", () => edge.of("hello").length === before + 1, 5000);
  await node.control!.link.waitReady(2000);
  expect(node.control!.link.ready).toBe(true);
});
