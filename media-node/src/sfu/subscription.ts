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
import { FORWARD, Forwarder, NOTIFY_SWITCH, NO_LAYER, REQUEST_KEYFRAME, type SwitchTrigger } from "../rtp/forwarder.js";
import { NACK_FOUND, NACK_SUPPRESSED, NackHistory } from "../rtp/nack-history.js";
import { SequenceRebaser } from "../rtp/sequence-rebaser.js";
import { Vp8Munger } from "../rtp/vp8-munger.js";
import { mediaCounters } from "./media-counters.js";
import type { SubscriberEgress } from "../transport/rtp-egress.js";
import { transportCounters } from "../transport/transport-counters.js";
import type { Publication } from "./publication.js";

// One outgoing copy of a publication for one subscriber (mediasoup's Consumer). Owns the
// subscriber leg's RTP identity: its SSRC, payload type, sequence and timestamp space, and
// header extensions (the publisher leg's are dropped: Chrome demuxes by MID first, so a
// forwarded publisher MID would misroute the packet; werift bug B1). Which packets go out,
// which layer is relayed and when the sender is asked for a keyframe is decided by its
// Forwarder (rtp/forwarder.ts); this class applies the decision: it sends, answers NACKs from
// its NackHistory, and tells its owner about layer switches.

/**
 * A subscriber's own PLI/FIR are passed on at most this often: a subscriber flooding keyframe
 * requests would otherwise make the publisher send a keyframe every 300 ms (the publication's
 * throttle) for everyone. The node's own requests (transport ready, resume, layer switch) are not limited.
 */
export const SUBSCRIBER_KEYFRAME_REQUEST_MIN_MS = 1_000;
export { RETRANSMIT_BURST, RETRANSMIT_MIN_INTERVAL_MS, RETRANSMIT_RATE_PPS } from "../rtp/nack-history.js";
export { NO_LAYER, type SwitchTrigger } from "../rtp/forwarder.js";

/**
 * Told when a simulcast subscription starts relaying another layer (Sora's `simulcast.switched`
 * notify). Called on the hot path but only at a switch, never per packet; `previous` is the
 * last layer relayed before (a pause with no layer in between does not count as one).
 */
export interface LayerSwitchListener {
  onLayerSwitched(sub: Subscription, previous: number, current: number, trigger: SwitchTrigger): void;
  /** The subscription closed (its owner drops it; called once, also when its publication closed it). */
  onSubscriptionClosed?(sub: Subscription): void;
}

export class Subscription {
  private ready = false;
  private closed = false;
  private payloadType = 0;
  private ssrc = 0;
  private midExtId = 0;
  private absSendTimeExtId = 0;
  /** Relay legs keep the publisher's audio level (the far node's spotlight reads it): the leg's negotiated id, 0 = not kept. */
  private audioLevelExtId = 0;
  private readonly keepAudioLevel: boolean;
  private midBytes: Buffer = Buffer.alloc(0);
  /** Layer choice, pause, keyframe pacing and the subscriber's sequence/timestamp space. */
  private readonly forwarder: Forwarder;
  /** Outgoing seq → what it carried, for NACK answers. */
  private readonly nackHistory = new NackHistory(Date.now());
  private lastSubscriberKeyframeRequestMs = -Infinity;
  private readonly headerScratch = new RtpHeader();
  private readonly vp8?: Vp8Munger;
  packetsSent = 0;
  bytesSent = 0;
  retransmitted = 0;
  private readonly unsubscribers: (() => void)[] = [];

