import WebSocket from "ws";
import {
  CONTROL_PING_INTERVAL_MS,
  CONTROL_PROTOCOL_VERSION,
  MAX_BATCH_REPORTS,
  MAX_CONTROL_MESSAGE_BYTES,
  edgeMessageSchema,
  type CommandOutcome,
  type ConnectionCall,
  type EdgeMessage,
  type Hello,
  type NodeCommand,
  type NodeReport,
} from "../../../shared/control-protocol.js";
import { utf8Length } from "../../../shared/json-limits.js";
import type { Logger } from "../logger.js";
import { snapshotParts } from "./snapshot-parts.js";

// The node's half of the control channel (shared/control-protocol.ts): one WebSocket to the
// edge, re-dialled with backoff for as long as the node runs. Every (re)connect starts with a
// full `hello` so the edge converges after either side restarts (its channel snapshot in parts
// when it would not fit one frame). Reports sent while the link is down are dropped on purpose:
// the next hello carries the state that matters.
//
// Re-dialling backs off from 250 ms to 5 s and only starts again from 250 ms once a link has
// stayed up for `healthyAfterMs`: a link the edge drops right after the hello (a refused or
// failing hello) is retried every 5 s, not every 250 ms.

/** One definition (shared/control-protocol.ts); re-exported for this module's importers. */
export type { CommandOutcome };

export interface EdgeLinkHandlers {
  /** Builds the hello (identity, mode, live channels, counters) at connect time. */
  hello(): Omit<Hello, "type" | "protocol_version">;
  /** The node's name, presented on `GET /node` (`?node_name=`). */
  nodeName(): string;
  command(command: NodeCommand): Promise<CommandOutcome>;
  welcome(message: Extract<EdgeMessage, { type: "welcome" }>): void;
}

export interface Placement {
  owner: string;
  redirectUrl?: string;
  /** The channel's session is live on another node and this node serves it too: join it (docs/relay.md). */
  sessionId?: string;
  /** No node may take the session (every one at its max_connections): the client is refused with this. */
  refused?: string;
}

export interface EdgeLinkTiming {
  backoffMinMs: number;
  backoffMaxMs: number;
  /** A link welcomed and open this long resets the backoff. */
  healthyAfterMs: number;
}

export const DEFAULT_LINK_TIMING: EdgeLinkTiming = { backoffMinMs: 250, backoffMaxMs: 5_000, healthyAfterMs: 10_000 };
const PLACE_TIMEOUT_MS = 3_000;
/** An RPC waits for the edge's answer, which waits for this node's ack of a command (COMMAND_TIMEOUT_MS). */
const RPC_TIMEOUT_MS = 8_000;
/** Room left in a frame for the hello's own keys (identity, counters) around its snapshot part. */
const HELLO_ENVELOPE_BYTES = 64 * 1024;

type PendingPlace = { resolve: (p: Placement | undefined) => void; timer: NodeJS.Timeout };
type PendingRpc = { resolve: (o: CommandOutcome | undefined) => void; timer: NodeJS.Timeout };

export class EdgeLink {
  private ws?: WebSocket;
  private stopped = false;
  private backoffMs: number;
  private reconnectTimer?: NodeJS.Timeout;
  private pingTimer?: NodeJS.Timeout;
  private healthyTimer?: NodeJS.Timeout;
  /** Reports (and acks) too large for a frame, dropped instead of sent. */
  droppedOversize = 0;
  private nextId = 1;
  /** The link's message number (shared/control-protocol.ts `seq`): the hello is 0, reset on every dial. */
  private nextSeq = 0;
  private readonly pendingPlaces = new Map<number, PendingPlace>();
  private readonly pendingRpcs = new Map<number, PendingRpc>();
  /** True between `welcome` and the link closing. */
  ready = false;
  private readyWaiters: (() => void)[] = [];
  /** The edge's welcome said it takes `batch` frames: messages queued in one tick go in one frame. */
  private batching = false;
  /** Messages (JSON text and its UTF-8 length) waiting for the end of this tick. */
  private queued: { text: string; bytes: number }[] = [];
  private flushScheduled = false;
  /** Set while queued reports wait out REPORT_BATCH_WINDOW_MS. */
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** Frames sent and messages in them (a batch counts once), for tests and the load test. */
  framesSent = 0;
  messagesSent = 0;

