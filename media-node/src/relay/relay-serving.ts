import type { WebSocket } from "ws";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { Channel } from "../sfu/channel.js";
import type { Connection } from "../sfu/connection.js";
import { Peer } from "../sfu/peer.js";
import { Subscription, type LayerSwitchListener } from "../sfu/subscription.js";
import type { IceSocketPlan } from "../transport/ice-sockets.js";
import { RtpEgress } from "../transport/rtp-egress.js";
import {
  parseRelayMessage,
  RELAY_CLOSE,
  relayClientMessageSchema,
  type RelayMember,
  type RelayMessaging,
  type RelayServerMessage,
  type RelayTrack,
} from "./relay-protocol.js";

// The serving side of one relay link (node A, pulled by node B; docs/relay.md). A offers B one
// werift PeerConnection with a sendonly m-line per track of each of A's OWN connections (a
// relayed copy is never relayed again: remote members are not in Channel.connections), one per
// simulcast layer, each fed by a Subscription whose Forwarder is pinned to that layer: B's NACKs
// are answered from A's caches and B's PLI/FIR reach the publisher exactly as a local
// subscriber's do. A's connections' lifecycle goes to B as member.* messages; publications and
// leaves re-offer (one offer in flight, changes batched into the next).

export interface RelayServingDeps {
  config: NodeConfig;
  log: Logger;
  iceSockets: IceSocketPlan | undefined;
  /** A `#` message a client of B sent, for A's own clients. */
  deliverMessage(message: RelayMessaging): void;
  /** B sent something that is not the relay protocol (counted by the node). */
  onBadMessage(): void;
}

interface Leg {
  sub: Subscription;
  track: Omit<RelayTrack, "mid">;
}

/** What B is told about one of A's connections. */
export function relayMemberOf(conn: Connection): RelayMember {
  return {
    connection_id: conn.id,
    client_id: conn.clientId,
    bundle_id: conn.bundleId,
    role: conn.role,
    audio: conn.audio,
    video: conn.video,
    created_at: conn.createdAt,
    connected_at: conn.connectedAt,
    notify: conn.notifyFields(),
  };
}

export class RelayServing implements LayerSwitchListener {
  private readonly peer: Peer;
  /** Relay legs per A's connection id. */
  private readonly legs = new Map<string, Leg[]>();
  /**
   * B's last `demand` (`connection_id:kind` → the layers wanted, undefined = all): legs of other
   * publications and layers are paused. Undefined: everything flows.
   */
  private demand?: Map<string, readonly number[] | undefined>;
  private negotiating = false;
  private renegotiationPending = false;
  private closed = false;
  /** RTP sent on legs already closed (GET /metrics). */
  private packetsSentClosed = 0;
  private nackResentClosed = 0;

  constructor(
    private readonly channel: Channel,
    private readonly ws: WebSocket,
    /** The pulling node. */
    readonly nodeName: string,
    private readonly deps: RelayServingDeps,
    private readonly onClosed: (serving: RelayServing) => void,
  ) {
    this.peer = new Peer({
      iceAddresses: deps.config.iceAddresses,
      ...(deps.iceSockets ? { iceSockets: deps.iceSockets } : {}),
      iceLite: deps.config.iceLite,
      upstreamAudio: false,
      upstreamVideo: false,
      videoCodec: deps.config.defaultVideoCodec,
      dataChannels: [],
    });
    ws.on("message", (data, isBinary) => this.onMessage(isBinary ? "" : data.toString()));
    ws.on("close", () => this.close());
    ws.on("error", () => this.close());
    const own = [...channel.connections.values()].filter((c) => c.connected);
    this.send({ type: "members", members: own.map(relayMemberOf) });
    for (const conn of own) this.addLegs(conn);
    void this.renegotiate();
  }

  /** RTP sent to B so far (first transmissions and NACK answers), and NACK answers alone. */
  get packetsSent(): number {
    let n = this.packetsSentClosed;
    for (const legs of this.legs.values()) for (const leg of legs) n += leg.sub.packetsSent;
    return n;
  }

  get nackResent(): number {
    let n = this.nackResentClosed;
    for (const legs of this.legs.values()) for (const leg of legs) n += leg.sub.retransmitted;
    return n;
  }

  /** Legs sending now, and paused because B has no subscriber for their publication. */
  legCounts(): { sending: number; paused: number } {
    let sending = 0;
    let paused = 0;
    for (const legs of this.legs.values()) for (const leg of legs) leg.sub.paused ? paused++ : sending++;
    return { sending, paused };
  }

  /** One of A's connections came up: B learns of it and gets its tracks. */
  memberCreated(conn: Connection): void {
    this.send({ type: "member.created", member: relayMemberOf(conn) });
    if (this.addLegs(conn)) void this.renegotiate();
  }

  memberUpdated(conn: Connection): void {
    this.send({ type: "member.updated", member: relayMemberOf(conn) });
  }

  /** Its notify metadata changed on A (B's later notifies carry it; the push reaches B from the edge). */
  memberMetadata(conn: Connection): void {
    this.send({ type: "member.metadata", member: relayMemberOf(conn) });
  }

  /** One of A's connections left: B drops it, its m-lines stop (port 0 in the re-offer). */
  memberLeft(conn: Connection): void {
    this.send({ type: "member.destroyed", connection_id: conn.id });
    if (this.removeLegs(conn.id)) void this.renegotiate();
  }

