import { createServer, type Server } from "node:http";
import { createServer as createHttp2Server, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { startEdge, startNode, until, type EdgeProcess, type NodeProcess } from "./processes.js";

// Every call of ../shared/reference/seed-api.md with the body of the seed's httpie example (its
// placeholder ids replaced by live ones), against the edge in workerd and a real media node;
// each answer must have the seed's shape. The node also has a session webhook and an audio
// streaming gateway (both local) for the session webhook's `audio_streaming: true` path.

let edge: EdgeProcess;
let node: NodeProcess;
let sender: WeriftSoraClient;
let receiver: WeriftSoraClient;
const channel_id = "sora";
/** Sessions of this channel are streamed by the session webhook's answer. */
const streamedChannel = "streamed-by-webhook";
let sessionWebhook: Server;
const gateway = createHttp2Server();
const gatewayPosts: { connectionId: string; bytes: number }[] = [];
const gatewayStreams: ServerHttp2Stream[] = [];

async function listen(server: Server | typeof gateway): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  sessionWebhook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { type?: string; channel_id?: string };
      const streamIt = body.type === "session.created" && body.channel_id === streamedChannel;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(streamIt ? { audio_streaming: true } : {}));
    });
  });
  gateway.on("stream", (stream, headers) => {
    gatewayStreams.push(stream);
    const post = { connectionId: String(headers["sora-connection-id"]), bytes: 0 };
    gatewayPosts.push(post);
    stream.on("error", () => undefined);
    stream.on("data", (c: Buffer) => (post.bytes += c.length));
    stream.respond({ ":status": 200 });
  });
  const webhookPort = await listen(sessionWebhook);
  const gatewayPort = await listen(gateway);
  edge = await startEdge();
  node = await startNode(edge, {
    args: ["--session-webhook-url", `http://127.0.0.1:${webhookPort}/session`, "--audio-streaming-url", `http://127.0.0.1:${gatewayPort}/stream`],
  });
  // A simulcast channel (RequestRtpStream needs one); the werift sender publishes plain video.
  sender = new WeriftSoraClient({ url: node.signalingUrl, channelId: channel_id, role: "sendrecv", extra: { simulcast: true } });
  receiver = new WeriftSoraClient({ url: node.signalingUrl, channelId: channel_id, role: "sendrecv", extra: { simulcast: true } });
  await sender.connect();
  await receiver.connect();
  // The edge learns about connections from the node's reports.
  await until("edge knows both connections", async () => {
    const list = await edge.ok("Sora_20201124.ListSignalingNotifyMetadata", { channel_id });
    return Array.isArray(list) && list.length === 2;
  });
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await receiver?.close();
  await node?.stop();
  await edge?.stop();
  for (const stream of gatewayStreams) stream.close();
  await new Promise<void>((resolve) => gateway.close(() => resolve()));
  await new Promise<void>((resolve) => sessionWebhook?.close(() => resolve()) ?? resolve());
}, 60_000);

const keys = (o: object) => Object.keys(o).sort();

it("ListChannels", async () => {
  expect(await edge.ok("Sora_20201013.ListChannels")).toEqual([{ channel_id, multistream: true, spotlight: false }]);
});

it("ListClusterChannels", async () => {
  const [entry] = await edge.ok("Sora_20211215.ListClusterChannels");
  expect(entry.channel_id).toBe(channel_id);
  expect(keys(entry.owners[0])).toEqual(["connected", "epoch", "epoch_latest", "node_name"]);
  expect(entry.owners[0]).toMatchObject({ node_name: node.nodeName, connected: true });
});

it("RequestRtpStream / ResetRtpStream echo their keys", async () => {
  const request = { channel_id, recv_connection_id: receiver.connectionId, send_connection_id: sender.connectionId, rid: "r1" };
  expect(await edge.ok("Sora_20201005.RequestRtpStream", request)).toEqual(request);
  const { rid: _rid, ...reset } = request;
  expect(await edge.ok("Sora_20201005.ResetRtpStream", reset)).toEqual(reset);
  const bad = await edge.api("Sora_20201005.RequestRtpStream", { ...request, rid: "r9" });
  expect(bad.status).toBe(400);
  expect(typeof bad.body.error_type).toBe("string");
});

it("the six signaling notify metadata calls", async () => {
  const connection_id = sender.connectionId;
  expect(await edge.ok("Sora_20201124.PutSignalingNotifyMetadata", { channel_id, connection_id, metadata: { a: 1 } })).toEqual({ a: 1 });
  expect(await edge.ok("Sora_20201124.PutSignalingNotifyMetadataItem", { channel_id, connection_id, key: "b", value: [2] })).toEqual({ a: 1, b: [2] });
  expect(await edge.ok("Sora_20201124.GetSignalingNotifyMetadata", { channel_id, connection_id })).toEqual({ a: 1, b: [2] });
  expect(await edge.ok("Sora_20201124.DeleteSignalingNotifyMetadataItem", { channel_id, connection_id, key: "a" })).toEqual({ b: [2] });
  expect(await edge.ok("Sora_20201124.DeleteSignalingNotifyMetadataItem", { channel_id, connection_id, key: "absent" })).toEqual({ b: [2] });
  const list = await edge.ok("Sora_20201124.ListSignalingNotifyMetadata", { channel_id });
  for (const entry of list) expect(keys(entry)).toEqual(["bundle_id", "client_id", "connection_id", "metadata"]);
  expect(await edge.ok("Sora_20201124.DeleteSignalingNotifyMetadata", { channel_id, connection_id, push: true })).toEqual({ b: [2] });
  await until("delete push", () =>
    receiver.messages.some((m) => m.type === "push" && (m.data as { action?: string }).action === "DeleteMetadata"),
  );
});