  constructor(
    private readonly url: string,
    private readonly secret: string | undefined,
    private readonly handlers: EdgeLinkHandlers,
    private readonly log: Logger,
    private readonly timing: EdgeLinkTiming = DEFAULT_LINK_TIMING,
  ) {
    this.backoffMs = timing.backoffMinMs;
  }

  /** The delay before the next re-dial (grows while links keep failing). */
  get nextBackoffMs(): number {
    return this.backoffMs;
  }

  start(): void {
    this.dial();
  }

  /** Resolves once the edge has welcomed this node, or after `timeoutMs` (false). */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.teardown();
    const ws = this.ws;
    if (!ws) return;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      await new Promise<void>((resolve) => {
        ws.once("close", () => resolve());
        ws.close(1000, "NODE-SHUTDOWN");
        setTimeout(resolve, 1000).unref();
      });
    }
  }

  report(message: Exclude<NodeReport, { type: "hello" | "ack" | "place" | "rpc" }>): void {
    this.send(message);
  }

  /**
   * Asks the edge which node owns `channelId` (claiming it for this node if nobody live does).
   * Undefined when the edge cannot answer in time: the caller serves the channel locally, so a
   * control-plane outage degrades placement instead of refusing clients.
   */
  /** `full`: this node hosts the channel but is at its max_connections (the edge places the client elsewhere). */
  place(channelId: string, full = false): Promise<Placement | undefined> {
    if (!this.ready) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingPlaces.delete(id);
        this.log.warn({ channel_id: channelId }, "edge did not answer placement in time; serving locally");
        resolve(undefined);
      }, PLACE_TIMEOUT_MS);
      this.pendingPlaces.set(id, { resolve, timer });
      this.send({ type: "place", id, channel_id: channelId, ...(full ? { full: true } : {}) });
    });
  }

  /**
   * Has the edge apply a connection's RPC (it holds the channel state). Undefined when the link
   * is down or the edge does not answer in time: the caller answers the client with an error.
   */
  rpc(channelId: string, connectionId: string, call: ConnectionCall): Promise<CommandOutcome | undefined> {
    if (!this.ready) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingRpcs.delete(id);
        resolve(undefined);
      }, RPC_TIMEOUT_MS);
      this.pendingRpcs.set(id, { resolve, timer });
      this.send({ type: "rpc", id, channel_id: channelId, connection_id: connectionId, call });
    });
  }

  private dial(): void {
    if (this.stopped) return;
    const headers: Record<string, string> = {};
    if (this.secret) headers.authorization = `Bearer ${this.secret}`;
    // The edge routes the link to this node's own Durable Object by the name presented here
    // (the hello must carry the same one).
    const url = new URL(this.url);
    url.searchParams.set("node_name", this.handlers.nodeName());
    const ws = new WebSocket(url, { headers, maxPayload: MAX_CONTROL_MESSAGE_BYTES, handshakeTimeout: 10_000 });
    this.ws = ws;
    ws.on("open", () => {
      this.nextSeq = 0;
      this.log.info({ edge_url: this.url }, "edge link open");
      this.sendHello();
      this.pingTimer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send("ping");
      }, CONTROL_PING_INTERVAL_MS);
      this.pingTimer.unref();
    });
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const text = (data as Buffer).toString("utf8");
      if (text === "pong") return;
      void this.onMessage(text);
    });
    ws.on("unexpected-response", (_req, res) => {
      this.log.warn({ status: res.statusCode }, "edge refused the control link");
      ws.terminate();
    });
    ws.on("error", (err) => this.log.debug({ err: err.message }, "edge link error"));
    ws.on("close", (code, reason) => {
      if (this.ws !== ws) return;
      const wasReady = this.ready;
      this.teardown();
      if (this.stopped) return;
      if (wasReady) this.log.warn({ code, reason: reason.toString() }, "edge link closed; reconnecting");
      this.reconnectTimer = setTimeout(() => this.dial(), this.backoffMs);
      this.reconnectTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, this.timing.backoffMaxMs);
    });
  }

  /** The hello, then the rest of its snapshot in `snapshot` reports when it needs several frames. */
  private sendHello(): void {
    const { channels, ...identity } = this.handlers.hello();
    const budget = MAX_CONTROL_MESSAGE_BYTES - HELLO_ENVELOPE_BYTES;
    const parts = snapshotParts(channels, budget);
    const hello: Hello = { type: "hello", protocol_version: CONTROL_PROTOCOL_VERSION, ...identity, channels: parts[0]! };
    if (parts.length > 1) {
      hello.snapshot_complete = false;
      this.log.info({ parts: parts.length }, "hello snapshot sent in parts");
    }
    this.send(hello);
    for (let i = 1; i < parts.length; i++) this.send({ type: "snapshot", channels: parts[i]!, complete: i === parts.length - 1 });
  }

  private teardown(): void {
    this.ready = false;
    this.batching = false;
    this.queued = [];
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flushScheduled = false;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    if (this.healthyTimer) clearTimeout(this.healthyTimer);
    this.healthyTimer = undefined;
    for (const [id, pending] of this.pendingPlaces) {
      clearTimeout(pending.timer);
      pending.resolve(undefined);
      this.pendingPlaces.delete(id);
    }
    for (const [id, pending] of this.pendingRpcs) {
      clearTimeout(pending.timer);
      pending.resolve(undefined);
      this.pendingRpcs.delete(id);
    }
  }

  private async onMessage(text: string): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.log.warn("edge sent invalid JSON");
      return;
    }
    const parsed = edgeMessageSchema.safeParse(raw);
    if (!parsed.success) {
      // A command this node does not know (newer edge) still gets an answer, so the API call ends.
      const id = (raw as { id?: unknown })?.id;
      if ((raw as { type?: unknown })?.type === "command" && typeof id === "number") {
        this.send({ type: "ack", id, ok: false, error_type: "INVALID-COMMAND" });
      }
      this.log.warn({ issues: parsed.error.issues.slice(0, 3) }, "edge sent an unknown message");
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case "welcome":
        if (!this.ready && !this.healthyTimer) {
          const ws = this.ws;
          this.healthyTimer = setTimeout(() => {
            this.healthyTimer = undefined;
            if (this.ws === ws && this.ready) this.backoffMs = this.timing.backoffMinMs;
          }, this.timing.healthyAfterMs);
          this.healthyTimer.unref();
        }
        this.ready = true;
        this.batching = message.batches === true;
        this.handlers.welcome(message);
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      case "refused":
        this.log.error({ reason: message.reason }, "edge refused this node");
        this.ws?.close(1000);
        return;
      case "response": {
        const pending = this.pendingPlaces.get(message.id);
        if (!pending) return;
        this.pendingPlaces.delete(message.id);
        clearTimeout(pending.timer);
        pending.resolve({
          owner: message.owner,
          ...(message.redirect_url ? { redirectUrl: message.redirect_url } : {}),
          ...(message.session_id ? { sessionId: message.session_id } : {}),
          ...(message.refused ? { refused: message.refused } : {}),
        });
        return;
      }
      case "rpc_result": {
        const pending = this.pendingRpcs.get(message.id);
        if (!pending) return;
        this.pendingRpcs.delete(message.id);
        clearTimeout(pending.timer);
        const { type: _type, id: _id, ...outcome } = message;
        pending.resolve(outcome);
        return;
      }
      case "command": {
        let outcome: CommandOutcome;
        try {
          outcome = await this.handlers.command(message.command);
        } catch (err) {
          this.log.error({ err, command: message.command.name }, "command failed");
          outcome = { ok: false, error_type: "COMMAND-FAILED" };
        }
        this.send({ type: "ack", id: message.id, ...outcome });
        return;
      }
    }
  }

  private send(message: NodeReport): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (message.type !== "ack") message.seq = this.nextSeq++;
    let text = JSON.stringify(message);
    if (utf8Length(text) > MAX_CONTROL_MESSAGE_BYTES) {
      // The edge closes a link that sends a frame over the limit: lose this report, not the link.
      // Its number is still sent (a `dropped` stand-in) so the edge does not hold later reports.
      this.droppedOversize++;
      this.log.warn({ type: message.type, chars: text.length }, "control message too large for the link; dropped");
      if (message.type === "ack") text = JSON.stringify({ type: "ack", id: message.id, ok: false, error_type: "RESULT-TOO-LARGE" });
      else text = JSON.stringify({ type: "dropped", seq: message.seq, report_type: message.type } satisfies NodeReport);
    }
    const bytes = utf8Length(text);
    if (!this.batching) {
      this.sendFrame(ws, text, 1);
      return;
    }
    this.queued.push({ text, bytes });
    if (this.flushScheduled) return;
    if (WINDOWED_REPORTS.has(message.type)) {
      // Nobody waits for these: let the next ones of the window share the frame (one message
      // event at the edge per frame, whatever it carries).
      this.flushTimer ??= setTimeout(() => this.flush(ws), REPORT_BATCH_WINDOW_MS);
      return;
    }
    // Something the edge answers, or an ack: what is queued goes at the end of this tick.
    this.flushScheduled = true;
    setImmediate(() => this.flush(ws));
  }

  /** Sends what this tick queued: one frame when alone, else `batch` frames that each stay within the frame limit, in order. */
  private flush(ws: WebSocket): void {
    // A flush scheduled for a link that has since ended leaves the next link's queue alone.
    if (this.ws !== ws) return;
    this.flushScheduled = false;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const items = this.queued;
    this.queued = [];
    if (ws.readyState !== WebSocket.OPEN) return;
    for (const frame of batchFrames(items, MAX_CONTROL_MESSAGE_BYTES, MAX_BATCH_REPORTS)) this.sendFrame(ws, frame.text, frame.count);
  }

  private sendFrame(ws: WebSocket, text: string, count: number): void {
    this.framesSent++;
    this.messagesSent += count;
    ws.send(text);
  }
}