  constructor(
    readonly publication: Publication,
    readonly transceiver: RTCRtpTransceiver,
    readonly subscriberConnectionId: string,
    /** Where rewritten packets go (transport/rtp-egress.ts); false from it = werift's sendRtp. */
    private readonly egress: SubscriberEgress,
    private readonly switchListener?: LayerSwitchListener,
    /**
     * A cluster relay leg (relay/relay-serving.ts): `pinnedLayer` is the one simulcast layer its
     * m-line carries (never another when it stops), and the audio-level extension is kept.
     */
    relayLeg?: { pinnedLayer?: number },
  ) {
    this.keepAudioLevel = relayLeg !== undefined && publication.kind === "audio";
    if (publication.codec === "VP8") this.vp8 = new Vp8Munger();
    const pinned = relayLeg?.pinnedLayer;
    this.forwarder = new Forwarder({
      layers: publication.layers,
      simulcast: publication.simulcast,
      video: publication.kind === "video",
      clockRate: publication.clockRate,
      rebaser: new SequenceRebaser(),
      vp8: this.vp8,
      // A single-layer track is relayed from its first packet; simulcast waits for a keyframe.
      startLayer: publication.simulcast ? NO_LAYER : 0,
      wantedLayer: pinned ?? 0,
      targetLayer: pinned ?? 0,
      pinned: pinned !== undefined,
    });
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

  get paused(): boolean {
    return this.forwarder.paused;
  }

  /** Layer the subscriber asked for (RequestRtpStream / simulcast_rid; NO_LAYER = none). */
  get wantedLayer(): number {
    return this.forwarder.wantedLayer;
  }

  /** The simulcast layer it is switching to (waiting for its keyframe), or relays now. */
  get targetLayer(): number {
    return this.forwarder.targetLayer;
  }

  /** The simulcast layer being relayed now (-1 before the first switch). */
  get relayedLayer(): number {
    return this.forwarder.currentLayer;
  }

  get layerSwitches(): number {
    return this.forwarder.layerSwitches;
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
      else if (this.keepAudioLevel && ext.uri === RTP_EXTENSION_URI.audioLevelIndication) this.audioLevelExtId = ext.id;
    }
    if (!this.ready) {
      this.ready = true;
      this.requestKeyframe();
    }
  }

  /** Changes the wanted simulcast layer (NO_LAYER = none); the switch happens on the next keyframe. */
  setWantedLayer(layer: number): void {
    const before = this.forwarder.wantedLayer;
    this.askIf(this.forwarder.setWantedLayer(layer, Date.now()));
    if (this.forwarder.wantedLayer !== before) this.publication.onDemandChanged?.();
  }

  /**
   * Pausing stops relaying; resuming continues the subscriber's sequence space without a gap
   * and asks the sender for a keyframe so the picture comes back at once.
   */
  setPaused(paused: boolean): void {
    this.askIf(this.forwarder.setPaused(paused, Date.now()));
  }

  /** Hot path: one call per packet of any layer of the publication (`keyframe` detected once by the publication). */
  onPacket(packet: RtpPacket, layer: number, keyframe: boolean, nowMs: number): void {
    if (!this.ready) return;
    const dtls = this.transceiver.sender.dtlsTransport;
    const src = packet.header;
    const fw = this.forwarder;
    // Packets before DTLS is connected are dropped; the forwarder then waits for a new keyframe.
    const flags = fw.decide(layer, keyframe, src.sequenceNumber, src.timestamp, nowMs, dtls !== undefined && dtls.state === "connected");
    if (flags === FORWARD) return this.forward(packet, layer);
    if (flags & REQUEST_KEYFRAME) this.publication.requestKeyframe(fw.keyframeLayer, fw.keyframeUrgent);
    if (flags & NOTIFY_SWITCH) {
      mediaCounters.simulcastLayerSwitches++; // the first layer relayed is no switch
      this.switchListener?.onLayerSwitched(this, fw.previousLayer, layer, fw.switchTrigger);
      this.publication.onDemandChanged?.();
    }
    if (flags & FORWARD) this.forward(packet, layer);
  }

  private askIf(flags: number): void {
    const fw = this.forwarder;
    if (flags & REQUEST_KEYFRAME) this.publication.requestKeyframe(fw.keyframeLayer, fw.keyframeUrgent);
  }