  private addLegs(conn: Connection): boolean {
    if (this.closed || this.legs.has(conn.id) || conn.publications.length === 0) return false;
    const legs: Leg[] = [];
    const subscriber = `relay:${this.nodeName}`;
    for (const pub of conn.publications) {
      const layers = pub.simulcast ? pub.layers.map((l) => l.index) : [0];
      for (const layer of layers) {
        const transceiver = this.peer.addDownstream(pub.kind, conn.id, pub.codec);
        const leg = { subscriberConnectionId: subscriber, publisherConnectionId: conn.id, kind: pub.kind, relayNode: this.nodeName };
        const egress = this.deps.config.subscriberEgress?.(leg) ?? new RtpEgress();
        const sub = new Subscription(pub, transceiver, subscriber, egress, this, pub.simulcast ? { pinnedLayer: layer } : {});
        if (!this.demanded(conn.id, pub.kind, layer)) sub.setPaused(true);
        pub.addSubscription(sub);
        legs.push({ sub, track: { connection_id: conn.id, kind: pub.kind, codec: pub.codec, simulcast: pub.simulcast, layer } });
      }
    }
    this.legs.set(conn.id, legs);
    return true;
  }

  private removeLegs(connectionId: string): boolean {
    const legs = this.legs.get(connectionId);
    if (!legs) return false;
    this.legs.delete(connectionId);
    for (const leg of legs) this.closeLeg(leg);
    return true;
  }

  private closeLeg(leg: Leg): void {
    this.packetsSentClosed += leg.sub.packetsSent;
    this.nackResentClosed += leg.sub.retransmitted;
    leg.sub.close();
    this.peer.removeDownstream(leg.sub.transceiver);
  }

  onLayerSwitched(): void {
    // A pinned leg never switches; the first layer relayed is no switch.
  }

  /** Offers B the current legs; one offer in flight (changes meanwhile go into the next). */
  private async renegotiate(): Promise<void> {
    if (this.closed) return;
    if (this.negotiating) {
      this.renegotiationPending = true;
      return;
    }
    this.negotiating = true;
    try {
      const sdp = await this.peer.createOffer();
      if (this.closed) return;
      const tracks: RelayTrack[] = [];
      for (const legs of this.legs.values()) {
        for (const leg of legs) {
          const mid = leg.sub.transceiver.mid;
          if (mid != null) tracks.push({ mid, ...leg.track });
        }
      }
      this.send({ type: "offer", sdp, tracks });
    } catch (err) {
      if (this.closed) return;
      this.deps.log.warn({ err, node: this.nodeName }, "relay offer failed");
      this.close();
    }
  }

  private onMessage(raw: string): void {
    if (this.closed) return;
    const message = parseRelayMessage(relayClientMessageSchema, raw);
    if (!message) {
      this.deps.onBadMessage();
      this.deps.log.warn({ node: this.nodeName, channel_id: this.channel.channelId }, "malformed relay message: link closed");
      this.close(RELAY_CLOSE.badMessage, "BAD-MESSAGE");
      return;
    }
    if (message.type === "message") {
      this.deps.deliverMessage(message);
      return;
    }
    if (message.type === "demand") {
      this.demand = new Map(message.tracks.map((t) => [`${t.connection_id}:${t.kind}`, t.layers]));
      for (const legs of this.legs.values()) {
        for (const leg of legs) leg.sub.setPaused(!this.demanded(leg.track.connection_id, leg.track.kind, leg.track.layer));
      }
      return;
    }
    if (!this.negotiating) return; // an answer nobody asked for changes nothing
    void this.peer.setAnswer(message.sdp).then(
      () => {
        if (this.closed) return;
        for (const legs of this.legs.values()) for (const leg of legs) leg.sub.refreshNegotiated();
        this.negotiating = false;
        if (this.renegotiationPending) {
          this.renegotiationPending = false;
          void this.renegotiate();
        }
      },
      (err: unknown) => {
        this.deps.log.warn({ err, node: this.nodeName }, "relay answer refused: link closed");
        this.deps.onBadMessage();
        this.close(RELAY_CLOSE.badMessage, "BAD-ANSWER");
      },
    );
  }

  /** A push for some of the pulling node's clients (it delivers to those of `connectionIds` it hosts). */
  push(connectionIds: readonly string[], data: Record<string, unknown>): void {
    this.send({ type: "push", connection_ids: [...connectionIds], data });
  }

  /** Whether B's demand includes this leg (a publication's layer); everything before B's first demand. */
  private demanded(connectionId: string, kind: string, layer: number): boolean {
    if (!this.demand) return true;
    const key = `${connectionId}:${kind}`;
    if (!this.demand.has(key)) return false;
    const layers = this.demand.get(key);
    return layers === undefined || layers.includes(layer);
  }

  private send(message: RelayServerMessage): void {
    if (!this.closed && this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Idempotent: legs close (they leave their publications), the PeerConnection and the WebSocket close. */
  close(code: number = RELAY_CLOSE.normal, reason = ""): void {
    if (this.closed) return;
    for (const id of [...this.legs.keys()]) this.removeLegs(id);
    this.closed = true;
    void this.peer.close();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
    this.onClosed(this);
  }
}
