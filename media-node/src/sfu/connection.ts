import { RTP_EXTENSION_URI, type MediaStreamTrack, type RTCDataChannel, type RTCRtpTransceiver } from "werift";
import { ridOrNoneSchema, type ConnectionInfo, type RidOrNone } from "../../../shared/control-protocol.js";
import { newSoraId } from "../../../shared/ids.js";
import { requestedRid } from "../../../shared/rid-requests.js";
import type { NodeConfig, VideoCodecName } from "../config.js";
import type { Logger } from "../logger.js";
import type { IceSocketPlan } from "../transport/ice-sockets.js";
import type { ConnectionOptions } from "./connection-options.js";
import { relayTransportOf } from "../turn/relay-detection.js";
import type { Channel } from "./channel.js";
import { Peer, type DataChannelSpec, type MediaKind } from "./peer.js";
import { forwards, type ForwardingFilter } from "./forwarding-filter.js";
import type { ConnectionGrants } from "./sfu.js";
import { Publication, SIMULCAST_RIDS } from "./publication.js";
import { NO_LAYER, Subscription, type LayerSwitchListener, type SwitchTrigger } from "./subscription.js";
import { RPC_METHOD_NAMES } from "../signaling/rpc.js";
import { RtpEgress } from "../transport/rtp-egress.js";
import type { PreparedMessage } from "./prepared-message.js";

// One client in a channel: its PeerConnection, what it publishes, what it receives, and the
// renegotiation queue. Signaling I/O goes through a SignalingPort (WebSocket or DataChannel).

import type { Role } from "./connection-options.js";
export type { Role };

export interface SignalingPort {
  /** `signaling` messages: re-offer, close. */
  sendSignaling(message: Record<string, unknown>): void;
  /** A PreparedMessage is the same notify for many connections (serialize it once). */
  sendNotify(message: Record<string, unknown> | PreparedMessage): void;
  sendPush(message: Record<string, unknown>): void;
  /** Ends the signaling with a close code/reason and removes the connection (Disconnect* APIs). */
  end?(code: number, reason: string, logReason: string): Promise<void>;
}

/** A `notify` message around its event body, stamped now. */
export function notifyMessage(body: Record<string, unknown>): Record<string, unknown> {
  return { type: "notify", timestamp: new Date().toISOString(), ...body };
}

/** DataChannels Sora opens for DataChannel signaling; `compress:false` so JSON travels as text. */
export const SYSTEM_DATA_CHANNELS = ["signaling", "notify", "push", "stats"] as const;

/** The DataChannel RPC label (Sora 2025.2; sora-js-sdk DATA_CHANNEL_LABEL_RPC). */
export const RPC_LABEL = "rpc";

export interface MessagingChannel {
  label: string;
  direction: "sendonly" | "recvonly" | "sendrecv";
  compress: boolean;
  /** Receiving side: prefix each message with the sender's connection id. */
  header: boolean;
  /** The entry's `header` as given, echoed in the offer. */
  headerFields?: { type: string }[];
}

/** The rids RPC RequestSimulcastRid may ask when the auth webhook gave no `simulcast_rpc_rids`. */
export const ALL_RPC_RIDS: readonly RidOrNone[] = ridOrNoneSchema.options;

const REQUEST_SIMULCAST_RID = "2025.2.0/RequestSimulcastRid";

/** Chrome expects REMB about once a second; faster lets a bitrate pin take hold sooner. */
const PUBLISHER_FEEDBACK_INTERVAL_MS = 500;

/** A connection that publishes, as a subscriber sees it: local, or another node's (relay/remote-member.ts). */
export interface Publisher {
  readonly id: string;
  readonly clientId: string;
  readonly bundleId: string;
  readonly publications: readonly Publication[];
}

