import type { RtpPacket, RTCRtpReceiver } from "werift";
import type { MediaKind } from "./peer.js";
import type { Subscription } from "./subscription.js";
import type { VideoCodecName } from "../config.js";

// One incoming track of a sender (mediasoup's Producer). Keeps a packet cache so subscribers'
// NACKs are answered here, and a throttled keyframe request path towards the sender.

const CACHE_SIZE = 1024; // power of two; ~1-3 s of HD video
const CACHE_MASK = CACHE_SIZE - 1;
const KEYFRAME_REQUEST_INTERVAL_MS = 300;

export class Publication {
  readonly cache: (RtpPacket | undefined)[] = new Array(CACHE_SIZE);
  readonly subscriptions: Subscription[] = [];
  ssrc = 0;
  private receiver?: RTCRtpReceiver;
  private lastKeyframeRequestMs = 0;
  packetsReceived = 0;
  bytesReceived = 0;

  constructor(
    readonly connectionId: string,
    readonly kind: MediaKind,
    readonly codec: VideoCodecName | "OPUS",
    readonly clockRate: number,
  ) {}

  attach(receiver: RTCRtpReceiver): void {
    this.receiver = receiver;
  }

  /** Hot path: one call per received packet. */
  onRtp(packet: RtpPacket): void {
    const header = packet.header;
    if (this.ssrc !== header.ssrc) this.ssrc = header.ssrc;
    this.packetsReceived++;
    this.bytesReceived += packet.payload.length;
    this.cache[header.sequenceNumber & CACHE_MASK] = packet;
    const subs = this.subscriptions;
    for (let i = 0; i < subs.length; i++) subs[i]!.forward(packet, false);
  }

  cached(sequenceNumber: number): RtpPacket | undefined {
    const packet = this.cache[sequenceNumber & CACHE_MASK];
    return packet !== undefined && packet.header.sequenceNumber === sequenceNumber ? packet : undefined;
  }

  /** PLI towards the sender, throttled so many subscribers' requests coalesce; `urgent` skips the throttle. */
  requestKeyframe(urgent = false): void {
    if (this.kind !== "video" || !this.receiver || this.ssrc === 0) return;
    const now = Date.now();
    if (!urgent && now - this.lastKeyframeRequestMs < KEYFRAME_REQUEST_INTERVAL_MS) return;
    this.lastKeyframeRequestMs = now;
    this.receiver.sendRtcpPLI(this.ssrc).catch(() => undefined);
  }

  addSubscription(sub: Subscription): void {
    this.subscriptions.push(sub);
    this.requestKeyframe();
  }

  removeSubscription(sub: Subscription): void {
    const i = this.subscriptions.indexOf(sub);
    if (i >= 0) this.subscriptions.splice(i, 1);
  }
}
