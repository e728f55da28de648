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
import { SequenceRebaser } from "../rtp/sequence-rebaser.js";
import { Vp8Munger } from "../rtp/vp8-munger.js";
import { mediaCounters } from "./media-counters.js";
import { RtpEgress } from "../transport/rtp-egress.js";
import { transportCounters } from "../transport/transport-counters.js";
import type { Publication } from "./publication.js";

// One outgoing copy of a publication for one subscriber (mediasoup's Consumer). Owns the
// subscriber leg's RTP identity: its SSRC, payload type, sequence and timestamp space, and
// header extensions (the publisher leg's are dropped: Chrome demuxes by MID first, so a
// forwarded publisher MID would misroute the packet; werift bug B1). For simulcast it picks
// which layer to relay and switches only on a keyframe of the new layer, continuing sequence
// numbers, timestamps and (VP8) picture ids so the decoder never sees a jump.

const SENT_RING = 2048; // outgoing seq -> (layer, source seq), for NACK answers
const SENT_MASK = SENT_RING - 1;
const NO_SOURCE = -1;
const RESENT_NEVER = -0x40000000;
/** While waiting for a keyframe of the target layer, re-ask this often (the first PLI may be lost). */
const KEYFRAME_RETRY_MS = 500;
/**
 * A subscriber's own PLI/FIR are passed on at most this often: a subscriber flooding keyframe
 * requests would otherwise make the publisher send a keyframe every 300 ms (the publication's
 * throttle) for everyone. The node's own requests (transport ready, resume, layer switch) are not limited.
 */
export const SUBSCRIBER_KEYFRAME_REQUEST_MIN_MS = 1_000;
/** A packet is resent at most once per this interval, however often it is NACKed. */
export const RETRANSMIT_MIN_INTERVAL_MS = 20;
/** Retransmissions per subscription: a token bucket of this many packets per second and burst. */
export const RETRANSMIT_RATE_PPS = 400;
export const RETRANSMIT_BURST = 400;
/** No layer wanted (spotlight unfocus "none"). */
export const NO_LAYER = -1;

/** What moved the relayed layer: the receiver's choice (request, spotlight rid) or the sender's layers starting/stopping. */
export type SwitchTrigger = "receiver" | "sender";

/**
 * Told when a simulcast subscription starts relaying another layer (Sora's `simulcast.switched`
 * notify). Called on the hot path but only at a switch, never per packet; `previous` is the
 * last layer relayed before (a pause with no layer in between does not count as one).
 */
export interface LayerSwitchListener {
  onLayerSwitched(sub: Subscription, previous: number, current: number, trigger: SwitchTrigger): void;
}

export class Subscription {
  paused = false;
  private ready = false;
  private payloadType = 0;
  private ssrc = 0;
  private midExtId = 0;
  private absSendTimeExtId = 0;
  private midBytes: Buffer = Buffer.alloc(0);
  /** The subscriber's sequence/timestamp space; restarted whenever the source changes. */
  private readonly rebaser = new SequenceRebaser();
  /** Per outgoing seq: source seq | layer << 16, and the timestamp offset it was sent with. */
  private readonly sentSource = new Int32Array(SENT_RING).fill(NO_SOURCE);
  private readonly sentTsOffset = new Uint32Array(SENT_RING);
  /** Per outgoing seq: when it was last resent (ms since `createdMs`), RESENT_NEVER if not since it was sent. */
  private readonly resentAtMs = new Int32Array(SENT_RING).fill(RESENT_NEVER);
  private readonly createdMs = Date.now();
  private retransmitTokens = RETRANSMIT_BURST;
  private retransmitRefillMs = 0;
  private lastSubscriberKeyframeRequestMs = -Infinity;
  /**
   * Video: no keyframe has reached the subscriber since its transport came up (or since a
   * resume); packets before DTLS is connected are dropped, so the first one forwarded after
   * that asks the publisher, and it is asked again every KEYFRAME_RETRY_MS until a keyframe
   * has been forwarded.
   */
  private awaitingKeyframe: boolean;
  private readonly headerScratch = new RtpHeader();
  private readonly egress = new RtpEgress();
  private readonly vp8?: Vp8Munger;
  /** Layer the subscriber asked for (RequestRtpStream / simulcast_rid), the one being chased, the one relayed. */
  wantedLayer = 0;
  private targetLayer = 0;
  private currentLayer: number;
  /** The last real layer relayed (NO_LAYER before the first): `previous_rid` of the next switch. */
  private lastRelayedLayer = NO_LAYER;
  /** Why the target last changed; reported with the switch it leads to. */
  private targetTrigger: SwitchTrigger = "receiver";
  private lastKeyframeAskMs = 0;
  layerSwitches = 0;
  packetsSent = 0;
  bytesSent = 0;
  retransmitted = 0;
  private readonly unsubscribers: (() => void)[] = [];

