import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import { createServer as createHttp2Server, type IncomingHttpHeaders as Http2Headers, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NodeControl } from "../../media-node/src/control/node-control.js";
import { MediaNode } from "../../media-node/src/media-node.js";
import type { Channel } from "../../media-node/src/sfu/channel.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { until } from "../support/wait.js";

// Webhooks against a real local HTTP receiver (node:http) with werift clients: the auth
// webhook's body and header, its overrides as seen in offer/notify, every refusal path, and
// session/event webhooks with their types, headers, payloads and counters.

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** What the receiver does with one request: answer (status, raw body) or never answer. */
type Reply = { status?: number; body?: unknown; raw?: string } | "hang";

class Receiver {
  readonly requests: Received[] = [];
  auth: (body: Record<string, unknown>) => Reply = () => ({ body: { allowed: true } });
  event: (body: Record<string, unknown>) => Reply = () => ({ status: 200 });
  private readonly hanging: ServerResponse[] = [];
  private server!: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
        const path = req.url ?? "/";
        this.requests.push({ path, headers: req.headers, body });
        const reply = path === "/auth" ? this.auth(body) : this.event(body);
        if (reply === "hang") return void this.hanging.push(res);
        res.writeHead(reply.status ?? 200, { "content-type": "application/json" });
        res.end(reply.raw ?? (reply.body === undefined ? "" : JSON.stringify(reply.body)));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const addr = this.server.address();
    this.port = typeof addr === "object" && addr ? addr.port : 0;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  of(path: string, type?: string): Received[] {
    return this.requests.filter((r) => r.path === path && (!type || r.body.type === type));
  }

