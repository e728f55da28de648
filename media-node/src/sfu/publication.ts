import type { RtpPacket, RTCRtpReceiver } from "werift";
import { ridSchema } from "../../../shared/control-protocol.js";
import type { MediaKind } from "./peer.js";
import type { Subscription } from "./subscription.js";
import type { VideoCodecName } from "../config.js";
import { keyframeDetector } from "../rtp/keyframe.js";
import { RtpIngress } from "../transport/rtp-ingress.js";
import { rembSize, writeRemb } from "../rtp/remb.js";
import { AudioActivity } from "./spotlight.js";
import { KeyFrameRequest } from "./keyframe-request.js";
import { mediaCounters } from "./media-counters.js";

// One incoming track of a sender (mediasoup's Producer). A simulcast video track has one
// layer per rid (r0 lowest → r2 highest), each with its own SSRC, packet cache (subscribers'
// NACKs are answered here) and activity clock; other tracks have a single layer. Keyframe
// requests towards the sender are throttled per layer.

const CACHE_SIZE = 1024; // power of two; ~1-3 s of HD video
const CACHE_MASK = CACHE_SIZE - 1;
const KEYFRAME_REQUEST_INTERVAL_MS = 300;
/** A layer that sent nothing for this long is considered stopped (Chrome drops layers under low bandwidth). */
export const LAYER_INACTIVE_MS = 1_000;

export const SIMULCAST_RIDS = ridSchema.options;
export type SimulcastRid = (typeof SIMULCAST_RIDS)[number];

export class Layer {
  readonly cache: (RtpPacket | undefined)[] = new Array(CACHE_SIZE);
  ssrc = 0;
  lastPacketMs = 0;
  packetsReceived = 0;
  bytesReceived = 0;
  private lastKeyframeRequestMs = 0;
  /** RequestKeyFrame's PLI schedule; `pending` is read per packet to spot the keyframe. */
  readonly keyFrameRequest = new KeyFrameRequest();

  constructor(
    readonly index: number,
    readonly rid: SimulcastRid | undefined,
  ) {}

  isActive(nowMs: number): boolean {
    return this.lastPacketMs !== 0 && nowMs - this.lastPacketMs < LAYER_INACTIVE_MS;
  }

  cached(sequenceNumber: number): RtpPacket | undefined {
    const packet = this.cache[sequenceNumber & CACHE_MASK];
    return packet !== undefined && packet.header.sequenceNumber === sequenceNumber ? packet : undefined;
  }

  /** True when a PLI may go out now. */
  takeKeyframeRequestSlot(nowMs: number, urgent: boolean): boolean {
    if (this.ssrc === 0) return false;
    if (!urgent && nowMs - this.lastKeyframeRequestMs < KEYFRAME_REQUEST_INTERVAL_MS) return false;
    this.lastKeyframeRequestMs = nowMs;
    return true;
  }
}

/** Egress (RTP forwarding, audio streaming) sees every packet of a track through a tap. */
export interface PacketTap {
  /** `keyframe`: the packet starts a keyframe (always true for audio); detected once per packet. */
  onPacket(packet: RtpPacket, layer: number, keyframe: boolean): void;
}

export class Publication {
  readonly layers: Layer[];
  readonly subscriptions: Subscription[] = [];
  private readonly tapList: PacketTap[] = [];
  readonly isKeyframe: (payload: Uint8Array) => boolean;
  /** Audio: loudness from the sender's audio-level header extension (spotlight speaker detection). */
  readonly activity = new AudioActivity();
  /** Negotiated id of the audio-level extension on the upstream leg (0 = not negotiated). */
  audioLevelExtId = 0;
  private receiver?: RTCRtpReceiver;
  /** Per-layer receivers when each layer arrives on its own m-line (cluster relay); else `receiver` serves every layer. */
  private readonly layerReceivers: (RTCRtpReceiver | undefined)[] = [];
  /** Fast receive path: after werift delivers an SSRC's first packet, its packets come straight from the socket. */
  private readonly ingress = new RtpIngress((packet, layer) => this.onRtp(packet, layer));
  private readonly rembBuffer = Buffer.alloc(rembSize(3));
  private readonly rembSsrcs: number[] = [];
  /** Runs while a RequestKeyFrame chase is pending on any layer. */
  private keyFrameRequestTimer?: NodeJS.Timeout;

