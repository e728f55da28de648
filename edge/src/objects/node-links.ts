import { MAX_CONTROL_MESSAGE_BYTES, type CommandOutcome, type EdgeMessage, type NodeCommand, type NodeReport } from "../../../shared/control-protocol.js";
import { utf8Length } from "../../../shared/json-limits.js";

// A media node's control WebSockets as its NodeObject holds them (hibernation API): which socket
// is bound to the node (after its hello), liveness, and commands awaiting their `ack`.
//
// A socket's node name is only bound after its `hello`, so it lives in the socket's attachment
// (which survives hibernation) with the name presented on `GET /node` and the link's id. Pending commands live in memory:
// a DO awaiting an ack is not idle, so it does not hibernate while any is pending.

/** One definition (shared/control-protocol.ts); re-exported for this module's importers. */
export type { CommandOutcome };

interface LinkAttachment {
  node_name: string | null;
  accepted_at: number;
  /** The name the node presented on `GET /node` (its hello must say the same). */
  presented_name?: string;
  /** Tells this link from the node's earlier and later ones (ClusterObject ignores a stale link's end). */
  link_id?: string;
}

type Ack = Extract<NodeReport, { type: "ack" }>;

interface PendingCommand {
  node_name: string;
  resolve: (outcome: CommandOutcome) => void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;

export class NodeLinks {
  private nextId = 1;
  private readonly pending = new Map<number, PendingCommand>();
  /** Sockets whose close we saw: during webSocketClose they may still be listed. */
  private readonly closed = new WeakSet<WebSocket>();
  /** Per socket: when its last message was taken (in memory; after a wake-up, pings and the accept time count). */
  private readonly lastMessage = new WeakMap<WebSocket, number>();
  /** Deserialized attachments (read on every message; written only at accept and bind). */
  private readonly attachments = new WeakMap<WebSocket, LinkAttachment>();

  constructor(private readonly ctx: DurableObjectState) {}

  accept(ws: WebSocket, now: number, presentedName: string): void {
    this.ctx.acceptWebSocket(ws);
    const attachment: LinkAttachment = { node_name: null, accepted_at: now, presented_name: presentedName, link_id: crypto.randomUUID() };
    ws.serializeAttachment(attachment);
    this.attachments.set(ws, attachment);
  }

  presentedNameOf(ws: WebSocket): string | undefined {
    return this.attachment(ws).presented_name;
  }

  linkIdOf(ws: WebSocket): string {
    return this.attachment(ws).link_id ?? "";
  }

  bind(ws: WebSocket, nodeName: string): void {
    const attachment: LinkAttachment = { ...this.attachment(ws), node_name: nodeName };
    ws.serializeAttachment(attachment);
    this.attachments.set(ws, attachment);
  }

  nameOf(ws: WebSocket): string | null {
    return this.attachment(ws).node_name;
  }

  markClosed(ws: WebSocket): void {
    this.closed.add(ws);
  }

  /** Every open socket (bound to a node or still waiting for its hello). */
  openSockets(): WebSocket[] {
    return this.ctx.getWebSockets().filter((ws) => ws.readyState === OPEN && !this.closed.has(ws));
  }

  socketOf(nodeName: string): WebSocket | undefined {
    return this.openSockets().find((ws) => this.nameOf(ws) === nodeName);
  }

  connectedNames(): Set<string> {
    const names = new Set<string>();
    for (const ws of this.openSockets()) {
      const name = this.nameOf(ws);
      if (name) names.add(name);
    }
    return names;
  }

  /** A message from `ws` is being taken: the node is alive even when its pings wait behind a backlog. */
  heard(ws: WebSocket, now: number): void {
    this.lastMessage.set(ws, now);
  }

  /**
   * Last sign of life: the last auto-answered "ping", the last message taken, or the accept time.
   * Messages count because workerd answers a ping only when it reads it: behind seconds of queued
   * reports a live node's pings go unseen, and closing its link then would lose that backlog.
   */
  lastHeard(ws: WebSocket): number {
    const pinged = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
    return Math.max(pinged, this.lastMessage.get(ws) ?? 0, this.attachment(ws).accepted_at);
  }

  send(ws: WebSocket, message: EdgeMessage): boolean {
    return this.sendText(ws, JSON.stringify(message));
  }

  private sendText(ws: WebSocket, text: string): boolean {
    try {
      ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  close(ws: WebSocket, code: number, reason: string): void {
    this.closed.add(ws);
    try {
      ws.close(code, reason);
    } catch {
      // Already closing.
    }
  }

  /** Sends a command and waits for its ack; never rejects, never waits longer than `timeoutMs`. */
  command(nodeName: string, command: NodeCommand, timeoutMs: number): Promise<CommandOutcome> {
    const unreachable: CommandOutcome = { ok: false, error_type: "NODE-UNREACHABLE", error_reason: { node_name: nodeName } };
    const ws = this.socketOf(nodeName);
    if (!ws) return Promise.resolve(unreachable);
    const id = this.nextId++;
    const text = JSON.stringify({ type: "command", id, command } satisfies EdgeMessage);
    // A frame over the link's limit would make the node drop the link (ws closes with 1009):
    // refuse the call instead. The API's own limits keep commands far below this.
    const bytes = utf8Length(text);
    if (bytes > MAX_CONTROL_MESSAGE_BYTES) {
      return Promise.resolve({
        ok: false,
        error_type: "PAYLOAD-TOO-LARGE",
        error_reason: { detail: "the command for the media node exceeds the control link's frame limit", bytes, max_bytes: MAX_CONTROL_MESSAGE_BYTES },
      });
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(unreachable);
      }, timeoutMs);
      this.pending.set(id, { node_name: nodeName, resolve, timer });
      if (!this.sendText(ws, text)) {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(unreachable);
      }
    });
  }

  settle(nodeName: string, ack: Ack): void {
    const pending = this.pending.get(ack.id);
    // An ack from another node with a colliding id (or a late one) is not ours.
    if (!pending || pending.node_name !== nodeName) return;
    this.pending.delete(ack.id);
    clearTimeout(pending.timer);
    const outcome: CommandOutcome = { ok: ack.ok };
    if (ack.result !== undefined) outcome.result = ack.result;
    if (ack.error_type !== undefined) outcome.error_type = ack.error_type;
    if (ack.error_reason !== undefined) outcome.error_reason = ack.error_reason;
    pending.resolve(outcome);
  }

  /** The node's link went away: its pending commands fail now instead of at their timeout. */
  failPending(nodeName: string): void {
    for (const [id, pending] of this.pending) {
      if (pending.node_name !== nodeName) continue;
      this.pending.delete(id);
      clearTimeout(pending.timer);
      pending.resolve({ ok: false, error_type: "NODE-UNREACHABLE", error_reason: { node_name: nodeName } });
    }
  }

  private attachment(ws: WebSocket): LinkAttachment {
    let attachment = this.attachments.get(ws);
    if (!attachment) {
      attachment = (ws.deserializeAttachment() as LinkAttachment | null) ?? { node_name: null, accepted_at: 0 };
      this.attachments.set(ws, attachment);
    }
    return attachment;
  }
}
