import { randomInt } from "node:crypto";
import type { Socket } from "node:dgram";
import type { RtpPacket } from "werift";
import { SequenceRebaser } from "../rtp/sequence-rebaser.js";
import { Vp8Munger } from "../rtp/vp8-munger.js";
import type { PacketTap, Publication } from "../sfu/publication.js";
import { mediaCounters } from "../sfu/media-counters.js";

// One track of an RTP forward: a tap on a publication that re-sends its packets as plain RTP
// (no SRTP, no header extensions, no RTCP) to one UDP port. The receiver sees a single stream
// with its own SSRC and a continuous sequence/timestamp space, like a subscriber leg
// (sfu/subscription.ts): video starts on a keyframe so the receiver's first picture decodes,
// and a simulcast source is forwarded from its highest active layer, switching on keyframes.
//
// A plain RTP receiver (ffmpeg, GStreamer) sends no RTCP the node could hear (it does not know
// the forward's source port), so it cannot ask for a keyframe. A receiver is usually started
// just after StartForwardingRtp answers its SDP, so the leg asks the sender for a keyframe every
// KEYFRAME_REFRESH_MS during the first KEYFRAME_REFRESH_WINDOW_MS after its start: a receiver
// that opens the SDP within that window decodes within about a second of listening.

const RTP_HEADER_SIZE = 12;
const NO_LAYER = -1;
/** While waiting for a keyframe, re-ask this often (the first PLI may be lost or ignored). */
const KEYFRAME_RETRY_MS = 500;
export const KEYFRAME_REFRESH_MS = 1000;
export const KEYFRAME_REFRESH_WINDOW_MS = 10_000;

/** Whether a running leg asks for a fresh keyframe now (pure: start, last ask, now in ms). */
export function keyframeRefreshDue(startedAtMs: number, lastAskMs: number, nowMs: number): boolean {
  return nowMs - startedAtMs < KEYFRAME_REFRESH_WINDOW_MS && nowMs - lastAskMs >= KEYFRAME_REFRESH_MS;
}

/**
 * The RTP stream a receiver sees on one port: SSRC, sequence/timestamp space, VP8 counters.
 * It outlives a leg so that StopForwardingRtp then StartForwardingRtp to the same destination
 * continues the same stream (same SSRC, next sequence number, timestamp advanced by the time
 * that passed) and a receiver that kept listening goes on decoding (ffmpeg drops packets that
 * look older than the last one and holds back a jump forward in its reorder queue).
 */
export class ForwardedStream {
  /** RFC 3550: random SSRC and initial sequence number/timestamp. */
  readonly ssrc = randomInt(1, 0xffffffff);
  readonly rebaser = new SequenceRebaser(randomInt(0, 0x10000), randomInt(0, 0xffffffff));
  /** Simulcast layers have unrelated picture ids; receivers treat a jump as loss. */
  readonly vp8?: Vp8Munger;

  constructor(readonly publication: Publication) {
    if (publication.codec === "VP8") this.vp8 = new Vp8Munger();
  }

  /** The next packet starts a new source run: continue the counters where they stopped. */
  continue(): void {
    this.rebaser.restart();
    this.vp8?.rebase();
  }
}

export class RtpLeg implements PacketTap {
  /** Layer being forwarded (NO_LAYER until the first keyframe for video) and the one chased. */
  private currentLayer: number;
  private targetLayer = NO_LAYER;
  private lastKeyframeAskMs = 0;
  private startedAtMs = 0;
  private readonly rebaser: SequenceRebaser;
  private readonly vp8?: Vp8Munger;
  packetsSent = 0;

  constructor(
    readonly publication: Publication,
    private readonly socket: Socket,
    private readonly address: string,
    readonly port: number,
    private readonly payloadType: number,
    /** The stream this leg continues (a restarted forward to the same destination), else a new one. */
    readonly stream: ForwardedStream = new ForwardedStream(publication),
  ) {
    this.currentLayer = publication.kind === "video" ? NO_LAYER : 0;
    stream.continue();
    this.rebaser = stream.rebaser;
    this.vp8 = stream.vp8;
  }

  /** The receiver starts from nothing: ask the sender for a keyframe now rather than waiting for the next one. */
  start(): void {
    if (this.publication.kind !== "video") return;
    const now = Date.now();
    this.startedAtMs = now;
    const layer = this.chooseLayer(now);
    this.targetLayer = layer;
    this.askKeyframe(layer, now, true);
  }

  /** Hot path: one call per packet of any layer of the publication. */
  onPacket(packet: RtpPacket, layer: number): void {
    const pub = this.publication;
    if (pub.kind === "audio") return this.forward(packet);
    const now = Date.now();
    const target = this.chooseLayer(now);
    if (target !== this.targetLayer) {
      this.targetLayer = target;
      if (target !== this.currentLayer) this.askKeyframe(target, now, false);
    }
    if (layer !== this.currentLayer) {
      if (layer !== target) return;
      if (!pub.isKeyframe(packet.payload)) {
        if (now - this.lastKeyframeAskMs > KEYFRAME_RETRY_MS) this.askKeyframe(target, now, false);
        return;
      }
      // A keyframe of the target layer: switch here so the receiver's decoder never lacks a reference.
      this.currentLayer = layer;
      this.rebaser.restart();
      this.vp8?.rebase();
    } else if (keyframeRefreshDue(this.startedAtMs, this.lastKeyframeAskMs, now)) {
      this.askKeyframe(layer, now, false);
    }
    this.forward(packet);
  }

  /** The highest layer sending now (simulcast); a single-layer track has only layer 0. */
  private chooseLayer(nowMs: number): number {
    const pub = this.publication;
    if (!pub.simulcast) return 0;
    const top = pub.layers.length - 1;
    const best = pub.bestActiveLayer(top, nowMs);
    return best === NO_LAYER ? top : best;
  }

  private askKeyframe(layer: number, nowMs: number, urgent: boolean): void {
    this.lastKeyframeAskMs = nowMs;
    this.publication.requestKeyframe(layer, urgent);
  }

  private forward(packet: RtpPacket): void {
    const src = packet.header;
    const rebased = this.rebaser;
    rebased.map(src.sequenceNumber, src.timestamp, this.publication.clockRate, Date.now());
    // A fresh buffer per packet: dgram may still hold it after send() returns, and the source
    // payload is shared with subscribers and the NACK cache, so it is never rewritten in place.
    const payload = packet.payload;
    const out = Buffer.allocUnsafe(RTP_HEADER_SIZE + payload.length);
    out[0] = 0x80; // V=2, no padding, no extension, no CSRC
    out[1] = (src.marker ? 0x80 : 0) | this.payloadType;
    out.writeUInt16BE(rebased.outSeq, 2);
    out.writeUInt32BE(rebased.outTs, 4);
    out.writeUInt32BE(this.stream.ssrc, 8);
    payload.copy(out, RTP_HEADER_SIZE);
    this.vp8?.apply(out.subarray(RTP_HEADER_SIZE));
    this.packetsSent++;
    mediaCounters.rtpForwardingPacketsSent++;
    this.socket.send(out, this.port, this.address);
  }
}
