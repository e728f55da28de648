import { SELF } from "cloudflare:test";
import {
  CONTROL_PROTOCOL_VERSION,
  edgeMessageSchema,
  type ChannelSnapshot,
  type ConnectionCall,
  type ConnectionInfo,
  type EdgeMessage,
  type NodeCommand,
  type NodeCounters,
  zeroNodeCounters,
  type NodeMode,
  type NodeReport,
} from "../../../shared/control-protocol.js";

// A simulated media node for the edge tests: it opens the real control link (`GET /node` through
// the Worker), speaks shared/control-protocol.ts (hello, reports, pings, acks) and records every
// command the edge sends. Nothing of the edge is faked; the peer plays the node's side only.

export type AckBody = { ok: boolean; result?: unknown; error_type?: string; error_reason?: unknown };
type Welcome = Extract<EdgeMessage, { type: "welcome" }>;

export interface PeerOptions {
  auto_join?: boolean;
  mode?: NodeMode;
  channels?: ChannelSnapshot[];
  counters?: Partial<NodeCounters>;
  /** Sent as `authorization: Bearer` (the test config's NODE_SECRET is "test-node-secret"). */
  secret?: string;
  /** Defaults to SELF.fetch; a test can pass the Worker's fetch with another env. */
  fetcher?: (request: Request) => Promise<Response>;
  pingIntervalMs?: number;
  /** The name presented on GET /node (default: the hello's). */
  presentedName?: string;
  /** false: the hello's snapshot is the first of several parts (`snapshot` reports follow). */
  snapshotComplete?: boolean;
}

export function counters(partial: Partial<NodeCounters> = {}): NodeCounters {
  return { ...zeroNodeCounters(), ...partial };
}

export function connection(id: string, extra: Partial<ConnectionInfo> = {}): ConnectionInfo {
  return { connection_id: id, client_id: `client-${id}`, bundle_id: `bundle-${id}`, role: "sendrecv", simulcast: false, spotlight: false, created_at: 1, ...extra };
}

export function channel(channel_id: string, connections: ConnectionInfo[], extra: Partial<ChannelSnapshot> = {}): ChannelSnapshot {
  return { channel_id, session_id: `session-${channel_id}`, multistream: true, spotlight: false, simulcast: false, created_at: 1, connections, ...extra };
}