  constructor(
    readonly publication: Publication,
    readonly transceiver: RTCRtpTransceiver,
    readonly subscriberConnectionId: string,
    private readonly lossRate: number,
    private readonly switchListener?: LayerSwitchListener,
  ) {
    // A single-layer track is relayed from its first packet; simulcast waits for a keyframe.
    this.currentLayer = publication.simulcast ? NO_LAYER : 0;
    this.awaitingKeyframe = publication.kind === "video";
    if (publication.codec === "VP8") this.vp8 = new Vp8Munger();
    const sender = transceiver.sender;
    this.unsubscribers.push(
      sender.onGenericNack.subscribe((nack) => this.onNack(nack)).unSubscribe,
      sender.onPictureLossIndication.subscribe(() => {
        mediaCounters.pliReceived++;
        this.onSubscriberKeyframeRequest();
      }).unSubscribe,
      sender.onRtcp.subscribe((rtcp) => this.onRtcp(rtcp)).unSubscribe,
    );
  }

  /** The simulcast layer being relayed now (-1 before the first switch). */
  get relayedLayer(): number {
    return this.currentLayer;
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
      this.requestKeyframe();
    }
  }

  /** Changes the wanted simulcast layer (NO_LAYER = none); the switch happens on the next keyframe. */
  setWantedLayer(layer: number): void {
    if (!this.publication.simulcast || this.wantedLayer === layer) return;
    this.wantedLayer = layer;
    this.retarget(Date.now(), true, "receiver");
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
      this.rebaser.restart();
      this.vp8?.rebase();
      if (this.publication.kind === "video") this.awaitingKeyframe = true;
      this.requestKeyframe(true);
    }
  }

  /** Hot path: one call per packet of any layer of the publication. */
  onPacket(packet: RtpPacket, layer: number, nowMs: number): void {
    if (!this.ready || this.paused) return;
    if (!this.publication.simulcast) return this.forward(packet, layer, nowMs);
    this.retarget(nowMs, false, "sender");
    if (layer === this.currentLayer && this.currentLayer === this.targetLayer) return this.forward(packet, layer, nowMs);
    if (layer === this.targetLayer && this.targetLayer !== NO_LAYER) {
      if (this.publication.isKeyframe(packet.payload)) {
        const previous = this.lastRelayedLayer;
        this.currentLayer = layer;
        this.lastRelayedLayer = layer;
        this.layerSwitches++;
        if (this.layerSwitches > 1) mediaCounters.simulcastLayerSwitches++; // the first layer relayed is no switch
        this.rebaser.restart();
        this.vp8?.rebase();
        // The first layer relayed is no switch (the receiver asked for it at connect).
        if (previous !== NO_LAYER && previous !== layer) this.switchListener?.onLayerSwitched(this, previous, layer, this.targetTrigger);
        return this.forward(packet, layer, nowMs);
      }
      if (nowMs - this.lastKeyframeAskMs > KEYFRAME_RETRY_MS) this.askKeyframe(this.targetLayer, nowMs, false);
    }
    // Keep relaying the current layer until the target's keyframe arrives (no picture gap).
    if (layer === this.currentLayer && this.targetLayer !== NO_LAYER) this.forward(packet, layer, nowMs);
  }

  /** Picks the layer to chase: the wanted one if it is being sent, else the highest lower one, else the lowest higher one. */
  private retarget(nowMs: number, urgent: boolean, trigger: SwitchTrigger): void {
    const pub = this.publication;
    let target = NO_LAYER;
    if (this.wantedLayer !== NO_LAYER) {
      target = pub.bestActiveLayer(this.wantedLayer, nowMs);
      if (target === NO_LAYER) {
        for (let i = this.wantedLayer + 1; i < pub.layers.length; i++) {
          if (pub.layers[i]!.isActive(nowMs)) {
            target = i;
            break;
          }
        }
      }
      // Nothing is active yet (start of the stream): aim at the wanted layer.
      if (target === NO_LAYER) target = this.wantedLayer;
    }
    if (target === this.targetLayer) return;
    this.targetLayer = target;
    this.targetTrigger = trigger;
    if (target === NO_LAYER) {
      this.currentLayer = NO_LAYER;
      return;
    }
    if (target !== this.currentLayer) this.askKeyframe(target, nowMs, urgent);
  }

  private askKeyframe(layer: number, nowMs: number, urgent: boolean): void {
    this.lastKeyframeAskMs = nowMs;
    this.publication.requestKeyframe(layer, urgent);
  }

  /** The subscriber lost the picture (PLI/FIR, or resume): ask the layer it is about to see. */
  requestKeyframe(urgent = false): void {
    const layer = this.publication.simulcast ? (this.targetLayer === NO_LAYER ? NO_LAYER : this.targetLayer) : 0;
    if (layer !== NO_LAYER) this.askKeyframe(layer, Date.now(), urgent);
  }

  /** PLI/FIR from the subscriber: passed on unless it asked less than SUBSCRIBER_KEYFRAME_REQUEST_MIN_MS ago. */
  private onSubscriberKeyframeRequest(): void {
    const nowMs = Date.now();
    if (nowMs - this.lastSubscriberKeyframeRequestMs < SUBSCRIBER_KEYFRAME_REQUEST_MIN_MS) {
      transportCounters.keyframeRequestsSuppressed++;
      return;
    }
    this.lastSubscriberKeyframeRequestMs = nowMs;
    this.requestKeyframe();
  }

  /** Rewrites and sends one packet of `layer` in the subscriber's sequence space. */
  private forward(packet: RtpPacket, layer: number, nowMs: number): void {
    const dtls = this.transceiver.sender.dtlsTransport;
    if (!dtls || dtls.state !== "connected") {
      // Dropped: whatever keyframe this was, the subscriber will need another once connected.
      this.awaitingKeyframe = this.publication.kind === "video";
      return;
    }
    if (this.awaitingKeyframe) {
      if (this.publication.isKeyframe(packet.payload)) this.awaitingKeyframe = false;
      else if (nowMs - this.lastKeyframeAskMs >= KEYFRAME_RETRY_MS) this.askKeyframe(layer, nowMs, false);
    }
    const src = packet.header;
    const out = this.rebaser;
    out.map(src.sequenceNumber, src.timestamp, this.publication.clockRate, nowMs);
    const outSeq = out.outSeq;
    this.sentSource[outSeq & SENT_MASK] = src.sequenceNumber | (layer << 16);
    this.sentTsOffset[outSeq & SENT_MASK] = out.tsOffset;
    this.resentAtMs[outSeq & SENT_MASK] = RESENT_NEVER;
    if (this.lossRate > 0 && Math.random() < this.lossRate) return;
    this.send(packet, outSeq, out.outTs);
  }

  private send(packet: RtpPacket, outSeq: number, outTs: number): void {
    const dtls = this.transceiver.sender.dtlsTransport;
    this.packetsSent++;
    this.bytesSent += packet.payload.length;
    mediaCounters.packetsForwarded++;
    mediaCounters.bytesForwarded += packet.payload.length;
    // The VP8 rewrite is applied to the shared payload and undone right after: the fast path
    // copies it into its send buffer, werift's SRTP serializes it synchronously (before
    // sendRtp's first await), so the scratch header can be reused too.
    const vp8 = this.vp8;
    if (vp8) vp8.apply(packet.payload);
    // Fast path (transport/rtp-egress.ts): header written into a send buffer, payload copied
    // after it, SRTP in place, straight to the ICE socket; werift's sendRtp otherwise.
    if (!this.egress.send(dtls, this.payloadType, packet.header.marker, outSeq, outTs, this.ssrc, this.midExtId, this.midBytes, this.absSendTimeExtId, packet.payload)) {
      const h = this.headerScratch;
      h.payloadType = this.payloadType;
      h.ssrc = this.ssrc;
      h.sequenceNumber = outSeq;
      h.timestamp = outTs;
      h.marker = packet.header.marker;
      h.padding = false;
      h.paddingSize = 0;
      h.csrc = [];
      const extensions: { id: number; payload: Buffer }[] = [];
      if (this.midExtId) extensions.push({ id: this.midExtId, payload: this.midBytes });
      if (this.absSendTimeExtId) extensions.push({ id: this.absSendTimeExtId, payload: serializeAbsSendTime(ntpTime()) });
      h.extensions = extensions;
      h.extension = extensions.length > 0;
      h.extensionProfile = 0xbede;
      void dtls.sendRtp(packet.payload, h);
    }
    if (vp8) vp8.restore(packet.payload);
  }

  /**
   * Resends NACKed packets from the publication's cache. A hostile subscriber can NACK thousands
   * of packets per RTCP packet and send RTCP as fast as it likes: each packet is resent at most
   * once per RETRANSMIT_MIN_INTERVAL_MS and the subscription's resends are a token bucket.
   */
  private onNack(nack: GenericNack): void {
    const nowMs = Date.now() - this.createdMs;
    this.retransmitTokens = Math.min(RETRANSMIT_BURST, this.retransmitTokens + ((nowMs - this.retransmitRefillMs) * RETRANSMIT_RATE_PPS) / 1000);
    this.retransmitRefillMs = nowMs;
    const lost = nack.lost;
    mediaCounters.nacksReceived++;
    mediaCounters.nackedPackets += lost.length;
    for (let i = 0; i < lost.length; i++) {
      const slot = lost[i]! & SENT_MASK;
      const source = this.sentSource[slot]!;
      if (source === NO_SOURCE) continue;
      if (nowMs - this.resentAtMs[slot]! < RETRANSMIT_MIN_INTERVAL_MS || this.retransmitTokens < 1) {
        transportCounters.nackRetransmissionsSuppressed++;
        continue;
      }
      const layer = this.publication.layers[source >>> 16];
      const packet = layer?.cached(source & 0xffff);
      if (!packet) continue;
      const tsOffset = this.sentTsOffset[slot]!;
      this.resentAtMs[slot] = nowMs;
      this.retransmitTokens--;
      const outSeq = lost[i]!;
      this.retransmitted++;
      mediaCounters.nackPacketsResent++;
      this.send(packet, outSeq, (packet.header.timestamp + tsOffset) >>> 0);
    }
  }

  private onRtcp(rtcp: RtcpPacket): void {
    // FIR (PSFB fmt 4) is not surfaced by werift as an event; treat it like PLI.
    if (rtcp.type === 206 && (rtcp as { feedback?: { count?: number } }).feedback?.count === 4) {
      mediaCounters.firReceived++;
      this.onSubscriberKeyframeRequest();
    }
  }

  close(): void {
    for (const un of this.unsubscribers) un();
    this.unsubscribers.length = 0;
    this.ready = false;
    this.publication.removeSubscription(this);
  }
}
