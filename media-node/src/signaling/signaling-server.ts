import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import { processMetrics } from "../metrics/process-json.js";
import { NodeMetrics } from "../metrics/prometheus.js";
import type { Sfu } from "../sfu/sfu.js";
import { MAX_SIGNALING_MESSAGE_BYTES } from "./messages.js";
import { CLOSE, SignalingSession } from "./session.js";

// HTTP listener of a media node: WebSocket signaling on /signaling, a tiny /health, /metrics in
// the Prometheus text format (metrics/prometheus.ts) and the same counters as JSON on
// /metrics.json (metrics/process-json.ts, for the load tool and tests). Reading either changes nothing.
// Messages over 1 MiB are refused by ws itself (close 1009) before any parsing.

export class SignalingServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  readonly sessions = new Set<SignalingSession>();

  constructor(
    private readonly config: NodeConfig,
    private readonly sfu: Sfu,
    private readonly log: Logger,
    private readonly metrics: NodeMetrics = new NodeMetrics({ sfu }),
  ) {
    this.http = createServer((req, res) => this.onHttp(req, res));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_SIGNALING_MESSAGE_BYTES });
    this.http.on("upgrade", (req, socket, head) => {
      const path = (req.url ?? "").split("?")[0];
      if (path === "/relay" && this.sfu.relay) {
        // Another node pulling a channel (cluster relay, relay/node-relay.ts checks its token).
        this.sfu.relay.handleUpgrade(req, socket, head);
        return;
      }
      if (path !== "/signaling") {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
        return;
      }
      // The session corks this socket (the one ws writes to) to coalesce notify bursts.
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onWebSocket(ws, socket));
    });
  }

  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/metrics") {
      this.metrics.text().then(
        (body) => {
          res.writeHead(200, { "content-type": NodeMetrics.contentType });
          res.end(body);
        },
        (err: unknown) => {
          this.log.error({ err }, "metrics scrape failed");
          res.writeHead(503, { "content-type": "application/json" });
          res.end(JSON.stringify({ error_type: "METRICS-UNAVAILABLE" }));
        },
      );
      return;
    }
    if (req.url === "/health") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ node_name: this.config.nodeName, connections: this.sfu.connectionCount(), mode: this.sfu.mode }));
      return;
    }
    if (path === "/metrics.json") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ...processMetrics(), connections: this.sfu.connectionCount(), ...this.sfu.messagingCounters, ...this.relayMetrics() }));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error_type: "NOT-FOUND" }));
  }

  /** This node's cluster relay figures (relay packets apart from the media path's node-wide ones). */
  private relayMetrics(): Record<string, number> {
    const relay = this.sfu.relay;
    if (!relay) return {};
    const packets = relay.packetCounts();
    const open = relay.linkCounts();
    return {
      ...relay.counters,
      relay_packets_sent: packets.sent,
      relay_nack_packets_resent: packets.nackResent,
      relay_packets_received: packets.received,
      relay_links: open.links,
      relay_servings: open.servings,
      relay_legs_sending: open.legsSending,
      relay_legs_paused: open.legsPaused,
    };
  }

  private onWebSocket(ws: WebSocket, socket: Duplex): void {
    const session = new SignalingSession(ws, this.sfu, this.config, this.log, socket);
    this.sessions.add(session);
    ws.on("close", () => {
      // Sessions that continue on DataChannels stay registered until their connection ends.
      if (!session.connection || session.connection.closed) this.sessions.delete(session);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(this.config.port, this.config.host, () => {
        const addr = this.http.address();
        resolve(typeof addr === "object" && addr ? addr.port : this.config.port);
      });
    });
  }

  /** Graceful stop: every client is told (close 1000 "SHUTDOWN"), then the listener closes. */
  async close(): Promise<void> {
    await Promise.all([...this.sessions].map((s) => s.end(CLOSE.normal, "SHUTDOWN", "node shutdown")));
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.sfu.relay?.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
