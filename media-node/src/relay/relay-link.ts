import { RTP_EXTENSION_URI, type MediaStreamTrack, type RTCRtpTransceiver } from "werift";
import WebSocket from "ws";
import { relayUrlOf, type ChannelNode } from "../../../shared/control-protocol.js";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import { Peer } from "../sfu/peer.js";
import type { Publication } from "../sfu/publication.js";
import type { IceSocketPlan } from "../transport/ice-sockets.js";
import { FastTransport } from "../transport/fast-transport.js";
import {
  MAX_RELAY_MESSAGE_BYTES,
  parseRelayMessage,
  RELAY_CLOSE,
  relayServerMessageSchema,
  type RelayClientMessage,
  type RelayDemandTrack,
  type RelayMember,
  type RelayServerMessage,
  type RelayTrack,
} from "./relay-protocol.js";
import { RemoteMember } from "./remote-member.js";

// The pulling side of one relay link (node B pulling channel X from node A; docs/relay.md): the
// WebSocket to A's /relay (re-dialled with backoff while A is listed), the answering werift
// PeerConnection, and A's connections as RemoteMembers of B's Channel. Each offered m-line feeds
// one layer of a member's Publication; B's werift receiver NACKs losses on the leg, and B's
// keyframe requests go to A over RTCP (Publication.requestKeyframe on that layer's receiver).

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5_000;
/**
 * A silent peer (its host gone without closing TCP) is noticed by ping: a link whose last
 * MISSED_PINGS_LIMIT pings (one per PING_INTERVAL_MS) went unanswered is dropped, so B's clients
 * get connection.destroyed for A's within seconds. Counted in pings, not wall-clock time since the
 * last pong: after this node's own event loop stalled (a busy box), the interval fires before the
 * pong waiting in the socket is read, and a clock check would drop a healthy link.
 */
/**
 * Kernel receive buffer of the relay PeerConnection's UDP socket: it carries every leg from A
 * (all of A's publications), so a short stall of this node's loop overflows the 208 KiB default
 * (≈ 90 datagrams of 1.1 KB: 45 ms at 2 000 pkt/s). 512 KiB (the kernel doubles it: ≈ 450
 * datagrams, 150–250 ms at 2–3 k pkt/s) absorbs stalls without queueing seconds of media when the
 * node is behind for good (4 MiB held 1.2 s of relayed packets in an overloaded bench run).
 */
const RELAY_RECEIVE_BUFFER_BYTES = 512 * 1024;
const PING_INTERVAL_MS = 2_000;
const MISSED_PINGS_LIMIT = 3;

/** What a link does to its Channel (relay/channel-relay.ts implements it). */
export interface RelayLinkHost {
  memberJoined(member: RemoteMember): void;
  memberUpdated(member: RemoteMember): void;
  /** The link's first `members` list since it was dialled arrived (see ChannelRelay.synced). */
  membersListed(): void;
  /** A push from the other node for those of this node's clients listed. */
  pushToLocal(connectionIds: readonly string[], data: Record<string, unknown>): void;
  memberPublished(member: RemoteMember, publications: Publication[]): void;
  memberLeft(member: RemoteMember): void;
}

export interface RelayLinkDeps {
  config: NodeConfig;
  log: Logger;
  iceSockets: IceSocketPlan | undefined;
  /** This node's name (presented to A). */
  nodeName: string;
  onOpened(): void;
  onBadMessage(): void;
}

interface Binding {
  pub: Publication;
  layer: number;
}

export class RelayLink {
  /** A `members` list arrived since this link was created: the other node's connections are known. */
  listed = false;
  private ws?: WebSocket;
  private peer?: Peer;
  readonly members = new Map<string, RemoteMember>();
  private readonly bindings = new Map<RTCRtpTransceiver, Binding>();
  private readonly boundTracks = new WeakSet<MediaStreamTrack>();
  /** Messages from A handled one at a time (an offer's answer is async). */
  private chain: Promise<void> = Promise.resolve();
  private backoffMs = BACKOFF_MIN_MS;
  private redialTimer?: NodeJS.Timeout;
  private closed = false;
  /** RTP received on members already gone (GET /metrics). */
  private packetsReceivedClosed = 0;
  /** The last `demand` sent on this WebSocket (keys `connection_id:kind`), to send only changes. */
  private demandSent?: string;
  private demandScheduled = false;
  private pingTimer?: NodeJS.Timeout;
  /** Pings sent since the last pong. */
  private pingsUnanswered = 0;

  constructor(
    private readonly channelId: string,
    /** The serving node (name and signaling URL from set_channel_nodes). */
    readonly node: ChannelNode,
    private token: string,
    private readonly host: RelayLinkHost,
    private readonly deps: RelayLinkDeps,
  ) {
    this.dial();
  }