export class Connection implements LayerSwitchListener {
  readonly id: string;
  readonly createdAt = Date.now();
  readonly clientId: string;
  readonly bundleId: string;
  readonly bundleIdExplicit: boolean;
  readonly role: Role;
  readonly audio: boolean;
  readonly video: boolean;
  readonly videoCodec: VideoCodecName;
  readonly dataChannelSignaling: boolean;
  /** Publishes its video as three rid layers (connect `simulcast: true`). */
  readonly simulcast: boolean;
  readonly ignoreDisconnectWebSocket: boolean;
  readonly messaging: MessagingChannel[];
  /** DataChannel RPC methods this connection may call (offer `rpc_methods`); empty = no `rpc` DataChannel. */
  readonly rpcMethods: string[];
  /** The `rpc` DataChannel's messages are deflated (connect `data_channels` entry for `rpc`). */
  readonly rpcCompress: boolean;
  /** The rids RPC RequestSimulcastRid may ask (auth webhook `simulcast_rpc_rids`, else all). */
  readonly simulcastRpcRids: readonly RidOrNone[];
  signalingNotifyMetadata: unknown;
  readonly metadata: unknown;
  /** Auth webhook `metadata` (offer `metadata`, notify `authn_metadata`); undefined without auth webhook. */
  readonly authnMetadata: unknown;
  /** Auth webhook `event_metadata`, carried into event webhooks. */
  readonly eventMetadata: unknown;
  /** Auth webhook `authz_metadata` (notify `authz_metadata`). */
  readonly authzMetadata: unknown;
  /** False when the auth webhook answered `signaling_notify: false`: no notify is sent to this connection. */
  readonly signalingNotify: boolean;
  /** Connect/auth `forwarding_filter(s)`: which senders' tracks this connection receives. */
  private readonly forwardingFilters: ForwardingFilter[];
  /** The auth webhook's `spotlight_encodings` / `simulcast_encodings` for this sender's offer. */
  private readonly encodingsOverride: Record<string, unknown>[] | undefined;
  /** The server side of the client's PeerConnection, built with the Connection (closed by close()). */
  readonly peer: Peer;
  readonly publications: Publication[] = [];
  readonly subscriptions = new Map<Publication, Subscription>();
  readonly setupStartedAt = Date.now();
  // Lifecycle state and timers: changed only by this class's methods (markConnected, markLeft, close).
  #connected = false;
  #closed = false;
  #connectedAt = 0;
  #updatedTimer?: NodeJS.Timeout;
  #feedbackTimer?: NodeJS.Timeout;
  #latestStats?: { timestamp: string; stats: unknown[] };
  #upstreamVideoBitrateBps?: number;
  #disconnectApiReason?: Record<string, unknown> | null;
  private negotiating = false;
  private renegotiationPending = false;
  private port?: SignalingPort;

