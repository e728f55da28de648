import { randomInt } from "node:crypto";
import type { Socket } from "node:dgram";
import type { RtpPacket } from "werift";
import { FORWARD, Forwarder, NO_LAYER, REQUEST_KEYFRAME } from "../rtp/forwarder.js";
import { SequenceRebaser } from "../rtp/sequence-rebaser.js";
import { Vp8Munger } from "../rtp/vp8-munger.js";
import type { PacketTap, Publication } from "../sfu/publication.js";
import { mediaCounters } from "../sfu/media-counters.js";

// One track of an RTP forward: a tap on a publication that re-sends its packets as plain RTP
// (no SRTP, no header extensions, no RTCP) to one UDP port. The receiver sees a single stream
// with its own SSRC and a continuous sequence/timestamp space, like a subscriber leg
// (sfu/subscription.ts), decided by the same Forwarder (rtp/forwarder.ts): video starts on a
// keyframe so the receiver's first picture decodes, and a simulcast source is forwarded from its
// highest active layer (the leg "wants" the top layer), switching on keyframes.
//
// A plain RTP receiver (ffmpeg, GStreamer) sends no RTCP the node could hear (it does not know
// the forward's source port), so it cannot ask for a keyframe. A receiver is usually started
// just after StartForwardingRtp answers its SDP, so the leg asks the sender for a keyframe every
// KEYFRAME_REFRESH_MS during the first KEYFRAME_REFRESH_WINDOW_MS after its start: a receiver
// that opens the SDP within that window decodes within about a second of listening.

const RTP_HEADER_SIZE = 12;
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
  private readonly forwarder: Forwarder;
  private startedAtMs = 0;
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
    stream.continue();
    this.vp8 = stream.vp8;
    const video = publication.kind === "video";
    this.forwarder = new Forwarder({
      layers: publication.layers,
      simulcast: publication.simulcast,
      video,
      clockRate: publication.clockRate,
      rebaser: stream.rebaser,
      vp8: stream.vp8,
      // Video waits for a keyframe of the layer chosen at start(); audio flows from its first packet.
      startLayer: video ? NO_LAYER : 0,
      wantedLayer: publication.layers.length - 1,
      targetLayer: video ? NO_LAYER : 0,
    });
  }

  /** The receiver starts from nothing: ask the sender for a keyframe now rather than waiting for the next one. */
  start(): void {
    if (this.publication.kind !== "video") return;
    const now = Date.now();
    this.startedAtMs = now;
    const fw = this.forwarder;
    fw.retarget(now, true, "sender");
    this.ask(fw.askKeyframe(fw.targetLayer, now, true));
  }

  /** Hot path: one call per packet of any layer of the publication. */
  onPacket(packet: RtpPacket, layer: number, keyframe: boolean): void {
    const now = Date.now();
    const src = packet.header;
    const fw = this.forwarder;
    let flags = fw.decide(layer, keyframe, src.sequenceNumber, src.timestamp, now);
    // A plain RTP receiver cannot ask for keyframes itself: refresh them while it may be starting.
    if (flags === FORWARD && this.publication.kind === "video" && keyframeRefreshDue(this.startedAtMs, fw.lastKeyframeAskMs, now)) {
      flags |= fw.askKeyframe(layer, now, false);
    }
    this.ask(flags);
    if (flags & FORWARD) this.forward(packet);
  }

  private ask(flags: number): void {
    if (flags & REQUEST_KEYFRAME) this.publication.requestKeyframe(this.forwarder.keyframeLayer, this.forwarder.keyframeUrgent);
  }

  private forward(packet: RtpPacket): void {
    const fw = this.forwarder;
    // A fresh buffer per packet: dgram may still hold it after send() returns, and the source
    // payload is shared with subscribers and the NACK cache, so it is never rewritten in place.
    const payload = packet.payload;
    const out = Buffer.allocUnsafe(RTP_HEADER_SIZE + payload.length);
    out[0] = 0x80; // V=2, no padding, no extension, no CSRC
    out[1] = (packet.header.marker ? 0x80 : 0) | this.payloadType;
    out.writeUInt16BE(fw.outSeq, 2);
    out.writeUInt32BE(fw.outTs, 4);
    out.writeUInt32BE(this.stream.ssrc, 8);
    payload.copy(out, RTP_HEADER_SIZE);
    this.vp8?.apply(out, RTP_HEADER_SIZE, out.length);
    this.packetsSent++;
    mediaCounters.rtpForwardingPacketsSent++;
    this.socket.send(out, this.port, this.address);
  }
}
