import WebSocket, { WebSocketServer } from "ws";
import { MAX_CONTROL_MESSAGE_BYTES, nodeReportSchema, type NodeCommand, type NodeReport } from "../../shared/control-protocol.js";

// The edge's half of the control protocol for node-side tests: accepts a media node's link,
// welcomes it, answers `place`, records reports and sends commands awaiting their ack. The real
// edge is exercised in workerd by test/edge and end to end by test/integration.

export class EdgePeer {
  readonly server: WebSocketServer;
  socket?: WebSocket;
  readonly reports: NodeReport[] = [];
  /** Bytes of every frame the node sent (the real edge refuses frames over MAX_CONTROL_MESSAGE_BYTES). */
  readonly frameBytes: number[] = [];
  readonly authHeaders: (string | undefined)[] = [];
  /** The request URL of every link (path and query: the node presents its name there). */
  readonly linkUrls: string[] = [];
  placeAnswer: (channelId: string) => { owner: string; redirect_url?: string; refused?: string; session_id?: string } = () => ({ owner: "self" });
  /** How the edge answers a connection's RPC (the real edge commands the node first, then answers). */
  rpcAnswer: (report: Extract<NodeReport, { type: "rpc" }>) => Promise<Record<string, unknown>> = async () => ({ ok: false, error_type: "INTERNAL-ERROR" });
  private nextId = 1;
  private readonly acks = new Map<number, (ack: Extract<NodeReport, { type: "ack" }>) => void>();

  /** Messages per frame the node sent (a `batch` frame counts its messages). */
  readonly frameMessages: number[] = [];

  /** @param batches whether the welcome says the edge takes `batch` frames (older edges do not). */
  constructor(readonly batches = false) {
    // Like the edge: a frame over the link's limit closes the link (ws answers 1009).
    this.server = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: MAX_CONTROL_MESSAGE_BYTES });
    this.server.on("connection", (ws, req) => {
      this.socket = ws;
      this.authHeaders.push(req.headers.authorization);
      this.linkUrls.push(req.url ?? "");
      ws.on("message", (data) => {
        this.frameBytes.push((data as Buffer).length);
        const text = data.toString();
        if (text === "ping") return ws.send("pong");
        const raw = JSON.parse(text) as { type?: string; reports?: unknown[] };
        const messages = raw.type === "batch" ? raw.reports! : [raw];
        this.frameMessages.push(messages.length);
        for (const m of messages) this.take(ws, nodeReportSchema.parse(m));
      });
    });
  }

  private take(ws: WebSocket, report: NodeReport): void {
    this.reports.push(report);
    if (report.type === "hello") {
      ws.send(JSON.stringify({ type: "welcome", node_name: report.node_name, member: true, epoch: 3, mode: "normal", ...(this.batches ? { batches: true } : {}) }));
    } else if (report.type === "ack") {
      this.acks.get(report.id)?.(report);
    } else if (report.type === "place") {
      ws.send(JSON.stringify({ type: "response", id: report.id, ...this.placeAnswer(report.channel_id) }));
    } else if (report.type === "rpc") {
      void this.rpcAnswer(report).then((answer) => ws.send(JSON.stringify({ type: "rpc_result", id: report.id, ...answer })));
    }
  }

  get url(): string {
    const address = this.server.address() as { port: number };
    return `ws://127.0.0.1:${address.port}/node`;
  }

  command(command: NodeCommand): Promise<Extract<NodeReport, { type: "ack" }>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.acks.set(id, resolve);
      this.socket!.send(JSON.stringify({ type: "command", id, command }));
    });
  }

  of<T extends NodeReport["type"]>(type: T): Extract<NodeReport, { type: T }>[] {
    return this.reports.filter((r): r is Extract<NodeReport, { type: T }> => r.type === type);
  }
}