it("PauseRtpStream / ResumeRtpStream / ListPauseRtpStreams", async () => {
  const pair = { channel_id, recv_connection_id: receiver.connectionId, send_connection_id: sender.connectionId };
  expect(await edge.ok("Sora_20200401.PauseRtpStream", pair)).toEqual(pair);
  expect(await edge.ok("Sora_20200401.ListPauseRtpStreams", { channel_id })).toEqual([{ ...pair, role: "sendrecv" }]);
  expect(await edge.ok("Sora_20200401.ResumeRtpStream", pair)).toEqual(pair);
  expect(await edge.ok("Sora_20200401.ListPauseRtpStreams", { channel_id })).toEqual([]);
});

it("ChangeMode / GetMode", async () => {
  expect(await edge.ok("Sora_20211215.ChangeMode", { mode: "block_new_connection" })).toEqual({ mode: "block_new_connection" });
  expect(await edge.ok("Sora_20211215.GetMode")).toEqual({ mode: "block_new_connection" });
  const refused = new WeriftSoraClient({ url: node.signalingUrl, channelId: channel_id, role: "recvonly" });
  await expect(refused.connect()).rejects.toThrow(/BLOCK-NEW-CONNECTION/);
  expect(await edge.ok("Sora_20211215.ChangeMode", { mode: "normal" })).toEqual({ mode: "normal" });
});

it("GetStatsReport has every counter of the seed, with live values", async () => {
  const report = await edge.ok("Sora_20171010.GetStatsReport");
  for (const key of [
    "average_duration_sec",
    "average_setup_time_msec",
    "cluster",
    "total_auth_webhook_allowed",
    "total_auth_webhook_denied",
    "total_connection_created",
    "total_connection_destroyed",
    "total_connection_updated",
    "total_duration_sec",
    "total_failed_auth_webhook",
    "total_failed_connections",
    "total_failed_event_webhook",
    "total_failed_session_webhook",
    "total_ongoing_connections",
    "total_received_invalid_turn_tcp_packet",
    "total_session_created",
    "total_session_destroyed",
    "total_successful_auth_webhook",
    "total_successful_connections",
    "total_successful_event_webhook",
    "total_successful_session_webhook",
    "total_turn_tcp_connections",
    "total_turn_udp_connections",
    "version",
  ]) {
    expect(report, key).toHaveProperty(key);
  }
  expect(report.total_ongoing_connections).toBe(2);
  expect(report.total_session_created).toBeGreaterThanOrEqual(1);
  expect(typeof report.cluster).toBe("object");
});

it("user-agent stats from the clients' pongs", async () => {
  const list = await until("stats reported", async () => {
    const l = await edge.ok("Sora_20211215.ListUserAgentStats");
    return l.length >= 2 ? l : false;
  }, 15_000, 500);
  expect(keys(list[0])).toEqual(["channel_id", "connection_id", "timestamp", "user_agent_stats"]);
  expect(await edge.ok("Sora_20211215.ListChannelUserAgentStats", { channel_id })).toHaveLength(2);
  const one = await edge.ok("Sora_20211215.GetUserAgentStats", { channel_id, connection_id: sender.connectionId });
  expect(keys(one)).toEqual(["channel_id", "connection_id", "stats", "timestamp"]);
  expect(one.stats[0]).toMatchObject({ type: "peer-connection" });
});

it("audio streaming result push subscriptions echo their keys", async () => {
  const body = { channel_id, connection_id: receiver.connectionId };
  expect(await edge.ok("Sora_20221221.SubscribeAudioStreamingResultPush", body)).toEqual(body);
  expect(await edge.ok("Sora_20221221.UnsubscribeAudioStreamingResultPush", body)).toEqual(body);
});

it("ChangeUpstreamVideoBitRate echoes its keys", async () => {
  const body = { channel_id, connection_id: sender.connectionId, bit_rate: 500 };
  expect(await edge.ok("Sora_20190327.ChangeUpstreamVideoBitRate", body)).toEqual(body);
});

it("GenerateCrashLog", async () => {
  expect(await edge.ok("Sora_20221221.GenerateCrashLog", { info: { reason: "integration test" } })).toEqual({});
  await until("crash log path logged", () => /crash log written/.test(node.output));
});

it("a session the session webhook streams (audio_streaming: true) is streaming for the API too", async () => {
  const streamed = new WeriftSoraClient({
    url: node.signalingUrl,
    channelId: streamedChannel,
    role: "sendrecv",
    extra: { audio_streaming_language_code: "ja-JP" },
  });
  try {
    await streamed.connect();
    streamed.startMedia(20, 200);
    await until("the gateway receives the sender's audio", () => gatewayPosts.some((p) => p.connectionId === streamed.connectionId && p.bytes > 0));
    // The edge adopts the node's session.updated report: Start is refused, Stop stops it. (Stop is
    // polled: it answers NOT-STARTED until the report has been applied, and 200 only after.)
    await until("StopAudioStreaming accepted", async () => (await edge.api("Sora_20221221.StopAudioStreaming", { channel_id: streamedChannel })).status === 200);
    await until("node stopped streaming", () => /audio streaming stopped/.test(node.output));
    const restart = await edge.ok("Sora_20221221.StartAudioStreaming", { channel_id: streamedChannel });
    expect(restart).toHaveProperty("session_id");
    const again = await edge.api("Sora_20221221.StartAudioStreaming", { channel_id: streamedChannel });
    expect(again.status).toBe(400);
    expect(again.body.error_type).toBe("ALREADY-STARTED");
  } finally {
    await streamed.close();
  }
});
