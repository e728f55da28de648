import { randomInt } from "node:crypto";
import type { Socket } from "node:dgram";
import type { RtpPacket } from "werift";
import { SequenceRebaser } from "../rtp/sequence-rebaser.js";
import { Vp8Munger } from "../rtp/vp8-munger.js";
import type { PacketTap, Publication } from "../sfu/publication.js";

// One track of an RTP forward: a tap on a publication that re-sends its packets as plain RTP
// (no SRTP, no header extensions, no RTCP) to one UDP port. The receiver sees a single stream
// with its own SSRC and a continuous sequence/timestamp space, like a subscriber leg
// (sfu/subscription.ts): video starts on a keyframe so the receiver's first picture decodes,
// and a simulcast source is forwarded from its highest active layer, switching on keyframes.

const RTP_HEADER_SIZE = 12;
const NO_LAYER = -1;
/** While waiting for a keyframe, re-ask this often (the first PLI may be lost or ignored). */
const KEYFRAME_RETRY_MS = 500;

export class RtpLeg implements PacketTap {
  /** RFC 3550: random SSRC and initial sequence number/timestamp. */
  private readonly ssrc = randomInt(1, 0xffffffff);
  private readonly rebaser = new SequenceRebaser(randomInt(0, 0x10000), randomInt(0, 0xffffffff));
  /** Layer being forwarded (NO_LAYER until the first keyframe for video) and the one chased. */
  private currentLayer: number;
  private targetLayer = NO_LAYER;
  private lastKeyframeAskMs = 0;
  private readonly vp8?: Vp8Munger;
  packetsSent = 0;

  constructor(
    readonly publication: Publication,
    private readonly socket: Socket,
    private readonly address: string,
    readonly port: number,
    private readonly payloadType: number,
  ) {
    this.currentLayer = publication.kind === "video" ? NO_LAYER : 0;
    // Simulcast layers have unrelated picture ids; receivers treat a jump as loss.
    if (publication.codec === "VP8") this.vp8 = new Vp8Munger();
  }

  /** The receiver starts from nothing: ask the sender for a keyframe now rather than waiting for the next one. */
  start(): void {
    if (this.publication.kind !== "video") return;
    const now = Date.now();
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
    out.writeUInt32BE(this.ssrc, 8);
    payload.copy(out, RTP_HEADER_SIZE);
    this.vp8?.apply(out.subarray(RTP_HEADER_SIZE));
    this.packetsSent++;
    this.socket.send(out, this.port, this.address);
  }
}