  constructor(
    readonly connectionId: string,
    readonly kind: MediaKind,
    readonly codec: VideoCodecName | "OPUS",
    readonly clockRate: number,
    readonly simulcast = false,
  ) {
    this.layers = simulcast ? SIMULCAST_RIDS.map((rid, i) => new Layer(i, rid)) : [new Layer(0, undefined)];
    this.isKeyframe = codec === "OPUS" ? () => true : keyframeDetector(codec);
  }

  /** The receiver the track arrives on; `layerIndex` when each layer has its own (a relay leg's m-lines). */
  attach(receiver: RTCRtpReceiver, layerIndex?: number): void {
    this.receiver = receiver;
    if (layerIndex !== undefined) this.layerReceivers[layerIndex] = receiver;
  }

  private receiverOf(layerIndex: number): RTCRtpReceiver | undefined {
    return this.layerReceivers[layerIndex] ?? this.receiver;
  }

  /** Layer index of a rid (simulcast), 0 otherwise. */
  layerOf(rid: string | undefined): number {
    if (!this.simulcast || rid === undefined) return 0;
    const i = SIMULCAST_RIDS.indexOf(rid as SimulcastRid);
    return i < 0 ? 0 : i;
  }

  get packetsReceived(): number {
    let n = 0;
    for (const l of this.layers) n += l.packetsReceived;
    return n;
  }

  /** Hot path: one call per received packet. */
  onRtp(packet: RtpPacket, layerIndex = 0): void {
    this.ingress.seen(this.layerReceivers.length === 0 ? this.receiver : this.receiverOf(layerIndex), packet.header.ssrc, layerIndex);
    const layer = this.layers[layerIndex]!;
    const header = packet.header;
    if (layer.ssrc !== header.ssrc) layer.ssrc = header.ssrc;
    layer.packetsReceived++;
    layer.bytesReceived += packet.payload.length;
    mediaCounters.packetsReceived++;
    mediaCounters.bytesReceived += packet.payload.length;
    const nowMs = Date.now();
    layer.lastPacketMs = nowMs;
    layer.cache[header.sequenceNumber & CACHE_MASK] = packet;
    // Detected once here rather than by each subscriber that needs it.
    const keyframe = this.isKeyframe(packet.payload);
    if (keyframe && layer.keyFrameRequest.pending) layer.keyFrameRequest.keyFrameReceived();
    if (this.audioLevelExtId !== 0) {
      const exts = header.extensions;
      for (let i = 0; i < exts.length; i++) {
        if (exts[i]!.id === this.audioLevelExtId) {
          this.activity.onLevel(exts[i]!.payload[0]! & 0x7f);
          break;
        }
      }
    }
    const subs = this.subscriptions;
    for (let i = 0; i < subs.length; i++) subs[i]!.onPacket(packet, layerIndex, keyframe, nowMs);
    const taps = this.tapList;
    for (let i = 0; i < taps.length; i++) taps[i]!.onPacket(packet, layerIndex, keyframe);
  }

  /** The highest layer at or below `wanted` that is sending now (-1 if none is). */
  bestActiveLayer(wanted: number, nowMs: number): number {
    for (let i = Math.min(wanted, this.layers.length - 1); i >= 0; i--) if (this.layers[i]!.isActive(nowMs)) return i;
    return -1;
  }

  /** PLI towards the sender for one layer, throttled so many subscribers' requests coalesce; `urgent` skips the throttle. */
  requestKeyframe(layerIndex = 0, urgent = false): void {
    if (this.kind !== "video" || !this.receiver) return;
    const layer = this.layers[layerIndex];
    if (!layer || !layer.takeKeyframeRequestSlot(Date.now(), urgent)) return;
    mediaCounters.pliSent++;
    this.receiverOf(layerIndex)!.sendRtcpPLI(layer.ssrc).catch(() => undefined);
  }