  reset(): void {
    this.requests.length = 0;
    this.auth = () => ({ body: { allowed: true } });
    this.event = () => ({ status: 200 });
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const receiver = new Receiver();
let node: MediaNode;
let url: string;
const clients: WeriftSoraClient[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


function client(channelId: string, extra: Record<string, unknown> = {}, role: "sendrecv" | "recvonly" = "sendrecv"): WeriftSoraClient {
  const c = new WeriftSoraClient({ url, channelId, role, extra });
  clients.push(c);
  return c;
}

/** A connect that must be refused: resolves with the close code/reason the client saw. */
async function refused(channelId: string, extra: Record<string, unknown> = {}): Promise<{ code: number; reason: string }> {
  const c = client(channelId, extra);
  await expect(c.connect()).rejects.toThrow(/closed/);
  return c.closeInfo!;
}

async function noConnectionsLeft(): Promise<void> {
  await until("connections freed", () => node.sfu.connectionCount() === 0 && node.sfu.channels.size === 0);
}

beforeAll(async () => {
  await receiver.start();
  node = new MediaNode({
    port: 0,
    connectionUpdatedIntervalMs: 60_000,
    webhooks: {
      // Credentials in the URL become basic auth (fetch refuses URLs that carry them).
      authUrl: receiver.url("/auth").replace("http://", "http://sora:p%40ss@"),
      sessionUrl: receiver.url("/session"),
      eventUrl: receiver.url("/event"),
      timeoutMs: 400,
      retries: 1,
      connectionUpdatedIntervalMs: 300,
    },
  });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await noConnectionsLeft();
  // Let the leavers' destroyed webhooks land before the next test resets the receiver.
  await sleep(100);
  receiver.reset();
});

afterAll(async () => {
  await node?.stop();
  await receiver.stop();
});

describe("auth webhook", () => {
  it("is asked with Sora's fields and the sora-connection-id header, and its overrides reach offer and notify", async () => {
    receiver.auth = (body) => ({
      body: {
        allowed: true,
        metadata: { role: "host", user: body.client_id },
        event_metadata: { room: 42 },
        authz_metadata: { can: ["speak"] },
        signaling_notify_metadata: { display: "Alice" },
        client_id: "alice",
        bundle_id: "alice-bundle",
        video: false,
        connection_lifetime: 3600,
      },
    });
    const a = client("auth-ok", {
      client_id: "requested-client",
      metadata: { access_token: "tok", nothing: null },
      audio: { codec_type: "OPUS", bit_rate: 32 },
      video: { codec_type: "VP8", bit_rate: 800 },
      simulcast: false,
      sora_client: "Sora JavaScript SDK 2026.1.0 (0123abc)",
      environment: "Mozilla/5.0 test",
      data_channels: [{ label: "#chat", direction: "sendrecv" }],
    });
    await a.connect();

    const [req] = receiver.of("/auth");
    expect(req).toBeDefined();
    expect(req!.headers["content-type"]).toBe("application/json");
    expect(req!.headers.authorization).toBe("Basic " + Buffer.from("sora:p@ss").toString("base64"));
    expect(req!.headers["sora-connection-id"]).toBe(a.connectionId);
    const b = req!.body;
    expect(b.timestamp).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT/));
    expect(b.id).toEqual(expect.stringMatching(/^[0-9A-Z]{26}$/));
    expect(b.id).not.toBe(a.connectionId);
    expect(b.version).toEqual(expect.any(String));
    expect(b.label).toEqual(expect.any(String));
    expect(b.node_name).toBe(node.config.nodeName);
    expect(b.role).toBe("sendrecv");
    expect(b.channel_id).toBe("auth-ok");
    expect(b.client_id).toBe("requested-client");
    expect(b.bundle_id).toBe(a.connectionId);
    expect(b.connection_id).toBe(a.connectionId);
    expect(b.multistream).toBe(true);
    expect(b.simulcast).toBe(false);
    expect(b.spotlight).toBe(false);
    expect(b.audio).toBe(true);
    expect(b.audio_codec_type).toBe("OPUS");
    expect(b.audio_bit_rate).toBe(32);
    expect(b.video).toBe(true);
    expect(b.video_codec_type).toBe("VP8");
    expect(b.video_bit_rate).toBe(800);
    expect(b.data_channel_signaling).toBe(false);
    expect(b.ignore_disconnect_websocket).toBe(false);
    expect(b.data_channels).toEqual([{ label: "#chat", direction: "sendrecv" }]);
    expect(b).toMatchObject({
      channel_connections: 0,
      channel_sendrecv_connections: 0,
      channel_sendonly_connections: 0,
      channel_recvonly_connections: 0,
    });
    expect(b.sora_client).toEqual({
      raw: "Sora JavaScript SDK 2026.1.0 (0123abc)",
      type: "Sora JavaScript SDK",
      version: "2026.1.0",
      commit_short: "0123abc",
      environment: "Mozilla/5.0 test",
      libwebrtc: null,
    });
    // null-valued members of the client's metadata survive.
    expect(b.metadata).toEqual({ access_token: "tok", nothing: null });

    // Overrides: offer fields and the Connection built from them.
    expect(a.offer).toMatchObject({
      connection_id: a.connectionId,
      client_id: "alice",
      bundle_id: "alice-bundle",
      metadata: { role: "host", user: "requested-client" },
      video: false,
      audio: true,
      config: { iceServers: [] },
    });
    expect(a.offer.video_codec_type).toBeUndefined();
    await until("self connection.created", () => a.notifies("connection.created").length > 0);
    expect(a.notifies("connection.created")[0]).toMatchObject({
      connection_id: a.connectionId,
      client_id: "alice",
      authn_metadata: { role: "host", user: "requested-client" },
      authz_metadata: { can: ["speak"] },
      metadata: { display: "Alice" },
    });

    // A second connection is told the first one's authn_metadata in `data`, and counters moved.
    // A third one, answered `signaling_notify: false`, hears no notify at all (the others still do).
    receiver.auth = () => ({ body: { allowed: true } });
    const second = client("auth-ok", {}, "recvonly");
    await second.connect();
    expect(receiver.of("/auth")[1]!.body).toMatchObject({ role: "recvonly", channel_connections: 1, channel_sendrecv_connections: 1 });
    expect(second.offer.metadata).toBeUndefined();
    await until("second's connection.created", () => second.notifies("connection.created").length > 0);
    expect(second.notifies("connection.created")[0]!.data).toEqual([
      expect.objectContaining({
        connection_id: a.connectionId,
        authn_metadata: { role: "host", user: "requested-client" },
        authz_metadata: { can: ["speak"] },
        metadata: { display: "Alice" },
      }),
    ]);

    receiver.auth = () => ({ body: { allowed: true, signaling_notify: false } });
    const quiet = client("auth-ok", {}, "recvonly");
    await quiet.connect();
    await until("the others hear the quiet one", () => second.notifies("connection.created").some((n) => n.connection_id === quiet.connectionId));
    await second.close();
    await until("the first hears the second leave", () => a.notifies("connection.destroyed").some((n) => n.connection_id === second.connectionId));
    await sleep(100);
    expect(quiet.messages.filter((m) => m.type === "notify")).toEqual([]);
  });

  it("passes simulcast_encodings (spotlight_encodings in a spotlight channel) to the offer as they are", async () => {
    const mine = [
      { rid: "r0", active: true, scaleResolutionDownBy: 4, maxBitrate: 150_000 },
      { rid: "r1", active: true, scaleResolutionDownBy: 1, maxBitrate: 900_000, scalabilityMode: "L1T2" },
    ];
    receiver.auth = () => ({ body: { allowed: true, simulcast_encodings: mine } });
    const sim = client("auth-encodings", { simulcast: true });
    await sim.connect();
    expect(sim.offer.encodings).toEqual(mine);

    const spot = [{ rid: "r1", maxBitrate: 500_000 }];
    receiver.auth = () => ({ body: { allowed: true, simulcast_encodings: mine, spotlight_encodings: spot } });
    const inSpotlight = client("auth-encodings-spotlight", { spotlight: true });
    await inSpotlight.connect();
    expect(inSpotlight.offer.encodings).toEqual(spot);

    // Without an answer's encodings the node's own r0/r1/r2 ladder stays.
    receiver.auth = () => ({ body: { allowed: true } });
    const plain = client("auth-encodings-plain", { simulcast: true });
    await plain.connect();
    expect((plain.offer.encodings as { rid: string }[]).map((e) => e.rid)).toEqual(["r0", "r1", "r2"]);

    receiver.auth = () => ({ body: { allowed: true, simulcast_encodings: [{ rid: "r9" }] } });
    expect(await refused("auth-encodings", { simulcast: true })).toEqual({ code: 4503, reason: "AUTH-WEBHOOK-INVALID-RESPONSE" });
  });

  it("takes simulcast_rpc_rids (the rids RPC RequestSimulcastRid may ask); refuses with 4503 a rid that is none of none/r0–r2", async () => {
    receiver.auth = () => ({ body: { allowed: true, simulcast_rpc_rids: ["r0", "none", "r0"] } });
    const bounded = client("auth-rpc-rids");
    await bounded.connect();
    expect(node.sfu.findConnection("auth-rpc-rids", bounded.connectionId)?.simulcastRpcRids).toEqual(["r0", "none"]);
    receiver.auth = () => ({ body: { allowed: true, simulcast_rpc_rids: ["r3"] } });
    expect(await refused("auth-rpc-rids-bad")).toEqual({ code: 4503, reason: "AUTH-WEBHOOK-INVALID-RESPONSE" });
  });

  it("applies the answer's forwarding_filter to what the connection receives", async () => {
    receiver.auth = () => ({ body: { allowed: true } });
    const alice = client("auth-filter", { client_id: "alice" });
    await alice.connect();
    receiver.auth = () => ({
      body: {
        allowed: true,
        forwarding_filter: { action: "block", rules: [[{ field: "kind", operator: "is_in", values: ["video"] }]] },
      },
    });
    const viewer = client("auth-filter", {}, "recvonly");
    await viewer.connect();
    const sections = (viewer.pc.remoteDescription?.sdp ?? "").split(/\r?\nm=/).filter((s) => s.includes(`a=msid:${alice.connectionId}`));
    expect(sections.map((s) => s.split(" ")[0])).toEqual(["audio"]);
  });

  it("refuses with 4403 and the webhook's reason, frees the connection and keeps serving", async () => {
    receiver.auth = () => ({ body: { allowed: false, reason: "TOKEN-EXPIRED" } });
    expect(await refused("auth-deny")).toEqual({ code: 4403, reason: "TOKEN-EXPIRED" });
    await noConnectionsLeft();
    // No session was ever created for a refused first connect.
    expect(receiver.of("/session")).toHaveLength(0);

    receiver.auth = () => ({ body: { allowed: false } });
    expect(await refused("auth-deny")).toEqual({ code: 4403, reason: "AUTH-WEBHOOK-DENIED" });

    receiver.auth = () => ({ body: { allowed: true } });
    const ok = client("auth-deny");
    await ok.connect();
    expect(ok.pc.connectionState).toBe("connected");
  });

  it("refuses with 4503 when the webhook times out, answers non-2xx, invalid JSON or no `allowed`", async () => {
    const before = { ...node.webhooks!.counters };
    receiver.auth = () => "hang";
    const t0 = Date.now();
    expect(await refused("auth-fail")).toEqual({ code: 4503, reason: "AUTH-WEBHOOK-TIMEOUT" });
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(elapsed).toBeLessThan(3_000);

    receiver.auth = () => ({ status: 500, body: { allowed: true } });
    expect(await refused("auth-fail")).toEqual({ code: 4503, reason: "AUTH-WEBHOOK-BAD-STATUS" });
    receiver.auth = () => ({ raw: "{not json" });
    expect(await refused("auth-fail")).toEqual({ code: 4503, reason: "AUTH-WEBHOOK-INVALID-RESPONSE" });
    receiver.auth = () => ({ body: { reason: "no allowed field" } });
    expect(await refused("auth-fail")).toEqual({ code: 4503, reason: "AUTH-WEBHOOK-INVALID-RESPONSE" });
    // An override the connect schema rejects is an invalid answer too.
    receiver.auth = () => ({ body: { allowed: true, data_channels: [{ label: "#x", direction: "sideways" }] } });
    expect(await refused("auth-fail")).toEqual({ code: 4503, reason: "AUTH-WEBHOOK-INVALID-RESPONSE" });
    await noConnectionsLeft();

    const c = node.webhooks!.counters;
    expect(c.total_failed_auth_webhook - before.total_failed_auth_webhook).toBe(5);
    expect(c.total_successful_auth_webhook - before.total_successful_auth_webhook).toBe(0);
    expect(c.total_auth_webhook_allowed - before.total_auth_webhook_allowed).toBe(0);
  });

  it("refuses with 4503 an answer whose metadata breaks the free-JSON limits (it would reach notifies and the edge link)", async () => {
    const deep = "[".repeat(5_000) + "]".repeat(5_000); // as text: JSON.stringify would recurse
    for (const key of ["signaling_notify_metadata", "metadata", "authz_metadata", "event_metadata"]) {
      receiver.auth = () => ({ raw: `{"allowed":true,"${key}":${deep}}` });
      expect(await refused("auth-json"), key).toEqual({ code: 4503, reason: "AUTH-WEBHOOK-INVALID-RESPONSE" });
    }
    receiver.auth = () => ({ body: { allowed: true, signaling_notify_metadata: { x: "a".repeat(64 * 1024) } } });
    expect(await refused("auth-json")).toEqual({ code: 4503, reason: "AUTH-WEBHOOK-INVALID-RESPONSE" });
    await noConnectionsLeft();
  });

  it("closes the connection with 1000 LIFETIME-EXPIRED after connection_lifetime", async () => {
    receiver.auth = () => ({ body: { allowed: true, connection_lifetime: 1 } });
    const a = client("lifetime");
    await a.connect();
    await until("lifetime close", () => a.closeInfo !== undefined, 4_000);
    expect(a.closeInfo).toEqual({ code: 1000, reason: "LIFETIME-EXPIRED" });
    await noConnectionsLeft();
  });
});

describe("session and event webhooks", () => {
  it("fire session.created, connection.created/updated/destroyed and session.destroyed with Sora's headers and payloads", async () => {
    receiver.auth = (body) => ({ body: { allowed: true, event_metadata: { who: body.client_id } } });
    const a = client("events", { client_id: "a" });
    const b = client("events", { client_id: "b" }, "recvonly");
    await a.connect();
    await b.connect();
    await until("two connection.created", () => receiver.of("/event", "connection.created").length === 2);
    await until("connection.updated for both", () => {
      const ids = new Set(receiver.of("/event", "connection.updated").map((r) => r.body.connection_id));
      return ids.has(a.connectionId) && ids.has(b.connectionId);
    });
    await b.close();
    await until("b destroyed", () => receiver.of("/event", "connection.destroyed").length === 1);
    await a.close();
    await until("session.destroyed", () => receiver.of("/session", "session.destroyed").length === 1);

    const created = receiver.of("/session", "session.created");
    expect(created).toHaveLength(1);
    const sessionId = created[0]!.body.session_id as string;
    expect(sessionId).toBe(a.offer.session_id);
    expect(created[0]!.headers["sora-session-webhook-type"]).toBe("session.created");
    expect(created[0]!.headers["sora-session-id"]).toBe(sessionId);
    expect(created[0]!.body).toMatchObject({
      type: "session.created",
      channel_id: "events",
      node_name: node.config.nodeName,
      multistream: true,
      spotlight: false,
      created_time: expect.any(Number),
      created_timestamp: expect.any(String),
    });
    expect(created[0]!.body.id).toEqual(expect.stringMatching(/^[0-9A-Z]{26}$/));

    const aCreated = receiver.of("/event", "connection.created").find((r) => r.body.connection_id === a.connectionId)!;
    expect(aCreated.headers["sora-event-webhook-type"]).toBe("connection.created");
    expect(aCreated.headers["sora-connection-id"]).toBe(a.connectionId);
    expect(aCreated.headers["sora-session-id"]).toBe(sessionId);
    expect(aCreated.headers["sora-channel-id"]).toBe("events");
    expect(aCreated.body).toMatchObject({
      type: "connection.created",
      channel_id: "events",
      session_id: sessionId,
      connection_id: a.connectionId,
      client_id: "a",
      bundle_id: a.connectionId,
      role: "sendrecv",
      multistream: true,
      simulcast: false,
      spotlight: false,
      event_metadata: { who: "a" },
      data: {
        audio: true,
        video: true,
        audio_codec_type: "OPUS",
        video_codec_type: "VP8",
        minutes: 0,
        channel_connections: 1,
        channel_sendrecv_connections: 1,
        channel_sendonly_connections: 0,
        channel_recvonly_connections: 0,
        created_time: expect.any(Number),
        created_timestamp: expect.any(String),
      },
    });
    const bCreated = receiver.of("/event", "connection.created").find((r) => r.body.connection_id === b.connectionId)!;
    expect(bCreated.body).toMatchObject({ role: "recvonly", event_metadata: { who: "b" }, data: { channel_connections: 2, channel_recvonly_connections: 1 } });

    const updated = receiver.of("/event", "connection.updated").find((r) => r.body.connection_id === a.connectionId)!;
    expect(updated.headers["sora-event-webhook-type"]).toBe("connection.updated");
    expect(updated.body).toMatchObject({ session_id: sessionId, event_metadata: { who: "a" }, data: { channel_connections: 2 } });

    const destroyed = receiver.of("/event", "connection.destroyed");
    expect(destroyed.map((r) => r.body.connection_id)).toEqual([b.connectionId, a.connectionId]);
    expect(destroyed[0]!.headers["sora-event-webhook-type"]).toBe("connection.destroyed");
    expect(destroyed[0]!.body).toMatchObject({
      event_metadata: { who: "b" },
      data: { channel_connections: 1, destroyed_time: expect.any(Number), destroyed_timestamp: expect.any(String) },
    });
    // No updates for a connection after its destroyed webhook.
    const afterDestroyed = receiver.requests.indexOf(destroyed[0]!);
    expect(receiver.requests.slice(afterDestroyed + 1).some((r) => r.body.type === "connection.updated" && r.body.connection_id === b.connectionId)).toBe(false);

    const sessionDestroyed = receiver.of("/session", "session.destroyed")[0]!;
    expect(sessionDestroyed.headers["sora-session-webhook-type"]).toBe("session.destroyed");
    expect(sessionDestroyed.body).toMatchObject({
      session_id: sessionId,
      channel_id: "events",
      total_connections: 2,
      max_connections: 2,
      destroyed_time: expect.any(Number),
    });
  });

  it("counts successes and failures (after retries) without slowing signaling, and reports them through NodeControl", async () => {
    const before = { ...node.webhooks!.counters };
    // Event receiver down (500): signaling and media are unaffected, each event is tried twice (retries: 1).
    receiver.event = (body) => (String(body.type).startsWith("connection.") ? { status: 500 } : { status: 204 });
    const a = client("counters");
    await a.connect();
    await a.close();
    await until("session.destroyed", () => receiver.of("/session", "session.destroyed").length === 1);
    await until("retried connection.created", () => receiver.of("/event", "connection.created").length === 2, 5_000);
    await until("failures counted", () => node.webhooks!.counters.total_failed_event_webhook - before.total_failed_event_webhook >= 2, 5_000);

    const c = node.webhooks!.counters;
    expect(c.total_successful_auth_webhook - before.total_successful_auth_webhook).toBe(1);
    expect(c.total_auth_webhook_allowed - before.total_auth_webhook_allowed).toBe(1);
    expect(c.total_successful_session_webhook - before.total_successful_session_webhook).toBe(2);
    expect(c.total_failed_session_webhook - before.total_failed_session_webhook).toBe(0);
    // connection.created and connection.destroyed, each failed after two attempts.
    expect(c.total_failed_event_webhook - before.total_failed_event_webhook).toBe(2);

    const control = new NodeControl(node.sfu, { ...node.config, edgeUrl: "ws://127.0.0.1:9/node" }, node.log, node.egress, { webhooks: c });
    const reported = control.counters();
    expect(reported.total_successful_auth_webhook).toBe(c.total_successful_auth_webhook);
    expect(reported.total_auth_webhook_denied).toBe(c.total_auth_webhook_denied);
    expect(reported.total_failed_auth_webhook).toBe(c.total_failed_auth_webhook);
    expect(reported.total_successful_session_webhook).toBe(c.total_successful_session_webhook);
    expect(reported.total_failed_event_webhook).toBe(c.total_failed_event_webhook);
    expect(reported.total_turn_udp_connections).toBe(0);
  });
});

describe("session webhook answer", () => {
  const posts: { headers: Http2Headers; bytes: number }[] = [];
  const open: ServerHttp2Stream[] = [];
  const gateway = createHttp2Server();
  let streamingNode: MediaNode;
  const updated: Channel[] = [];

  beforeAll(async () => {
    gateway.on("stream", (stream, headers) => {
      open.push(stream);
      const post = { headers, bytes: 0 };
      posts.push(post);
      stream.on("error", () => undefined);
      stream.on("data", (c: Buffer) => (post.bytes += c.length));
      stream.respond({ ":status": 200 });
    });
    await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
    streamingNode = new MediaNode({
      port: 0,
      audioStreamingUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/stream`,
      webhooks: { sessionUrl: receiver.url("/session"), timeoutMs: 1_000, retries: 0, connectionUpdatedIntervalMs: 60_000 },
    });
    await streamingNode.start();
    streamingNode.sfu.listeners.push({ sessionUpdated: (channel) => updated.push(channel) });
  });

  afterAll(async () => {
    for (const s of open) s.close();
    await streamingNode?.stop();
    await new Promise<void>((resolve) => gateway.close(() => resolve()));
  });

  function streamingSender(channelId: string): WeriftSoraClient {
    const c = new WeriftSoraClient({
      url: `ws://127.0.0.1:${streamingNode.port}/signaling`,
      channelId,
      role: "sendrecv",
      extra: { audio_streaming_language_code: "ja-JP" },
    });
    clients.push(c);
    return c;
  }

  it("starts audio streaming when session.created's answer asks for it, and tells the edge (session.updated)", async () => {
    receiver.event = (body) => (body.type === "session.created" ? { body: { audio_streaming: true } } : { status: 200 });
    const sender = streamingSender("streamed");
    await sender.connect();
    sender.startMedia(20, 200);
    await until("the sender's audio reaches the gateway", () => posts.some((p) => p.bytes > 0), 5_000);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.headers).toMatchObject({
      ":method": "POST",
      ":path": "/stream",
      "sora-channel-id": "streamed",
      "sora-connection-id": sender.connectionId,
      "sora-audio-streaming-language-code": "ja-JP",
    });
    const channel = streamingNode.sfu.channels.get("streamed")!;
    expect(updated).toEqual([channel]);
    expect(streamingNode.sfu.snapshot(channel).audio_streaming).toBe(true);
    // Already on: an API start now is refused like a second StartAudioStreaming.
    expect(streamingNode.egress.audioStreaming.start("streamed")).toMatchObject({ ok: false, error_type: "ALREADY-STARTED" });
    await sender.close();
    await until("session gone", () => streamingNode.sfu.channels.size === 0);
  });

  it("sets spotlight_number for a spotlight session from session.created's answer", async () => {
    receiver.event = (body) => (body.type === "session.created" ? { body: { spotlight_number: 2 } } : { status: 200 });
    const senders = [0, 1, 2].map(() => {
      const c = streamingSender("spot");
      (c.options.extra as Record<string, unknown>).spotlight = true; // spotlight_number left to the default (1)
      return c;
    });
    for (const c of senders) await c.connect();
    const channel = streamingNode.sfu.channels.get("spot")!;
    await until("two focused", () => channel.spotlightState?.focused().length === 2, 5_000);
    expect(channel.spotlightState!.number).toBe(2);
    await until("the first sender hears two spotlight.focused", () => senders[0]!.notifies().filter((n) => n.event_type === "spotlight.focused").length >= 2);
    for (const c of senders) await c.close();
    await until("session gone", () => streamingNode.sfu.channels.size === 0);
  });

  it("leaves the session alone when the answer does not ask (or is not an object)", async () => {
    for (const answer of [{ audio_streaming: false }, "yes", { audio_streaming: "true" }, { spotlight_number: 2 }]) {
      receiver.reset();
      posts.length = 0;
      updated.length = 0;
      receiver.event = (body) => (body.type === "session.created" ? { body: answer } : { status: 200 });
      const c = streamingSender("not-streamed");
      await c.connect();
      c.startMedia(20, 200);
      await until("session.created answered", () => receiver.of("/session", "session.created").length === 1);
      await sleep(300);
      expect(updated).toEqual([]);
      expect(posts).toEqual([]);
      expect(streamingNode.egress.audioStreaming.isStreaming("not-streamed")).toBe(false);
      await c.close();
      await until("session gone", () => streamingNode.sfu.channels.size === 0);
    }
  });
});