  /** The subscriber lost the picture (PLI/FIR, or transport up): ask the layer it is about to see. */
  requestKeyframe(urgent = false): void {
    this.askIf(this.forwarder.requestKeyframe(Date.now(), urgent));
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

  /** Sends one packet of `layer` with the forwarder's rewritten sequence number and timestamp. */
  private forward(packet: RtpPacket, layer: number): void {
    const fw = this.forwarder;
    const outSeq = fw.outSeq;
    this.nackHistory.record(outSeq, layer, packet.header.sequenceNumber, fw.tsOffset);
    this.send(packet, outSeq, fw.outTs);
  }

  private send(packet: RtpPacket, outSeq: number, outTs: number): void {
    const dtls = this.transceiver.sender.dtlsTransport;
    this.packetsSent++;
    this.bytesSent += packet.payload.length;
    mediaCounters.packetsForwarded++;
    mediaCounters.bytesForwarded += packet.payload.length;
    // Fast path (transport/rtp-egress.ts): header written into a send buffer, payload copied
    // after it, the VP8 descriptor rewritten in that copy, SRTP in place, straight to the ICE
    // socket; werift's sendRtp otherwise.
    // A relay audio leg keeping the audio level goes through werift's sendRtp (audio: ~50 packets/s).
    if (this.audioLevelExtId !== 0 || !this.egress.send(dtls, this.payloadType, packet.header.marker, outSeq, outTs, this.ssrc, this.midExtId, this.midBytes, this.absSendTimeExtId, packet.payload, this.vp8)) {
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
      if (this.audioLevelExtId) {
        const level = this.sourceAudioLevel(packet);
        if (level) extensions.push({ id: this.audioLevelExtId, payload: level });
      }
      h.extensions = extensions;
      h.extension = extensions.length > 0;
      h.extensionProfile = 0xbede;
      // The received payload is shared with other subscribers and the NACK cache: the VP8
      // rewrite goes into a copy (this fallback path allocates per packet anyway). werift
      // serializes synchronously, before sendRtp's first await, so the scratch header can be reused.
      let payload = packet.payload;
      if (this.vp8) {
        payload = Buffer.from(payload);
        this.vp8.apply(payload, 0, payload.length);
      }
      void dtls.sendRtp(payload, h);
    }
  }

  /** The publisher's audio-level extension payload in `packet`, if any. */
  private sourceAudioLevel(packet: RtpPacket): Buffer | undefined {
    const id = this.publication.audioLevelExtId;
    if (id === 0) return undefined;
    for (const ext of packet.header.extensions) if (ext.id === id) return ext.payload;
    return undefined;
  }

  /**
   * Resends NACKed packets from the publication's cache. A hostile subscriber can NACK thousands
   * of packets per RTCP packet and send RTCP as fast as it likes: NackHistory paces resends
   * (once per packet per RETRANSMIT_MIN_INTERVAL_MS, a token bucket per subscription).
   */
  private onNack(nack: GenericNack): void {
    const nowMs = Date.now();
    const history = this.nackHistory;
    history.refill(nowMs);
    const lost = nack.lost;
    mediaCounters.nacksReceived++;
    mediaCounters.nackedPackets += lost.length;
    for (let i = 0; i < lost.length; i++) {
      const outSeq = lost[i]!;
      const found = history.lookup(outSeq, nowMs);
      if (found === NACK_SUPPRESSED) transportCounters.nackRetransmissionsSuppressed++;
      if (found !== NACK_FOUND) continue;
      const packet = this.publication.layers[history.layer]?.cached(history.sourceSeq);
      if (!packet) continue;
      history.resent(outSeq, nowMs);
      this.retransmitted++;
      mediaCounters.nackPacketsResent++;
      this.send(packet, outSeq, (packet.header.timestamp + history.tsOffset) >>> 0);
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
    if (this.closed) return;
    this.closed = true;
    for (const un of this.unsubscribers) un();
    this.unsubscribers.length = 0;
    this.ready = false;
    this.publication.removeSubscription(this);
    this.switchListener?.onSubscriptionClosed?.(this);
  }
}
