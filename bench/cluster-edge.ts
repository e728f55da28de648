import { randomBytes } from "node:crypto";
import WebSocket, { WebSocketServer } from "ws";
import { MAX_CONTROL_MESSAGE_BYTES, nodeReportSchema, type ChannelNode, type NodeCommand } from "../shared/control-protocol.js";

// A scripted edge for the relay scenarios of bench/run.ts (docs/performance.md, "Cluster relay"):
// the edge's half of the control protocol for several node processes, with the relay rule of
// edge/src/objects/placement.ts at affinity off: every node serves the clients that reach it.
// `place` from a node is answered with the channel's live session (the node joins it); the first
// node to ask claims the channel and the others' `place` waits for its `session.created`; each
// new serving node makes the edge send `set_channel_nodes` to all serving nodes, as the
// ChannelObject does. No wrangler dev: the bench measures the nodes, and this starts in no time.

interface ChannelState {
  sessionId?: string;
  claimedBy?: string;
  readonly nodes: string[];
  readonly token: string;
}

export class ClusterEdge {
  private readonly server: WebSocketServer;
  private readonly links = new Map<string, { ws: WebSocket; signalingUrl: string }>();
  private readonly channels = new Map<string, ChannelState>();
  private nextId = 1;

  constructor() {
    this.server = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: MAX_CONTROL_MESSAGE_BYTES });
    this.server.on("connection", (ws) => {
      let nodeName = "";
      ws.on("message", (data) => {
        const text = data.toString();
        if (text === "ping") return ws.send("pong");
        const parsed = nodeReportSchema.safeParse(JSON.parse(text));
        if (!parsed.success) return;
        const report = parsed.data;
        if (report.type === "hello") {
          nodeName = report.node_name;
          this.links.set(nodeName, { ws, signalingUrl: report.external_signaling_url });
          ws.send(JSON.stringify({ type: "welcome", node_name: nodeName, member: true, epoch: 1, mode: "normal" }));
        } else if (report.type === "place") {
          void this.place(report.channel_id, nodeName).then((answer) => ws.send(JSON.stringify({ type: "response", id: report.id, ...answer })));
        } else if (report.type === "session.created") {
          this.served(report.channel.channel_id, report.channel.session_id, nodeName);
        }
      });
    });
  }

  listening(): Promise<void> {
    return new Promise((r) => (this.server.address() ? r() : this.server.once("listening", () => r())));
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as { port: number }).port}/node`;
  }

  /** Nodes with a control link up. */
  get nodeCount(): number {
    return this.links.size;
  }

  close(): void {
    for (const l of this.links.values()) l.ws.terminate();
    this.server.close();
  }

  private channel(channelId: string): ChannelState {
    let c = this.channels.get(channelId);
    if (!c) {
      c = { nodes: [], token: randomBytes(24).toString("hex") };
      this.channels.set(channelId, c);
    }
    return c;
  }

  private async place(channelId: string, nodeName: string): Promise<{ owner: string; session_id?: string }> {
    const c = this.channel(channelId);
    if (c.sessionId === undefined && (c.claimedBy === undefined || c.claimedBy === nodeName)) {
      c.claimedBy = nodeName;
      return { owner: nodeName };
    }
    // Claimed by another node: join its session once it exists (the real edge redirects meanwhile).
    for (let i = 0; i < 500 && c.sessionId === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    return c.sessionId === undefined ? { owner: nodeName } : { owner: nodeName, session_id: c.sessionId };
  }

  private served(channelId: string, sessionId: string, nodeName: string): void {
    const c = this.channel(channelId);
    c.sessionId ??= sessionId;
    if (c.nodes.includes(nodeName)) return;
    c.nodes.push(nodeName);
    if (c.nodes.length < 2) return; // a one-node session has nothing to relay
    const nodes: ChannelNode[] = c.nodes.map((n) => ({ node_name: n, signaling_url: this.links.get(n)!.signalingUrl }));
    const command: NodeCommand = { name: "set_channel_nodes", channel_id: channelId, session_id: c.sessionId, relay_token: c.token, nodes };
    for (const n of c.nodes) this.links.get(n)?.ws.send(JSON.stringify({ type: "command", id: this.nextId++, command }));
  }
}
