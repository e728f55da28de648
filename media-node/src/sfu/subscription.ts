import {
  RTP_EXTENSION_URI,
  RtpHeader,
  ntpTime,
  serializeAbsSendTime,
  serializeSdesMid,
  type GenericNack,
  type RtcpPacket,
  type RtpPacket,
  type RTCRtpTransceiver,
} from "werift";
import type { Publication } from "./publication.js";

// One outgoing copy of a publication for one subscriber (mediasoup's Consumer). Owns the
// subscriber leg's RTP identity: its SSRC, payload type, sequence and timestamp space, and
// header extensions (the publisher leg's are dropped: Chrome demuxes by MID first, so a
// forwarded publisher MID would misroute the packet; werift bug B1).

const SENT_RING = 2048; // outgoing seq -> source seq, for NACK answers
const SENT_MASK = SENT_RING - 1;
const NO_SOURCE = -1;

export class Subscription {
  paused = false;
  private ready = false;
  private payloadType = 0;
  private ssrc = 0;
  private midExtId = 0;
  private absSendTimeExtId = 0;
  private midBytes: Buffer = Buffer.alloc(0);
  /** Outgoing = source + offset (mod 2^16 / 2^32); recomputed when the source restarts. */
  private seqOffset = 0;
  private tsOffset = 0;
  private lastOutSeq = -1;
  private lastOutTs = 0;
  private lastOutWallMs = 0;
  private started = false;
  private readonly sentSource = new Int32Array(SENT_RING).fill(NO_SOURCE);
  private readonly headerScratch = new RtpHeader();
  packetsSent = 0;
  bytesSent = 0;
  retransmitted = 0;
  private readonly unsubscribers: (() => void)[] = [];

  constructor(
    readonly publication: Publication,
    readonly transceiver: RTCRtpTransceiver,
    readonly subscriberConnectionId: string,
    private readonly lossRate: number,
  ) {
    const sender = transceiver.sender;
    this.unsubscribers.push(
      sender.onGenericNack.subscribe((nack) => this.onNack(nack)).unSubscribe,
      sender.onPictureLossIndication.subscribe(() => this.publication.requestKeyframe()).unSubscribe,
      sender.onRtcp.subscribe((rtcp) => this.onRtcp(rtcp)).unSubscribe,
    );
  }

  /** Called after each negotiation: the negotiated PT, extension ids and MID become known. */
  refreshNegotiated(): void {
    const sender = this.transceiver.sender;
    const codec = sender.codec;
    const mid = this.transceiver.mid;
    if (!codec || mid == null) return;
    this.payloadType = codec.payloadType;
    this.ssrc = sender.ssrc;
    this.midBytes = serializeSdesMid(mid);
    this.midExtId = 0;
    this.absSendTimeExtId = 0;
    for (const ext of this.transceiver.headerExtensions) {
      if (ext.uri === RTP_EXTENSION_URI.sdesMid) this.midExtId = ext.id;
      else if (ext.uri === RTP_EXTENSION_URI.absSendTime) this.absSendTimeExtId = ext.id;
    }
    if (!this.ready) {
      this.ready = true;
      this.publication.requestKeyframe();
    }
  }

  /** Hot path: rewrite and send one packet to this subscriber. */
  forward(packet: RtpPacket, retransmission: boolean): void {
    if (!this.ready || this.paused) return;
    const dtls = this.transceiver.sender.dtlsTransport;
    if (!dtls || dtls.state !== "connected") return;
    const src = packet.header;
    if (!this.started) {
      // First packet after start or a rebase: continue the outgoing space where it stopped,
      // advancing the timestamp by the wall-clock time that passed so playout timing holds.
      const elapsedMs = this.lastOutWallMs === 0 ? 0 : Date.now() - this.lastOutWallMs;
      const tsAdvance = Math.max(1, Math.round((elapsedMs * this.publication.clockRate) / 1000));
      this.seqOffset = (this.lastOutSeq + 1 - src.sequenceNumber) & 0xffff;
      this.tsOffset = (this.lastOutTs + tsAdvance - src.timestamp) >>> 0;
      this.started = true;
    }
    const outSeq = (src.sequenceNumber + this.seqOffset) & 0xffff;
    const outTs = (src.timestamp + this.tsOffset) >>> 0;
    if (!retransmission) {
      this.sentSource[outSeq & SENT_MASK] = src.sequenceNumber;
      if (((outSeq - this.lastOutSeq) & 0xffff) < 0x8000) {
        this.lastOutSeq = outSeq;
        this.lastOutTs = outTs;
        this.lastOutWallMs = Date.now();
      }
      if (this.lossRate > 0 && Math.random() < this.lossRate) return;
    }
    const h = this.headerScratch;
    h.payloadType = this.payloadType;
    h.ssrc = this.ssrc;
    h.sequenceNumber = outSeq;
    h.timestamp = outTs;
    h.marker = src.marker;
    h.padding = false;
    h.paddingSize = 0;
    h.csrc = [];
    const extensions: { id: number; payload: Buffer }[] = [];
    if (this.midExtId) extensions.push({ id: this.midExtId, payload: this.midBytes });
    if (this.absSendTimeExtId) extensions.push({ id: this.absSendTimeExtId, payload: serializeAbsSendTime(ntpTime()) });
    h.extensions = extensions;
    h.extension = extensions.length > 0;
    h.extensionProfile = 0xbede;
    this.packetsSent++;
    this.bytesSent += packet.payload.length;
    // SRTP encryption serializes the header synchronously, so the scratch header can be reused.
    void dtls.sendRtp(packet.payload, h);
  }

  /**
   * Pausing stops relaying; resuming continues the subscriber's sequence space without a gap
   * (a gap would make the receiver NACK packets that were never meant for it) and asks the
   * sender for a keyframe so the picture comes back at once.
   */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    if (!paused) {
      this.started = false;
      this.publication.requestKeyframe(true);
    }
  }

  private onNack(nack: GenericNack): void {
    for (const outSeq of nack.lost) {
      const srcSeq = this.sentSource[outSeq & SENT_MASK]!;
      if (srcSeq === NO_SOURCE || ((srcSeq + this.seqOffset) & 0xffff) !== outSeq) continue;
      const packet = this.publication.cached(srcSeq);
      if (!packet) continue;
      this.retransmitted++;
      this.forward(packet, true);
    }
  }

  private onRtcp(rtcp: RtcpPacket): void {
    // FIR (PSFB fmt 4) is not surfaced by werift as an event; treat it like PLI.
    if (rtcp.type === 206 && (rtcp as { feedback?: { count?: number } }).feedback?.count === 4) {
      this.publication.requestKeyframe();
    }
  }

  close(): void {
    for (const un of this.unsubscribers) un();
    this.unsubscribers.length = 0;
    this.ready = false;
    this.publication.removeSubscription(this);
  }
}
