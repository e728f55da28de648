import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { ChannelNode, NodeCommand } from "../../../shared/control-protocol.js";
import type { NodeConfig } from "../config.js";
import type { IceSocketPlan } from "../transport/ice-sockets.js";
import type { Logger } from "../logger.js";
import type { Channel } from "../sfu/channel.js";
import type { Sfu } from "../sfu/sfu.js";
import { ChannelRelay } from "./channel-relay.js";
import { newRelayCounters, type RelayCounters } from "./relay-counters.js";
import { MAX_RELAY_MESSAGE_BYTES, type RelayMessaging } from "./relay-protocol.js";

// The node's cluster relay (docs/relay.md): what set_channel_nodes said per channel (its nodes
// and relay token), a ChannelRelay for each Channel the Sfu creates, the `/relay` WebSocket
// endpoint other nodes pull channels from (a pull needs the channel here and the token the edge
// gave for it; anything else is refused and counted), and the node's relay counters.

type ChannelNodes = Extract<NodeCommand, { name: "set_channel_nodes" }>;

export class NodeRelay {
  readonly counters: RelayCounters = newRelayCounters();
  /** set_channel_nodes per channel (kept until the channel's session ends here). */
  private readonly settings = new Map<string, ChannelNodes>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_RELAY_MESSAGE_BYTES });
  /** RTP counted by relays of channels already closed. */
  private closedCounts = { received: 0, sent: 0, nackResent: 0 };

  constructor(
    private readonly sfu: Sfu,
    private readonly config: NodeConfig,
    private readonly log: Logger,
  ) {
    sfu.relay = this;
    sfu.listeners.push({
      sessionDestroyed: (channel) => {
        if (channel.relay) {
          const c = channel.relay.packetCounts();
          this.closedCounts.received += c.received;
          this.closedCounts.sent += c.sent;
          this.closedCounts.nackResent += c.nackResent;
        }
        this.settings.delete(channel.channelId);
      },
    });
  }

  /** The relay of a Channel the Sfu just created (owned by it); set_channel_nodes already received applies at once. */
  channelRelay(channel: Channel): ChannelRelay {
    const relay = new ChannelRelay(channel, {
      link: {
        config: this.config,
        log: this.log,
        iceSockets: relaySocketPlan(this.sfu.iceSockets),
        nodeName: () => this.config.nodeName,
        onOpened: () => this.counters.relay_links_opened++,
        onBadMessage: () => this.counters.relay_bad_messages++,
      },
      serving: {
        config: this.config,
        log: this.log,
        iceSockets: relaySocketPlan(this.sfu.iceSockets),
        onBadMessage: () => this.counters.relay_bad_messages++,
      },
      deliverMessage: (ch, m) => this.deliverMessage(ch, m),
      onMessageSent: () => this.counters.relay_messages_sent++,
    });
    const settings = this.settings.get(channel.channelId);
    if (settings) relay.apply(settings.relay_token, settings.nodes, this.config.nodeName);
    return relay;
  }

  /** set_channel_nodes (full state): links follow the list; a list without this node closes them. */
  setChannelNodes(command: ChannelNodes): void {
    const self = this.config.nodeName;
    const listed = command.nodes.some((n) => n.node_name === self);
    const nodes: ChannelNode[] = listed ? command.nodes : [];
    if (listed) this.settings.set(command.channel_id, command);
    else this.settings.delete(command.channel_id);
    const relay = this.sfu.channels.get(command.channel_id)?.relay;
    relay?.apply(command.relay_token, nodes, self);
  }

  /** `/relay?channel_id=X&node_name=B` with `Authorization: Bearer <relay_token>`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? "/", "http://relay");
    const channelId = url.searchParams.get("channel_id") ?? "";
    const nodeName = url.searchParams.get("node_name") ?? "";
    const auth = req.headers.authorization ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice("Bearer ".length) : "";
    const settings = this.settings.get(channelId);
    const relay = this.sfu.channels.get(channelId)?.relay;
    const refuse = (status: string, why: string) => {
      this.counters.relay_connects_refused++;
      this.log.warn({ channel_id: channelId.slice(0, 255), node: nodeName.slice(0, 255), why }, "relay connect refused");
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (!settings || !sameToken(settings.relay_token, token)) return refuse("401 Unauthorized", "token");
    if (!relay || !relay.accepts(settings.relay_token)) return refuse("404 Not Found", "channel not here");
    if (nodeName.length === 0 || nodeName.length > 255 || nodeName === this.config.nodeName) return refuse("400 Bad Request", "node_name");
    this.wss.handleUpgrade(req, socket, head, (ws) => relay.serve(ws, nodeName));
  }

  /** A `#` message a client of another node sent: to this node's clients on that label. */
  private deliverMessage(channel: Channel, m: RelayMessaging): void {
    this.counters.relay_messages_received++;
    const plain = Buffer.from(m.data, "base64");
    this.sfu.deliverMessage(channel, undefined, m.sender_connection_id, m.label, plain, plain, { compress: false, header: false });
  }

  /** Relay RTP over all channels: received from other nodes, sent to them, NACK answers among those sent. */
  packetCounts(): { received: number; sent: number; nackResent: number } {
    const c = { ...this.closedCounts };
    for (const channel of this.sfu.channels.values()) {
      const r = channel.relay?.packetCounts();
      if (!r) continue;
      c.received += r.received;
      c.sent += r.sent;
      c.nackResent += r.nackResent;
    }
    return c;
  }

  /** Relay links (pulls this node makes) and servings (pulls of this node) open now. */
  linkCounts(): { links: number; servings: number; legsSending: number; legsPaused: number } {
    const c = { links: 0, servings: 0, legsSending: 0, legsPaused: 0 };
    for (const channel of this.sfu.channels.values()) {
      const relay = channel.relay;
      if (!relay) continue;
      c.links += relay.linkCount;
      c.servings += relay.servingCount;
      const legs = relay.legCounts();
      c.legsSending += legs.sending;
      c.legsPaused += legs.paused;
    }
    return c;
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}

/**
 * Relay PeerConnections get a UDP socket each (the node's port range, else an ephemeral port), not
 * the node's shared ICE port: two nodes that pull each other have two PeerConnections between the
 * same two shared ports, and the mux routes DTLS/SRTP by source address alone, so it cannot tell
 * them apart (the handshakes failed). Same bind and announced addresses as clients' sockets.
 */
export function relaySocketPlan(plan: IceSocketPlan | undefined): IceSocketPlan | undefined {
  if (!plan?.mux) return plan;
  const { mux: _mux, ...perConnection } = plan;
  return perConnection;
}

function sameToken(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