  constructor(
    readonly channel: Channel,
    /** What signaling asked for (connection-options.ts; never the raw connect message). */
    readonly options: ConnectionOptions,
    private readonly config: NodeConfig,
    readonly log: Logger,
    auth?: ConnectionGrants,
    iceSockets?: IceSocketPlan,
  ) {
    // The auth webhook is asked before the Connection exists, under the id it will have.
    this.id = auth?.connectionId ?? newSoraId();
    this.authnMetadata = auth?.authnMetadata;
    this.eventMetadata = auth?.eventMetadata;
    this.authzMetadata = auth?.authzMetadata;
    this.signalingNotify = auth?.signalingNotify ?? true;
    this.forwardingFilters = options.forwardingFilters;
    this.encodingsOverride = (channel.spotlight ? auth?.spotlightEncodings : undefined) ?? auth?.simulcastEncodings;
    this.role = options.role;
    this.clientId = options.clientId ?? this.id;
    this.bundleIdExplicit = options.bundleId !== undefined;
    this.bundleId = options.bundleId ?? this.id;
    const sends = this.role !== "recvonly";
    this.audio = options.audio;
    this.video = options.video;
    this.videoCodec = options.videoCodec ?? config.defaultVideoCodec;
    this.dataChannelSignaling = options.dataChannelSignaling;
    this.ignoreDisconnectWebSocket = this.dataChannelSignaling && options.ignoreDisconnectWebSocket;
    this.messaging = options.dataChannels
      .filter((d) => d.label.startsWith("#"))
      .map((d) => ({
        label: d.label,
        direction: d.direction,
        compress: d.compress,
        header: d.header?.some((h) => h.type === "sender_connection_id") === true,
        ...(d.header ? { headerFields: d.header } : {}),
      }));
    // RPC needs DataChannel signaling (Sora's RPC doc); unknown method names are not advertised.
    this.rpcMethods = this.dataChannelSignaling
      ? [...new Set(auth?.rpcMethods ?? config.defaultRpcMethods)].filter((m) => (RPC_METHOD_NAMES as readonly string[]).includes(m))
      : [];
    this.rpcCompress = options.dataChannels.find((d) => d.label === RPC_LABEL)?.compress === true;
    this.simulcastRpcRids = auth?.simulcastRpcRids ? [...new Set(auth.simulcastRpcRids)] : ALL_RPC_RIDS;
    this.signalingNotifyMetadata = options.signalingNotifyMetadata;
    this.metadata = options.metadata;
    // Spotlight delivers senders at per-subscriber rids, so its senders always publish simulcast.
    this.simulcast = options.simulcast || channel.spotlight;
    if (sends && this.audio) this.publications.push(new Publication(this.id, "audio", "OPUS", 48000));
    if (sends && this.video) this.publications.push(new Publication(this.id, "video", this.videoCodec, 90000, this.simulcast));
    const hasUpstreamAudio = this.publications.some((p) => p.kind === "audio");
    const hasUpstreamVideo = this.publications.some((p) => p.kind === "video");
    this.peer = new Peer({
      iceAddresses: config.iceAddresses,
      ...(iceSockets ? { iceSockets } : {}),
      iceLite: config.iceLite,
      upstreamAudio: hasUpstreamAudio,
      upstreamVideo: hasUpstreamVideo,
      videoCodec: this.videoCodec,
      ...(this.simulcast ? { simulcastRids: [...SIMULCAST_RIDS] } : {}),
      ...(hasUpstreamAudio ? { upstreamOpusFormat: options.opusFormat } : {}),
      dataChannels: this.dataChannelSpecs(),
    });
    this.bindUpstream("audio", this.peer.upstreamAudio);
    this.bindUpstream("video", this.peer.upstreamVideo);
  }