export async function until<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 5_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class NodePeer {
  readonly received: EdgeMessage[] = [];
  readonly commands: NodeCommand[] = [];
  /** How the node answers a command; null = never answers (a hung node). */
  answer: (command: NodeCommand) => AckBody | null = defaultAnswer;
  closed: { code: number; reason: string } | null = null;
  private pingTimer?: ReturnType<typeof setInterval>;
  private nextId = 1;
  /** The link's next message number; the hello (sent from the constructor's caller) is 0. */
  nextSeq = 0;

  private constructor(
    readonly name: string,
    readonly ws: WebSocket,
    readonly signalingUrl: string,
  ) {
    ws.addEventListener("message", (event) => {
      if (typeof event.data !== "string" || event.data === "pong") return;
      const message = edgeMessageSchema.parse(JSON.parse(event.data));
      this.received.push(message);
      if (message.type === "command") {
        this.commands.push(message.command);
        const ack = this.answer(message.command);
        if (ack) this.send({ type: "ack", id: message.id, ...ack });
      }
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.stopPinging();
    });
  }

  /** Opens the link and says hello; resolves after the edge's welcome (or refusal). */
  static async connect(name: string, options: PeerOptions = {}): Promise<NodePeer> {
    const headers: Record<string, string> = { upgrade: "websocket" };
    if (options.secret) headers.authorization = `Bearer ${options.secret}`;
    const request = new Request(`http://edge.test/node?node_name=${encodeURIComponent(options.presentedName ?? name)}`, { headers });
    const res = await (options.fetcher ?? ((r: Request) => SELF.fetch(r)))(request);
    if (res.status !== 101 || !res.webSocket) throw new Error(`node link refused: ${res.status} ${await res.text()}`);
    const ws = res.webSocket;
    ws.accept();
    const signalingUrl = `ws://${name.replace(/@.*/, "")}.test/signaling`;
    const peer = new NodePeer(name, ws, signalingUrl);
    peer.send({
      type: "hello",
      protocol_version: CONTROL_PROTOCOL_VERSION,
      node_name: name,
      external_signaling_url: signalingUrl,
      external_api_url: null,
      version: "2025.2.0",
      license: { license_max_nodes: null, license_max_connections: null, license_serial_code: null, license_type: null },
      auto_join: options.auto_join ?? true,
      mode: options.mode ?? "normal",
      channels: options.channels ?? [],
      counters: counters(options.counters),
      ...(options.snapshotComplete === undefined ? {} : { snapshot_complete: options.snapshotComplete }),
    });
    await until(`welcome of ${name}`, () => peer.welcome ?? peer.refused ?? peer.closed);
    peer.pingTimer = setInterval(() => peer.ws.readyState === 1 && peer.ws.send("ping"), options.pingIntervalMs ?? 300);
    return peer;
  }

  get welcome(): Welcome | undefined {
    return this.received.filter((m): m is Welcome => m.type === "welcome").at(-1);
  }

  get refused(): string | undefined {
    const refused = this.received.find((m) => m.type === "refused");
    return refused?.type === "refused" ? refused.reason : undefined;
  }

  /** Sends like a node: numbered (`seq`) unless it is an ack or the test numbered it itself. */
  send(report: NodeReport): void {
    if (report.type !== "ack" && report.seq === undefined) report = { ...report, seq: this.nextSeq++ };
    this.ws.send(JSON.stringify(report));
  }

  /** Numbers a report like `send` would, without sending it (for batches and swapped frames). */
  numbered<R extends NodeReport>(report: R): R {
    return report.type === "ack" || report.seq !== undefined ? report : { ...report, seq: this.nextSeq++ };
  }

  /** Several messages in one `batch` frame (already numbered, or numbered here in order). */
  sendBatch(reports: NodeReport[]): void {
    this.ws.send(JSON.stringify({ type: "batch", reports: reports.map((r) => this.numbered(r)) }));
  }

  /** The node's `place` request (`full`: it hosts the channel but is at its cap); resolves with the edge's response. */
  async place(channelId: string, full = false): Promise<Extract<EdgeMessage, { type: "response" }>> {
    const id = this.nextId++;
    this.send({ type: "place", id, channel_id: channelId, ...(full ? { full: true } : {}) });
    return until(`response to place ${id}`, () =>
      this.received.find((m): m is Extract<EdgeMessage, { type: "response" }> => m.type === "response" && m.id === id),
    );
  }

  /** A connection's DataChannel RPC as the node forwards it; resolves with the edge's `rpc_result`. */
  async rpc(channelId: string, connectionId: string, call: ConnectionCall): Promise<Extract<EdgeMessage, { type: "rpc_result" }>> {
    const id = this.nextId++;
    this.send({ type: "rpc", id, channel_id: channelId, connection_id: connectionId, call });
    return until(`rpc_result ${id}`, () =>
      this.received.find((m): m is Extract<EdgeMessage, { type: "rpc_result" }> => m.type === "rpc_result" && m.id === id),
    );
  }

  commandsNamed<N extends NodeCommand["name"]>(name: N): Extract<NodeCommand, { name: N }>[] {
    return this.commands.filter((c): c is Extract<NodeCommand, { name: N }> => c.name === name);
  }

  /** A crashed process: no more pings, no close frame. */
  stopPinging(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  async close(): Promise<void> {
    this.stopPinging();
    if (this.closed) return;
    try {
      this.ws.close(1000, "NODE-SHUTDOWN");
    } catch {
      // Already closing.
    }
    await until(`close of ${this.name}`, () => this.closed, 2_000).catch(() => undefined);
  }
}

/** A node that implements every command (counters for get_counters, an SDP for forwarding). */
export function defaultAnswer(command: NodeCommand): AckBody {
  switch (command.name) {
    case "get_counters":
      return { ok: true, result: counters() };
    case "start_forwarding_rtp":
      return { ok: true, result: { sdp: `v=0\r\nc=IN IP4 ${command.ip_address}\r\nm=audio ${command.audio_port} RTP/AVP 111\r\n` } };
    case "generate_crash_log":
      return { ok: true, result: { path: "/tmp/crash.json" } };
    case "get_connection_stats":
      return { ok: true, result: connectionStats(command.channel_id, command.connection_id) };
    default:
      return { ok: true, result: {} };
  }
}

/** A GetStatsConnection answer as a node builds it (media-node/src/sfu/connection-stats.ts). */
export function connectionStats(channel_id: string, connection_id: string) {
  return {
    timestamp: "2026-01-02T03:04:05.678000Z",
    channel_id,
    session_id: `session-${channel_id}`,
    client_id: `client-${connection_id}`,
    bundle_id: `bundle-${connection_id}`,
    connection_id,
    rtp: { total_received_rtp: 120, total_received_rtp_byte_size: 96000 },
  };
}