  /**
   * RequestKeyFrame: on every layer that is sending, a PLI now and then every second (at most 5)
   * until that layer delivers a keyframe. False when this is not a video track that receives.
   */
  requestKeyFrameUntilReceived(): boolean {
    if (this.kind !== "video" || !this.receiver) return false;
    const now = Date.now();
    let started = false;
    for (const layer of this.layers) {
      if (layer.ssrc === 0) continue;
      layer.keyFrameRequest.start(now);
      started = true;
    }
    if (!started) return false;
    this.pollKeyFrameRequests();
    if (!this.keyFrameRequestTimer) {
      // Finer than the 1 s interval so each PLI goes out close to its due time.
      this.keyFrameRequestTimer = setInterval(() => this.pollKeyFrameRequests(), 100);
      this.keyFrameRequestTimer.unref();
    }
    return true;
  }

  private pollKeyFrameRequests(): void {
    const now = Date.now();
    let pending = false;
    for (const layer of this.layers) {
      const receiver = this.receiverOf(layer.index);
      if (layer.keyFrameRequest.takePli(now) && receiver) {
        mediaCounters.pliSent++;
        receiver.sendRtcpPLI(layer.ssrc).catch(() => undefined);
      }
      pending ||= layer.keyFrameRequest.pending;
    }
    if (!pending) this.stopKeyFrameRequests();
  }

  private stopKeyFrameRequests(): void {
    if (this.keyFrameRequestTimer) clearInterval(this.keyFrameRequestTimer);
    this.keyFrameRequestTimer = undefined;
  }

  /**
   * The publishing connection is closing: subscriptions still registered (normally each
   * subscriber has already dropped its own when the publisher left) close, no timer outlives
   * it, and the fast path's SSRC claims are released.
   */
  close(): void {
    for (const sub of [...this.subscriptions]) sub.close();
    this.subscriptions.length = 0;
    this.stopKeyFrameRequests();
    this.ingress.release();
  }

  /** Tells the sender how much it may send for this track (REMB over all its layers' SSRCs). */
  sendBitrateEstimate(bitrateBps: number): void {
    const receiver = this.receiver;
    if (this.kind !== "video" || !receiver) return;
    const ssrcs = this.rembSsrcs;
    ssrcs.length = 0;
    for (const l of this.layers) if (l.ssrc !== 0) ssrcs.push(l.ssrc);
    if (ssrcs.length === 0) return;
    const length = writeRemb(this.rembBuffer, receiver.rtcpSsrc, bitrateBps, ssrcs);
    const packet = this.rembBuffer.subarray(0, length);
    receiver.dtlsTransport.sendRtcp([{ serialize: () => packet } as never]).catch(() => undefined);
  }

  /** The egress taps on this track, in the order they were added. */
  get taps(): readonly PacketTap[] {
    return this.tapList;
  }

  /** Starts handing every packet to `tap` (once, however often it is added). */
  addTap(tap: PacketTap): void {
    if (!this.tapList.includes(tap)) this.tapList.push(tap);
  }

  removeTap(tap: PacketTap): void {
    const i = this.tapList.indexOf(tap);
    if (i >= 0) this.tapList.splice(i, 1);
  }

  /**
   * Told when a subscription is added or removed, or one's wanted or relayed simulcast layer
   * changed (a relayed track's puller tells the serving node which layers it needs).
   */
  onDemandChanged?: () => void;

  addSubscription(sub: Subscription): void {
    this.subscriptions.push(sub);
    this.onDemandChanged?.();
  }

  removeSubscription(sub: Subscription): void {
    const i = this.subscriptions.indexOf(sub);
    if (i < 0) return;
    this.subscriptions.splice(i, 1);
    this.onDemandChanged?.();
  }
}