  /** Same node, new token (a new set_channel_nodes): used from the next dial on. */
  setToken(token: string): void {
    this.token = token;
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  get packetsReceived(): number {
    let n = this.packetsReceivedClosed;
    for (const m of this.members.values()) for (const p of m.publications) n += p.packetsReceived;
    return n;
  }

  /** A `#` message of one of this node's clients, for A's clients. */
  sendMessage(senderConnectionId: string, label: string, plain: Buffer): boolean {
    return this.send({ type: "message", label, sender_connection_id: senderConnectionId, data: plain.toString("base64") });
  }

  private dial(): void {
    if (this.closed) return;
    const url = new URL(relayUrlOf(this.node.signaling_url));
    url.searchParams.set("channel_id", this.channelId);
    url.searchParams.set("node_name", this.deps.nodeName);
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.token}` }, maxPayload: MAX_RELAY_MESSAGE_BYTES });
    this.ws = ws;
    this.peer = new Peer({
      iceAddresses: this.deps.config.iceAddresses,
      ...(this.deps.iceSockets ? { iceSockets: this.deps.iceSockets } : {}),
      upstreamAudio: false,
      upstreamVideo: false,
      videoCodec: this.deps.config.defaultVideoCodec,
      dataChannels: [],
      answerer: true,
    });
    const pc = this.peer.pc;
    pc.iceConnectionStateChange.subscribe((state) => {
      if (state === "connected") for (const dtls of pc.dtlsTransports) FastTransport.setReceiveBufferSize(dtls, RELAY_RECEIVE_BUFFER_BYTES);
    });
    ws.on("open", () => {
      this.deps.onOpened();
      this.pingsUnanswered = 0;
      this.pingTimer = setInterval(() => {
        if (this.pingsUnanswered >= MISSED_PINGS_LIMIT) {
          this.deps.log.warn({ node: this.node.node_name, channel_id: this.channelId }, "relay link silent: dropped");
          ws.terminate();
          return;
        }
        this.pingsUnanswered++;
        ws.ping();
      }, PING_INTERVAL_MS);
      this.pingTimer.unref();
    });
    ws.on("pong", () => (this.pingsUnanswered = 0));
    ws.on("message", (data, isBinary) => {
      const message = isBinary ? undefined : parseRelayMessage(relayServerMessageSchema, data.toString());
      if (!message) {
        this.deps.onBadMessage();
        this.deps.log.warn({ node: this.node.node_name, channel_id: this.channelId }, "malformed relay message: link closed");
        ws.close(RELAY_CLOSE.badMessage, "BAD-MESSAGE");
        return;
      }
      this.backoffMs = BACKOFF_MIN_MS; // A speaks the protocol: the next drop re-dials fast
      this.chain = this.chain.then(() => this.handle(ws, message)).catch((err: unknown) => {
        this.deps.onBadMessage(); // e.g. an offer werift refuses
        this.deps.log.warn({ err, node: this.node.node_name }, "relay message failed: link closed");
        ws.close(RELAY_CLOSE.badMessage, "RELAY-FAILED");
      });
    });
    ws.on("error", () => undefined); // "close" follows
    ws.on("close", () => this.dropped(ws));
  }

  /** The WebSocket closed: A's members leave B's channel, and A is re-dialled while listed. */
  private dropped(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.ws = undefined;
    this.demandSent = undefined;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    this.removeAllMembers();
    const peer = this.peer;
    this.peer = undefined;
    this.bindings.clear();
    void peer?.close();
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.redialTimer = setTimeout(() => {
      this.redialTimer = undefined;
      this.dial();
    }, delay);
    this.redialTimer.unref();
  }

  private async handle(ws: WebSocket, message: RelayServerMessage): Promise<void> {
    if (this.ws !== ws || this.closed) return;
    switch (message.type) {
      case "members": {
        const listed = new Set(message.members.map((m) => m.connection_id));
        for (const m of [...this.members.values()]) if (!listed.has(m.id)) this.removeMember(m);
        for (const m of message.members) this.upsertMember(m, false);
        if (!this.listed) {
          this.listed = true;
          this.host.membersListed();
        }
        return;
      }
      case "member.created":
        return this.upsertMember(message.member, false);
      case "member.updated":
        return this.upsertMember(message.member, true);
      case "member.metadata": {
        const m = this.members.get(message.member.connection_id);
        if (!m) return;
        // Later notifies on this node carry the new metadata; the change's push reaches this
        // node's clients from the edge (a channel push to every serving node), not over the relay.
        m.update(message.member);
        return;
      }
      case "member.destroyed": {
        const m = this.members.get(message.connection_id);
        if (m) this.removeMember(m);
        return;
      }
      case "push":
        return this.host.pushToLocal(message.connection_ids, message.data);
      case "offer":
        return this.answer(ws, message.sdp, message.tracks);
    }
  }

  private upsertMember(member: RelayMember, updated: boolean): void {
    const known = this.members.get(member.connection_id);
    if (known) {
      known.update(member);
      if (updated) this.host.memberUpdated(known);
      return;
    }
    const m = new RemoteMember(member, this.node.node_name);
    this.members.set(m.id, m);
    this.host.memberJoined(m);
  }

  private removeMember(m: RemoteMember): void {
    this.members.delete(m.id);
    for (const pub of m.publications) pub.onDemandChanged = undefined;
    for (const pub of m.publications) this.packetsReceivedClosed += pub.packetsReceived;
    for (const [t, b] of this.bindings) if (m.publications.includes(b.pub)) this.bindings.delete(t);
    this.host.memberLeft(m);
    m.close();
  }

  private removeAllMembers(): void {
    for (const m of [...this.members.values()]) this.removeMember(m);
  }

  private async answer(ws: WebSocket, sdp: string, tracks: RelayTrack[]): Promise<void> {
    const peer = this.peer;
    if (!peer) return;
    const answer = await peer.answer(sdp);
    if (this.ws !== ws || this.closed) return;
    const transceivers = peer.pc.getTransceivers();
    const added = new Map<RemoteMember, Publication[]>();
    const offered = new Set<RTCRtpTransceiver>();
    for (const track of tracks) {
      const t = transceivers.find((x) => x.mid === track.mid);
      const member = this.members.get(track.connection_id);
      if (!t || !member || t.kind !== track.kind) continue;
      offered.add(t);
      if (this.bindings.has(t)) continue;
      const known = member.publications.some((p) => p.kind === track.kind);
      const pub = member.publicationFor(track);
      if (pub.simulcast !== track.simulcast) continue;
      pub.attach(t.receiver, track.simulcast ? track.layer : undefined);
      pub.onDemandChanged = () => this.scheduleDemand();
      if (track.kind === "audio") pub.audioLevelExtId = t.headerExtensions.find((e) => e.uri === RTP_EXTENSION_URI.audioLevelIndication)?.id ?? 0;
      this.bindings.set(t, { pub, layer: track.simulcast ? track.layer : 0 });
      this.bindTracks(t);
      if (!known) added.set(member, [...(added.get(member) ?? []), pub]);
    }
    // m-lines A stopped (their member left): nothing more is fed from them.
    for (const t of [...this.bindings.keys()]) if (!offered.has(t)) this.bindings.delete(t);
    this.send({ type: "answer", sdp: answer });
    for (const [member, pubs] of added) this.host.memberPublished(member, pubs);
    this.scheduleDemand();
  }

  /** Tells A which of its publications this node has subscribers for, once per turn of the event loop. */
  private scheduleDemand(): void {
    if (this.demandScheduled || this.closed) return;
    this.demandScheduled = true;
    setImmediate(() => {
      this.demandScheduled = false;
      const tracks: RelayDemandTrack[] = [];
      for (const m of this.members.values()) {
        for (const pub of m.publications) {
          if (pub.subscriptions.length === 0) continue;
          tracks.push(pub.simulcast ? { connection_id: m.id, kind: pub.kind, layers: demandedLayers(pub) } : { connection_id: m.id, kind: pub.kind });
        }
      }
      const key = tracks.map((t) => `${t.connection_id}:${t.kind}:${t.layers?.join("") ?? ""}`).join(",");
      if (key === this.demandSent) return;
      if (this.send({ type: "demand", tracks })) this.demandSent = key;
    });
  }

  /** Feeds the transceiver's track(s) to its binding (looked up per packet: a stopped m-line feeds nothing). */
  private bindTracks(t: RTCRtpTransceiver): void {
    const bind = (track: MediaStreamTrack) => {
      if (this.boundTracks.has(track)) return;
      this.boundTracks.add(track);
      track.onReceiveRtp.subscribe((rtp) => {
        const b = this.bindings.get(t);
        if (b !== undefined) b.pub.onRtp(rtp, b.layer);
      });
    };
    for (const track of t.receiver.tracks) bind(track);
    t.onTrack.subscribe((track) => bind(track));
  }

  private send(message: RelayClientMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  /** Not wanted any more (dropped from set_channel_nodes, channel closed, node stopping): no re-dial. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.redialTimer) clearTimeout(this.redialTimer);
    this.redialTimer = undefined;
    const ws = this.ws;
    if (ws) {
      this.dropped(ws);
      ws.close(RELAY_CLOSE.normal);
    }
  }
}

/**
 * The simulcast layers B's subscriptions of `pub` need from A: each one's wanted layer, the layer
 * it chases and the one it relays now (kept until a switch away from it completes, so the picture
 * never stops while a keyframe of the next layer is awaited).
 */
export function demandedLayers(pub: { subscriptions: readonly { wantedLayer: number; targetLayer: number; relayedLayer: number }[] }): number[] {
  const layers = new Set<number>();
  for (const s of pub.subscriptions) for (const l of [s.wantedLayer, s.targetLayer, s.relayedLayer]) if (l >= 0 && l <= 2) layers.add(l);
  return [...layers].sort();
}
