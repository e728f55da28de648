import type { RTCDtlsTransport } from "werift";
import type { SubscriberLeg } from "../../media-node/src/config.js";
import type { Vp8Munger } from "../../media-node/src/rtp/vp8-munger.js";
import { RtpEgress, type SubscriberEgress } from "../../media-node/src/transport/rtp-egress.js";

// A lossy link between the node and one subscriber (with loss 0: a probe of which send path
// each packet took): installed through the node's
// `subscriberEgress` config hook, it drops a fraction of the subscription's outgoing RTP at the
// send step (first transmissions and NACK answers alike, as a real lossy path would) and passes the rest
// to the node's own RtpEgress (or, when that declines, to werift's sendRtp as usual).
export class LossyEgress implements SubscriberEgress {
  dropped = 0;
  passed = 0;
  /** Passed packets the inner egress declined, so the subscription sent them with werift's sendRtp (fast path off). */
  declined = 0;

  constructor(
    private readonly lossRate: number,
    private readonly inner: SubscriberEgress = new RtpEgress(),
    private readonly random: () => number = Math.random,
  ) {}

  send(
    dtls: RTCDtlsTransport,
    payloadType: number,
    marker: boolean,
    sequenceNumber: number,
    timestamp: number,
    ssrc: number,
    midId: number,
    mid: Buffer,
    absSendTimeId: number,
    payload: Uint8Array,
    vp8?: Vp8Munger,
  ): boolean {
    if (this.random() < this.lossRate) {
      this.dropped++;
      return true; // taken: nothing goes out, not even through werift
    }
    this.passed++;
    const taken = this.inner.send(dtls, payloadType, marker, sequenceNumber, timestamp, ssrc, midId, mid, absSendTimeId, payload, vp8);
    if (!taken) this.declined++;
    return taken;
  }
}

/**
 * A `subscriberEgress` hook making every subscription for which `lossy(leg)` holds a LossyEgress;
 * the others get the plain RtpEgress. `links` lists the lossy ones created, for assertions.
 */
export function lossySubscriberEgress(lossRate: number, lossy: (leg: SubscriberLeg) => boolean = () => true) {
  const links: { leg: SubscriberLeg; egress: LossyEgress }[] = [];
  const hook = (leg: SubscriberLeg): SubscriberEgress => {
    if (!lossy(leg)) return new RtpEgress();
    const egress = new LossyEgress(lossRate);
    links.push({ leg, egress });
    return egress;
  };
  return { hook, links };
}
