import {
  CONTROL_PING_INTERVAL_MS,
  MAX_CONTROL_MESSAGE_BYTES,
  nodeReportSchema,
  reportBatchSchema,
  type Hello,
  type NodeCommand,
  type NodeReport,
} from "../../../shared/control-protocol.js";
import { checkedConnectionReport } from "../../../shared/connection-report-check.js";
import { NodeLinks, type CommandOutcome } from "./node-links.js";
import { ReportSequencer } from "./report-sequencer.js";

// The link host: the part of NodeObject that holds a media node's control WebSocket (hibernation
// API, "ping" auto-answered without waking the object). It parses and validates frames, puts the
// node's messages back in the node's order (report-sequencer.ts), applies them one at a time,
// closes a link silent past the liveness timeout and carries commands to their acks. What a
// report means is not its business: it hands each to `LinkHandlers`.

export type Report = Exclude<NodeReport, { type: "hello" | "ack" }>;
type Sequenced = Exclude<NodeReport, { type: "ack" }>;

export interface LinkHandlers {
  /** The link's hello, in its turn; binds the link (links.bind) or refuses it. */
  hello(ws: WebSocket, hello: Hello): Promise<void>;
  /** Any later report of a bound link, in the node's order (the next waits while a returned promise is pending). */
  report(ws: WebSocket, nodeName: string, report: Report): void | Promise<void>;
  /** The link closed, errored or went silent (called once per link). */
  linkGone(ws: WebSocket, nodeName: string | null): Promise<void>;
}

/** A link's reports waiting for their turn, and the loop applying them while it runs. */
interface LinkQueue {
  items: Sequenced[];
  running: Promise<void> | undefined;
}