/**
 * How long a connection event, user-agent stats, load or counters report waits for others to
 * share its `batch` frame. At the edge a frame costs one WebSocket message event however many
 * messages it carries, and one event costs about as much as the reports in it; at 100 reports/s
 * a node then sends ≤ 20 frames/s instead of one per report. Anything the node waits an answer
 * for (`place`, `rpc`), an ack, a hello or a session change sends what is queued at the end of
 * the tick, in order.
 */
export const REPORT_BATCH_WINDOW_MS = 50;

const WINDOWED_REPORTS: ReadonlySet<string> = new Set(["connection.created", "connection.destroyed", "user_agent_stats", "load", "counters"]);

const BATCH_HEAD = '{"type":"batch","reports":[';
const BATCH_TAIL = "]}";

/**
 * Packs serialized messages, in order, into as few frames as fit `maxBytes` and `maxCount`: a
 * lone message goes as itself, several as `{"type":"batch","reports":[...]}`. Every message is
 * at most `maxBytes` on its own (send() replaced larger ones), so each fits some frame.
 */
export function batchFrames(items: readonly { text: string; bytes: number }[], maxBytes: number, maxCount: number): { text: string; count: number }[] {
  const frames: { text: string; count: number }[] = [];
  let group: string[] = [];
  let size = BATCH_HEAD.length + BATCH_TAIL.length;
  const close = () => {
    if (group.length === 1) frames.push({ text: group[0]!, count: 1 });
    else if (group.length > 1) frames.push({ text: BATCH_HEAD + group.join(",") + BATCH_TAIL, count: group.length });
    group = [];
    size = BATCH_HEAD.length + BATCH_TAIL.length;
  };
  for (const item of items) {
    const added = item.bytes + (group.length > 0 ? 1 : 0);
    if (group.length > 0 && (size + added > maxBytes || group.length >= maxCount)) close();
    group.push(item.text);
    size += item.bytes + (group.length > 1 ? 1 : 0);
  }
  close();
  return frames;
}
