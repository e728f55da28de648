import { readFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { MAX_CONTROL_MESSAGE_BYTES } from "../../shared/control-protocol.js";
import { MAX_METADATA_BYTES } from "../../shared/json-limits.js";
import { EdgeLink } from "../../media-node/src/control/edge-link.js";
import { rootLogger } from "../../media-node/src/logger.js";
import { MediaNode } from "../../media-node/src/media-node.js";
import { EdgePeer } from "../support/edge-peer.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { until } from "../support/wait.js";

// The node's half of the control protocol, driven by a test peer that speaks the edge's half
// (the real edge is exercised in workerd by test/edge and end to end by test/integration).
// Checks that what the node reports and how it obeys commands match shared/control-protocol.ts.

let edge: EdgePeer;
let node: MediaNode;
let url: string;
const crashLogDir = mkdtempSync(path.join(tmpdir(), "crash-"));


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
  // The edge routes the link to the node's own Durable Object by this name.
  expect(new URL(edge.linkUrls[0]!, "ws://edge").searchParams.get("node_name")).toBe(hello.node_name);
  expect(hello.load).toMatchObject({ connections: 0, max_connections: null });
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

it("pushes the largest allowed metadata (64 KiB) to a WebSocket client and to a DataChannel client (over the WebSocket when the push exceeds its SCTP max-message-size)", async () => {
  const a = new WeriftSoraClient({ url, channelId: "big-push", role: "sendrecv" });
  const c = new WeriftSoraClient({ url, channelId: "big-push", role: "recvonly", dataChannelSignaling: true });
  await a.connect();
  await c.connect();
  await until("c switched to DataChannels", () => c.messages.some((m) => m.type === "switched"));
  const metadata = { x: "a".repeat(MAX_METADATA_BYTES - 8) };
  expect(Buffer.byteLength(JSON.stringify(metadata))).toBe(MAX_METADATA_BYTES);
  const push = { type: "signaling_notify_metadata_ext", action: "PutMetadata", connection_id: a.connectionId, metadata };
  const ack = await edge.command({ name: "set_notify_metadata", channel_id: "big-push", connection_id: a.connectionId, metadata, push });
  expect(ack.ok).toBe(true);
  await until("push at a (WebSocket)", () => a.messages.some((m) => m.type === "push"));
  // werift's SDP offers a max-message-size of 64 KiB; the push is 64 KiB + its envelope.
  await until("push at c", () => c.messages.some((m) => m.type === "push"));
  expect(a.messages.find((m) => m.type === "push")).toEqual({ type: "push", data: push });
  expect(c.messages.find((m) => m.type === "push")).toEqual({ type: "push", data: push });
  await a.close();
  await c.close();
});

it("re-joins with the largest allowed metadata on every connection: the hello snapshot comes in parts under the frame limit", async () => {
  // 17 × 64 KiB of signaling_notify_metadata: more than one frame.
  const clients = Array.from(
    { length: 17 },
    (_, i) => new WeriftSoraClient({ url, channelId: "heavy", role: "recvonly", signalingNotifyMetadata: { i, x: "m".repeat(MAX_METADATA_BYTES - 20) } }),
  );
  for (const client of clients) await client.connect();
  const ids = clients.map((c) => c.connectionId).sort();
  const hellos = edge.of("hello").length;
  const frames = edge.frameBytes.length;
  edge.socket!.terminate();
  await until("re-hello", () => edge.of("hello").length === hellos + 1, 5000);
  await until("last snapshot part", () => edge.of("snapshot").some((s) => s.complete));
  await node.control!.link.waitReady(2000);
  expect(node.control!.link.ready).toBe(true);

  const hello = edge.of("hello").at(-1)!;
  expect(hello.snapshot_complete).toBe(false);
  const parts = [hello.channels, ...edge.of("snapshot").map((s) => s.channels)];
  expect(parts.length).toBeGreaterThan(1);
  const heavy = parts.flat().filter((c) => c.channel_id === "heavy");
  expect(heavy.flatMap((c) => c.connections.map((x) => x.connection_id)).sort()).toEqual(ids);
  for (const piece of heavy) expect([...piece.connection_ids!].sort()).toEqual(ids);
  expect(Math.max(...edge.frameBytes.slice(frames))).toBeLessThanOrEqual(MAX_CONTROL_MESSAGE_BYTES);
  expect(node.control!.link.droppedOversize).toBe(0);
  for (const client of clients) await client.close();
});

it("backs off re-dials while links fail right after the hello, and starts again from the minimum only after a healthy link", async () => {
  const timing = { backoffMinMs: 50, backoffMaxMs: 800, healthyAfterMs: 300 };
  let mode: "refuse" | "welcome" = "refuse";
  const dials: number[] = [];
  let current: WebSocket | undefined;
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  server.on("connection", (ws) => {
    dials.push(performance.now());
    current = ws;
    ws.on("message", (data) => {
      const text = data.toString();
      if (text === "ping" || !text.includes('"hello"')) return;
      // "refuse": what a link whose hello the edge rejects looks like to the node (closed at once).
      if (mode === "refuse") ws.close(4400, "refused");
      else ws.send(JSON.stringify({ type: "welcome", node_name: "backoff", member: true, epoch: 1, mode: "normal" }));
    });
  });
  await new Promise((r) => server.once("listening", r));
  const port = (server.address() as { port: number }).port;
  const link = new EdgeLink(
    `ws://127.0.0.1:${port}/node`,
    undefined,
    {
      hello: () => ({
        node_name: "backoff",
        external_signaling_url: "ws://x/signaling",
        external_api_url: null,
        version: "test",
        license: { license_max_nodes: null, license_max_connections: null, license_serial_code: null, license_type: null },
        auto_join: false,
        mode: "normal",
        channels: [],
        counters: node.control!.counters(),
      }),
      nodeName: () => "backoff",
      command: async () => ({ ok: true }),
      welcome: () => undefined,
    },
    rootLogger.child({ test: "backoff" }),
    timing,
  );
  try {
    link.start();
    await until("7 dials", () => dials.length >= 7, 5000);
    const gaps = dials.slice(1, 7).map((t, i) => t - dials[i]!);
    // 50, 100, 200, 400, 800, 800 ms (a reset on every open would keep them all at 50 ms).
    const expected = [50, 100, 200, 400, 800, 800];
    gaps.forEach((gap, i) => expect(gap, `gap ${i}: ${gaps.map(Math.round).join(", ")}`).toBeGreaterThanOrEqual(expected[i]! * 0.9));

    // A welcomed link that drops before it has been healthy for 300 ms does not reset the backoff.
    mode = "welcome";
    await until("welcomed", () => link.ready, 3000);
    current!.terminate();
    await until("dropped", () => !link.ready, 1000);
    expect(link.nextBackoffMs).toBe(timing.backoffMaxMs);

    // One that stays up past 300 ms does: the next re-dial comes after the minimum again.
    await until("welcomed again", () => link.ready, 3000);
    await new Promise((r) => setTimeout(r, timing.healthyAfterMs + 100));
    expect(link.nextBackoffMs).toBe(timing.backoffMinMs);
    const before = dials.length;
    const droppedAt = performance.now();
    current!.terminate();
    await until("re-dial", () => dials.length > before, 2000);
    expect(dials.at(-1)! - droppedAt).toBeLessThan(timing.backoffMaxMs);
  } finally {
    await link.stop();
    server.close();
  }
});

it("drops a report too large for the link (a client's 1 MiB stats) instead of losing the link", async () => {
  const a = new WeriftSoraClient({ url, channelId: "huge-stats", role: "sendrecv" });
  await a.connect();
  const droppedBefore = node.control!.link.droppedOversize;
  const frames = edge.frameBytes.length;
  // Under the signaling frame limit, over the control link's once wrapped in a report.
  const filler = "s".repeat(1024 * 1024 - 64);
  a.ws.send(`{"type":"stats","reports":[{"x":"${filler}"}]}`);
  await until("dropped stand-in", () => edge.of("dropped").some((d) => d.report_type === "user_agent_stats"));
  expect(node.control!.link.droppedOversize).toBe(droppedBefore + 1);
  expect(Math.max(...edge.frameBytes.slice(frames))).toBeLessThanOrEqual(MAX_CONTROL_MESSAGE_BYTES);
  expect(node.control!.link.ready).toBe(true);
  // The link keeps carrying reports in order.
  await a.close();
  await until("connection.destroyed after the drop", () => edge.of("connection.destroyed").some((r) => r.connection_id === a.connectionId));
});