  /** The PeerConnection is up (set by markConnected, cleared by markLeft). */
  get connected(): boolean {
    return this.#connected;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** When the PeerConnection came up (ms; 0 before). */
  get connectedAt(): number {
    return this.#connectedAt;
  }

  /** The client's latest getStats() report (recordStats). */
  get latestStats(): { timestamp: string; stats: unknown[] } | undefined {
    return this.#latestStats;
  }

  /** ChangeUpstreamVideoBitRate pin (bps); otherwise the node's configured ceiling. */
  get upstreamVideoBitrateBps(): number | undefined {
    return this.#upstreamVideoBitrateBps;
  }

  /** Disconnect* API `reason` (null when the API gave none); set only when the API ended it. */
  get disconnectApiReason(): Record<string, unknown> | null | undefined {
    return this.#disconnectApiReason;
  }

  /**
   * The PeerConnection came up: from now on the connection counts as connected, its publisher
   * feedback runs and `onUpdated` is called every `updatedIntervalMs` until it leaves. False
   * (nothing changed) if it already was connected or is closed.
   */
  markConnected(nowMs: number, updatedIntervalMs: number, onUpdated: () => void): boolean {
    if (this.#connected || this.#closed) return false;
    this.#connected = true;
    this.#connectedAt = nowMs;
    this.startPublisherFeedback();
    this.#updatedTimer = setInterval(onUpdated, updatedIntervalMs);
    this.#updatedTimer.unref();
    return true;
  }

  /** The connection is leaving its channel: it no longer counts as connected (close() follows). */
  markLeft(): void {
    this.#connected = false;
    if (this.#updatedTimer) clearInterval(this.#updatedTimer);
    this.#updatedTimer = undefined;
  }

  recordStats(stats: unknown[], timestamp = new Date().toISOString()): void {
    this.#latestStats = { timestamp, stats };
  }

  /** ChangeUpstreamVideoBitRate: the REMB this sender gets from now on, sent at once. */
  pinUpstreamVideoBitrate(bps: number): void {
    this.#upstreamVideoBitrateBps = bps;
    for (const pub of this.publications) pub.sendBitrateEstimate(bps);
  }

  /** A Disconnect* API is ending this connection (`reason` goes to the event webhook). */
  markDisconnectedByApi(reason: Record<string, unknown> | null): void {
    this.#disconnectApiReason = reason;
  }

  get sessionId(): string {
    return this.channel.sessionId;
  }

  setPort(port: SignalingPort): void {
    this.port = port;
  }

  get hasDataChannels(): boolean {
    return this.dataChannelSignaling || this.messaging.length > 0;
  }

  dataChannelSpecs(): DataChannelSpec[] {
    if (!this.hasDataChannels) return [];
    const specs: DataChannelSpec[] = [];
    if (this.dataChannelSignaling) for (const label of SYSTEM_DATA_CHANNELS) specs.push({ label });
    if (this.rpcMethods.length > 0) specs.push({ label: RPC_LABEL });
    for (const m of this.options.dataChannels) {
      if (!m.label.startsWith("#")) continue;
      specs.push({
        label: m.label,
        ordered: m.ordered,
        maxPacketLifeTime: m.maxPacketLifeTime,
        maxRetransmits: m.maxRetransmits,
        protocol: m.protocol,
      });
    }
    return specs;
  }

  /** offer.data_channels must list every DataChannel the server opens (the SDK ignores others). */
  offerDataChannels(): Record<string, unknown>[] | undefined {
    if (!this.hasDataChannels) return undefined;
    const list: Record<string, unknown>[] = [];
    if (this.dataChannelSignaling) for (const label of SYSTEM_DATA_CHANNELS) list.push({ label, direction: "sendrecv", compress: false });
    if (this.rpcMethods.length > 0) list.push({ label: RPC_LABEL, direction: "sendrecv", compress: this.rpcCompress });
    for (const m of this.messaging) {
      const entry: Record<string, unknown> = { label: m.label, direction: m.direction, compress: m.compress };
      if (m.headerFields) entry.header = m.headerFields;
      list.push(entry);
    }
    return list;
  }

  /** Subscribes to everything already published in the channel, and builds the initial offer SDP. */
  async createInitialOffer(existing: Iterable<Publisher>): Promise<string> {
    for (const other of existing) for (const pub of other.publications) if (this.wants(pub, other)) this.addSubscription(pub);
    this.negotiating = true;
    return this.peer.createOffer();
  }

  private bindUpstream(kind: MediaKind, transceiver: RTCRtpTransceiver | undefined): void {
    if (!transceiver) return;
    const pub = this.publications.find((p) => p.kind === kind);
    if (!pub) return;
    transceiver.onTrack.subscribe((track: MediaStreamTrack) => {
      // Simulcast: one track per rid, each feeding its layer.
      const layer = pub.layerOf(track.rid);
      pub.attach(transceiver.receiver);
      track.onReceiveRtp.subscribe((rtp) => pub.onRtp(rtp, layer));
    });
  }

  /** Whether this connection should receive `pub` (own media, bundle peers and roles excluded). */
  wants(pub: Publication, publisher: Publisher): boolean {
    if (this.role === "sendonly" || publisher.id === this.id) return false;
    if (this.bundleIdExplicit && publisher.bundleId === this.bundleId) return false;
    if (pub.kind === "audio" && !this.audio) return false;
    if (pub.kind === "video" && !this.video) return false;
    if (this.forwardingFilters.length > 0) {
      return forwards(this.forwardingFilters, { connection_id: publisher.id, client_id: publisher.clientId, kind: pub.kind });
    }
    return true;
  }

  addSubscription(pub: Publication): void {
    if (this.subscriptions.has(pub) || this.closed) return;
    const transceiver = this.peer.addDownstream(pub.kind, pub.connectionId, pub.codec);
    const leg = { subscriberConnectionId: this.id, publisherConnectionId: pub.connectionId, kind: pub.kind };
    const egress = this.config.subscriberEgress?.(leg) ?? new RtpEgress();
    const sub = new Subscription(pub, transceiver, this.id, egress, this);
    if (pub.kind === "video" && this.channel.isPaused(this.id, pub.connectionId)) sub.setPaused(true);
    if (pub.simulcast) sub.setWantedLayer(this.wantedLayerOf(pub));
    this.subscriptions.set(pub, sub);
    pub.addSubscription(sub);
  }

  /** Pause applies to video only (Sora: "video only for now"); audio keeps flowing. */
  applyPauses(): void {
    for (const [pub, sub] of this.subscriptions) {
      if (pub.kind === "video") sub.setPaused(this.channel.isPaused(this.id, pub.connectionId));
    }
  }

  /**
   * Which simulcast layer this subscriber wants of `pub`: the latest RequestRtpStream covering
   * the pair (shared/rid-requests.ts; a ResetRtpStream clears it), else in a spotlight channel
   * the focus/unfocus rid, else what connect asked (`simulcast_request_rid`, then
   * `simulcast_rid`), else r0 (Sora's default when the receiver names none).
   */
  wantedLayerOf(pub: Publication): number {
    const requested = requestedRid(this.channel.ridRequests, this.id, pub.connectionId);
    const spotlight = this.channel.spotlightState;
    if (requested === undefined && spotlight) {
      // RPC RequestSpotlightRid (for that sender, else for all) before the connect's own rids.
      const asked =
        this.channel.spotlightRidRequests.find((r) => r.recv_connection_id === this.id && r.send_connection_id === pub.connectionId) ??
        this.channel.spotlightRidRequests.find((r) => r.recv_connection_id === this.id && r.send_connection_id === undefined);
      const rid = spotlight.isFocused(pub.connectionId)
        ? (asked?.spotlight_focus_rid ?? this.options.spotlightFocusRid ?? "r1")
        : (asked?.spotlight_unfocus_rid ?? this.options.spotlightUnfocusRid ?? "r0");
      return rid === "none" ? NO_LAYER : pub.layerOf(rid);
    }
    const rid = requested ?? this.options.simulcastRid ?? "r0";
    if (rid === "none") return NO_LAYER;
    return pub.layerOf(rid);
  }

  /**
   * Sora's `simulcast.switched` notify, to this receiver only, when one of its subscriptions
   * starts relaying another layer (shape: sora-js-sdk types.ts SignalingNotifySimulcastSwitched;
   * sora-js-sdk e2e rpc waits for its `current_rid` after RequestSimulcastRid). Deferred so the
   * packet that made the switch is forwarded first: the hot path only calls this.
   */
  onLayerSwitched(sub: Subscription, previous: number, current: number, trigger: SwitchTrigger): void {
    const pub = sub.publication;
    const wanted = sub.wantedLayer;
    setImmediate(() => {
      if (this.closed || !this.subscriptions.has(pub)) return;
      this.sendNotify(simulcastSwitchedNotify(pub.connectionId, previous, current, wanted, trigger, this.notifiedRpcRids()));
    });
  }

  /** One of this connection's subscriptions closed (here, or by its publication's close): forget it. */
  onSubscriptionClosed(sub: Subscription): void {
    if (this.subscriptions.get(sub.publication) === sub) this.subscriptions.delete(sub.publication);
  }

  /** `rpc_rids` of simulcast.switched: what RPC RequestSimulcastRid may ask, nothing when it is not granted. */
  notifiedRpcRids(): RidOrNone[] {
    return this.rpcMethods.includes(REQUEST_SIMULCAST_RID) ? [...this.simulcastRpcRids] : [];
  }

  /** Re-applies the channel's rid requests to every simulcast subscription (RequestRtpStream/ResetRtpStream). */
  applyRidRequests(): void {
    for (const [pub, sub] of this.subscriptions) if (pub.simulcast) sub.setWantedLayer(this.wantedLayerOf(pub));
  }

  /**
   * `offer.encodings` for a simulcast sender: r0 (lowest) → r2 (full size), like Sora. The
   * budget follows Chrome's own per-resolution caps at 720p; a connect `video.bit_rate`
   * (kbps) scales it down. Every layer is `L1T1` as Sora's are (sora-js-sdk e2e
   * simulcast.test.ts asserts it on r0..r2; Chrome would pick L1T3 for VP8). The auth
   * webhook's encodings, when it gave some, go as they are.
   */
  offerEncodings(): Record<string, unknown>[] | undefined {
    if (!this.simulcast || !this.publications.some((p) => p.kind === "video")) return undefined;
    if (this.encodingsOverride) return this.encodingsOverride.map((e) => ({ ...e }));
    const layers = [
      { rid: "r0", scaleResolutionDownBy: 4, maxBitrate: 200_000 },
      { rid: "r1", scaleResolutionDownBy: 2, maxBitrate: 700_000 },
      { rid: "r2", scaleResolutionDownBy: 1, maxBitrate: 2_500_000 },
    ];
    const videoBitRate = this.options.videoBitRateKbps;
    const total = layers.reduce((n, l) => n + l.maxBitrate, 0);
    const scale = videoBitRate !== undefined && videoBitRate * 1000 < total ? (videoBitRate * 1000) / total : 1;
    return layers.map((l) => ({ ...l, active: true, maxBitrate: Math.round(l.maxBitrate * scale), scalabilityMode: "L1T1" }));
  }

  info(): ConnectionInfo {
    const info: ConnectionInfo = {
      connection_id: this.id,
      client_id: this.clientId,
      bundle_id: this.bundleId,
      role: this.role,
      simulcast: this.simulcast,
      spotlight: this.channel.spotlight,
      audio: this.audio,
      video: this.video,
      created_at: this.createdAt,
    };
    if (this.signalingNotifyMetadata !== undefined) info.signaling_notify_metadata = this.signalingNotifyMetadata;
    return info;
  }

  removeSubscriptionsFrom(publisherId: string): boolean {
    let removed = false;
    for (const [pub, sub] of this.subscriptions) {
      if (pub.connectionId !== publisherId) continue;
      sub.close();
      this.peer.removeDownstream(sub.transceiver);
      this.subscriptions.delete(pub);
      removed = true;
    }
    return removed;
  }

  async applyAnswer(sdp: string): Promise<void> {
    await this.peer.setAnswer(sdp);
    const audio = this.publications.find((p) => p.kind === "audio");
    const upstreamAudio = this.peer.upstreamAudio;
    if (audio && upstreamAudio) {
      audio.audioLevelExtId = upstreamAudio.headerExtensions.find((e) => e.uri === RTP_EXTENSION_URI.audioLevelIndication)?.id ?? 0;
    }
    for (const sub of this.subscriptions.values()) sub.refreshNegotiated();
    this.negotiating = false;
    if (this.renegotiationPending) {
      this.renegotiationPending = false;
      await this.renegotiate();
    }
  }

  /** Sends a re-offer now, or after the outstanding one is answered (one offer in flight at a time). */
  async renegotiate(): Promise<void> {
    if (this.closed) return;
    if (this.negotiating) {
      this.renegotiationPending = true;
      return;
    }
    this.negotiating = true;
    let sdp: string;
    try {
      sdp = await this.peer.createOffer();
    } catch (err) {
      if (this.closed) return; // torn down while the offer was being built
      throw err;
    }
    if (this.closed) return;
    this.port?.sendSignaling({ type: "re-offer", sdp });
  }

  get isNegotiating(): boolean {
    return this.negotiating;
  }

  notifyFields(): Record<string, unknown> {
    const fields: Record<string, unknown> = {
      role: this.role,
      session_id: this.sessionId,
      client_id: this.clientId,
      bundle_id: this.bundleId,
      connection_id: this.id,
      audio: this.audio,
      video: this.video,
      // Sora's notify names the client's TURN transport; a connection not relayed reports "udp".
      turn_transport_type: relayTransportOf(this.peer.pc) || "udp",
    };
    if (this.authnMetadata !== undefined) fields.authn_metadata = this.authnMetadata;
    if (this.authzMetadata !== undefined) fields.authz_metadata = this.authzMetadata;
    if (this.signalingNotifyMetadata !== undefined) fields.metadata = this.signalingNotifyMetadata;
    return fields;
  }

  notifyDataEntry(): Record<string, unknown> {
    const entry: Record<string, unknown> = { connection_id: this.id, client_id: this.clientId, bundle_id: this.bundleId };
    if (this.authnMetadata !== undefined) entry.authn_metadata = this.authnMetadata;
    if (this.authzMetadata !== undefined) entry.authz_metadata = this.authzMetadata;
    if (this.signalingNotifyMetadata !== undefined) entry.metadata = this.signalingNotifyMetadata;
    return entry;
  }

  sendNotify(body: Record<string, unknown>): void {
    if (!this.signalingNotify) return;
    this.port?.sendNotify(notifyMessage(body));
  }

  /** A notify built once (`notifyMessage`) for many connections. */
  sendSharedNotify(message: PreparedMessage): void {
    if (!this.signalingNotify) return;
    this.port?.sendNotify(message);
  }

  sendPush(data: unknown): void {
    this.port?.sendPush({ type: "push", data });
  }

  /**
   * Ends this connection through its signaling (close code/reason to the client first); false
   * when it has no signaling port that can (the caller then removes it directly).
   */
  async endSignaling(code: number, reason: string, logReason: string): Promise<boolean> {
    if (!this.port?.end) return false;
    await this.port.end(code, reason, logReason);
    return true;
  }

  /**
   * Resolves once every DataChannel message sent so far has been acknowledged by the client's
   * SCTP stack (or after `timeoutMs`): closing the PeerConnection aborts the association and
   * would drop a `close` message still in flight.
   */
  async dataChannelsFlushed(timeoutMs: number): Promise<void> {
    const sctp = this.peer.pc.sctpTransport?.sctp as unknown as { outboundQueue?: unknown[]; sentQueue?: unknown[] } | undefined;
    if (!sctp) return;
    const deadline = Date.now() + timeoutMs;
    while ((sctp.outboundQueue?.length ?? 0) + (sctp.sentQueue?.length ?? 0) > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  dataChannel(label: string): RTCDataChannel | undefined {
    return this.peer.dataChannels.get(label);
  }

  /** Periodic receiver feedback to this publisher (REMB), from the moment media can flow. */
  private startPublisherFeedback(): void {
    if (this.#feedbackTimer || !this.publications.some((p) => p.kind === "video")) return;
    this.#feedbackTimer = setInterval(() => {
      const bps = this.#upstreamVideoBitrateBps ?? this.config.maxUpstreamVideoBitrateBps;
      for (const pub of this.publications) pub.sendBitrateEstimate(bps);
    }, PUBLISHER_FEEDBACK_INTERVAL_MS);
    this.#feedbackTimer.unref();
  }

  /**
   * The close cascade (mediasoup's): timers stop, this connection's subscriptions close (each
   * leaves its publication), its publications close (their remaining subscriptions, keyframe
   * timers and fast-path SSRC claims go), then the PeerConnection. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.markLeft();
    if (this.#feedbackTimer) clearInterval(this.#feedbackTimer);
    this.#feedbackTimer = undefined;
    for (const sub of this.subscriptions.values()) sub.close();
    this.subscriptions.clear();
    for (const pub of this.publications) pub.close();
    await this.peer.close();
  }
}

/**
 * The `simulcast.switched` notify body. Sora documents the keys, not their meaning; ours:
 * `priority` says whether the new layer is higher or lower than the previous one, `trigger`
 * whether the receiver's choice (request, spotlight rid) or the sender's layers (one stopped or
 * came back) caused it, `request_rid` is the layer the receiver wants, `auto_rids` is empty
 * (no automatic layer choice here).
 */
export function simulcastSwitchedNotify(
  senderConnectionId: string,
  previous: number,
  current: number,
  wanted: number,
  trigger: SwitchTrigger,
  rpcRids: RidOrNone[],
): Record<string, unknown> {
  return {
    event_type: "simulcast.switched",
    sender_connection_id: senderConnectionId,
    priority: current > previous ? "higher" : "lower",
    trigger,
    rpc_rids: rpcRids,
    auto_rids: [],
    request_rid: SIMULCAST_RIDS[wanted === NO_LAYER ? current : wanted] ?? SIMULCAST_RIDS[current],
    current_rid: SIMULCAST_RIDS[current],
    previous_rid: SIMULCAST_RIDS[previous],
  };
}
