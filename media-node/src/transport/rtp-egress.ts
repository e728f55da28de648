import type { RTCDtlsTransport } from "werift";
import { absSendTime, writeRtpHeader } from "../rtp/rtp-header.js";
import { packVp8, writeVp8, type Vp8Munger } from "../rtp/vp8-munger.js";
import { FastTransport, SRTP_PROFILE_AES128_CM_HMAC_SHA1_80 } from "./fast-transport.js";
import { setSrtpProfiles } from "./werift-patches.js";

// The send side of one subscriber leg on the fast path. With the native addon the packet is only
// described (a row: header fields, ROC, destination, the VP8 rewrite, the shared payload) and the
// addon builds, protects and sends a whole fan-out's rows in one call (FastTransport.queueRtp).
// Without it: header written straight into a slab buffer (MID + abs-send-time rebuilt, publisher
// extensions dropped), payload copied after it, VP8 descriptor rewritten in that copy (never in
// the shared payload), SRTP-protected in place and handed to the ICE pair's socket. Falls back
// (returns false) when the fast path is off or the transport cannot take it; the caller then uses
// werift's sendRtp.

let enabled = false;

/**
 * Turns the fast media path on or off for this process. On: DTLS-SRTP is restricted to
 * AES_CM_128_HMAC_SHA1_80 for every later handshake (the profile the fast path implements).
 */
export function configureFastPath(on: boolean): void {
  enabled = on;
  setSrtpProfiles(on ? [SRTP_PROFILE_AES128_CM_HMAC_SHA1_80] : undefined);
}

export function fastPathEnabled(): boolean {
  return enabled;
}

/** Largest header writeRtpHeader produces besides the MID bytes: 12 + 4 (ext header) + 1 (MID id) + 4 (abs-send-time) + 3 (padding). */
const HEADER_OVERHEAD = 24;

/**
 * How a subscription hands one rewritten packet to the network. `RtpEgress` below is the one the
 * node uses; a test may wrap it (config `subscriberEgress`, e.g. a lossy link in
 * test/support/lossy-egress.ts) so the subscription itself carries no test branch.
 */
export interface SubscriberEgress {
  /**
   * True when the packet was taken (sent, or deliberately dropped by a wrapper); false when
   * nothing was done and the caller must send it through werift's sendRtp.
   */
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
  ): boolean;
}

export class RtpEgress implements SubscriberEgress {
  private fast?: FastTransport;
  private dtls?: RTCDtlsTransport;

  /** Sends one rewritten packet; false if the fast path is unavailable (nothing was sent). */
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
    if (!enabled) return false;
    let fast = this.fast;
    if (fast === undefined || this.dtls !== dtls) {
      fast = FastTransport.of(dtls);
      if (fast === undefined) return false;
      this.fast = fast;
      this.dtls = dtls;
    }
    // With the addon the packet is only described here and built natively at the batch's flush.
    let vp8Bits = 0;
    if (vp8 !== undefined && vp8.rewrite(payload, 0, payload.length)) vp8Bits = packVp8(vp8.pictureIdOut, vp8.tl0Out);
    if (fast.queueRtp(payloadType, marker, sequenceNumber, timestamp, ssrc, midId, mid, absSendTimeId, payload, vp8Bits)) return true;
    const buf = fast.allocate(HEADER_OVERHEAD + mid.length + payload.length);
    const h = writeRtpHeader(buf, payloadType, marker, sequenceNumber, timestamp, ssrc, midId, mid, absSendTimeId, absSendTime(Date.now()));
    buf.set(payload, h);
    if (vp8Bits !== 0) writeVp8(buf, h, h + payload.length, vp8Bits);
    return fast.sendRtp(buf, h, h + payload.length);
  }
}