export class NodeLinkHost {
  readonly links: NodeLinks;
  /** Per link: puts its messages back in the node's order. */
  private readonly sequencers = new WeakMap<WebSocket, ReportSequencer<Sequenced>>();
  /** Per link: its reports waiting to be applied, one at a time (a connection after its session). */
  private readonly queues = new WeakMap<WebSocket, LinkQueue>();
  private readonly gone = new WeakSet<WebSocket>();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly handlers: LinkHandlers,
    readonly livenessTimeoutMs: number,
  ) {
    this.links = new NodeLinks(ctx);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /** `GET /node` upgrade for the node that presented `nodeName`. */
  async accept(nodeName: string): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    this.links.accept(server, Date.now(), nodeName);
    await this.scheduleLivenessCheck();
    return new Response(null, { status: 101, webSocket: client });
  }

  async message(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.links.heard(ws, Date.now());
    if (typeof message !== "string" || message.length > MAX_CONTROL_MESSAGE_BYTES) {
      return this.refuse(ws, "control messages are JSON text frames of at most 1 MiB");
    }
    let raw: unknown;
    try {
      raw = JSON.parse(message);
    } catch {
      // A linked node's stray frame is logged, not fatal; a link that starts with garbage is refused.
      if (!this.links.nameOf(ws)) return this.refuse(ws, "control messages must be JSON");
      console.warn("ignoring a control message that is not JSON");
      return;
    }
    if ((raw as { type?: unknown } | null)?.type === "batch") {
      const batch = reportBatchSchema.safeParse(raw);
      if (!batch.success) {
        // Its reports' numbers are unknown: the sequencer's gap timeout moves past them.
        if (!this.links.nameOf(ws)) return this.refuse(ws, "the first message must be hello");
        console.warn("ignoring an invalid batch frame", batch.error.issues.slice(0, 3));
        return;
      }
      for (const item of batch.data.reports) this.take(ws, item);
    } else {
      this.take(ws, raw);
    }
    // Keep this event open until what it released has been applied.
    await this.queues.get(ws)?.running;
  }

  /** One message (alone in its frame or one of a batch): validated, then acks settle and the rest go in the node's order. */
  private take(ws: WebSocket, raw: unknown): void {
    // The two reports that come by the thousand are checked without zod when they are exactly valid.
    const checked = checkedConnectionReport(raw);
    const parsed = checked ? ({ success: true, data: checked } as const) : nodeReportSchema.safeParse(raw);
    if (!parsed.success) {
      if (!this.links.nameOf(ws)) return this.refuse(ws, `invalid first message: ${parsed.error.issues[0]?.message ?? "?"}`);
      console.warn("ignoring an invalid control message", parsed.error.issues.slice(0, 3));
      const seq = (raw as { seq?: unknown } | null)?.seq;
      if (Number.isSafeInteger(seq) && (seq as number) >= 0) this.sequencerOf(ws).skip(seq as number);
      return;
    }
    const report = parsed.data;
    if (report.type === "ack") {
      const nodeName = this.links.nameOf(ws);
      if (nodeName) this.links.settle(nodeName, report);
      return;
    }
    if (report.seq === undefined) this.enqueue(ws, report);
    else this.sequencerOf(ws).push(report.seq, report);
  }

  async closed(ws: WebSocket, code: number, reason: string): Promise<void> {
    await this.onLinkGone(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  async errored(ws: WebSocket): Promise<void> {
    await this.onLinkGone(ws);
  }

  /** Liveness: closes links that sent no "ping" for livenessTimeoutMs. True while a link is open. */
  async checkLiveness(): Promise<boolean> {
    const now = Date.now();
    for (const ws of this.links.openSockets()) {
      if (now - this.links.lastHeard(ws) > this.livenessTimeoutMs) {
        this.links.close(ws, 4408, "no ping within the liveness timeout");
        await this.onLinkGone(ws);
      }
    }
    return this.links.openSockets().length > 0;
  }

  async scheduleLivenessCheck(): Promise<void> {
    if (this.links.openSockets().length === 0) return;
    if ((await this.ctx.storage.getAlarm()) !== null) return;
    await this.ctx.storage.setAlarm(Date.now() + this.livenessInterval());
  }

  livenessInterval(): number {
    return Math.min(CONTROL_PING_INTERVAL_MS, Math.max(100, Math.floor(this.livenessTimeoutMs / 3)));
  }

  refuse(ws: WebSocket, reason: string): void {
    this.links.send(ws, { type: "refused", reason });
    this.links.close(ws, 4400, reason.slice(0, 120));
  }

  /** Sends a command to the node and waits for its ack (NODE-UNREACHABLE when not linked or silent). */
  command(nodeName: string, command: NodeCommand, timeoutMs: number): Promise<CommandOutcome> {
    return this.links.command(nodeName, command, timeoutMs);
  }

  private sequencerOf(ws: WebSocket): ReportSequencer<Sequenced> {
    let sequencer = this.sequencers.get(ws);
    if (!sequencer) {
      // A link without a name has not been welcomed: its hello is number 0. A named one was
      // running before this object woke up: its next message sets the count.
      sequencer = new ReportSequencer<Sequenced>((report) => this.enqueue(ws, report), this.links.nameOf(ws) ? undefined : 0);
      this.sequencers.set(ws, sequencer);
    }
    return sequencer;
  }

  /** Applies `report` after the link's earlier ones; the node name is read when its turn comes (after the hello). */
  private enqueue(ws: WebSocket, report: Sequenced): void {
    let queue = this.queues.get(ws);
    if (!queue) {
      queue = { items: [], running: undefined };
      this.queues.set(ws, queue);
    }
    queue.items.push(report);
    queue.running ??= this.apply(ws, queue);
  }

  /**
   * Applies a link's queued reports in order until none is left. A report whose handler is done
   * at once (a connection event handed to its channel's queue) costs no promise of its own; one
   * that returns a promise holds the rest until it settles.
   */
  private async apply(ws: WebSocket, queue: LinkQueue): Promise<void> {
    // Start on a later microtask, as a promise chain would: the frame being read is taken whole first.
    await undefined;
    try {
      let i = 0;
      while (i < queue.items.length) {
        const report = queue.items[i++]!;
        try {
          const pending = this.applyOne(ws, report);
          if (pending) await pending;
        } catch (err) {
          console.error("control report failed", report.type, err);
        }
        // A link that never runs dry must not keep what it already applied.
        if (i >= 256) {
          queue.items.splice(0, i);
          i = 0;
        }
      }
    } finally {
      queue.items = [];
      queue.running = undefined;
    }
  }

  private applyOne(ws: WebSocket, report: Sequenced): void | Promise<void> {
    if (report.type === "hello") return this.handlers.hello(ws, report);
    const nodeName = this.links.nameOf(ws);
    if (!nodeName) return this.refuse(ws, "the first message must be hello");
    return this.handlers.report(ws, nodeName, report);
  }

  private async onLinkGone(ws: WebSocket): Promise<void> {
    this.links.markClosed(ws);
    this.sequencers.get(ws)?.dispose();
    this.sequencers.delete(ws);
    if (this.gone.has(ws)) return;
    this.gone.add(ws);
    await this.handlers.linkGone(ws, this.links.nameOf(ws));
  }
}
