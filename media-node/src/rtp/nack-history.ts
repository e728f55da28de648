// What one outgoing leg sent, by its own sequence number, so a receiver's NACK (RFC 4585 §6.2.1)
// can be answered from the source's packet cache: outgoing seq → (layer, source seq, timestamp
// offset), a ring of typed arrays (LiveKit's sequencer.go, Galène's packetmap). A hostile
// receiver can NACK thousands of packets per RTCP packet as often as it likes, so resends are
// paced here too: each packet at most once per RETRANSMIT_MIN_INTERVAL_MS, and a token bucket
// of RETRANSMIT_RATE_PPS per leg. No allocation; results are left in fields.

// Power of two. The publication keeps the last 1024 packets of each layer (CACHE_SIZE); the
// outgoing packets of a subscription map one to one onto the relayed layer's, so entries older
// than 1024 outgoing packets point at packets its cache no longer holds. (2048 was 14 KiB more per
// subscription, ≈ 28 KiB of RSS per subscriber.)
const RING = 1024;
const MASK = RING - 1;
const NO_SOURCE = -1;
const RESENT_NEVER = -0x40000000;

/** A packet is resent at most once per this interval, however often it is NACKed. */
export const RETRANSMIT_MIN_INTERVAL_MS = 20;
/** Retransmissions per leg: a token bucket of this many packets per second and burst. */
export const RETRANSMIT_RATE_PPS = 400;
export const RETRANSMIT_BURST = 400;

/** lookup(): never sent (or overwritten since), sent but not to be resent now, or found. */
export const NACK_UNKNOWN = 0;
export const NACK_SUPPRESSED = 1;
export const NACK_FOUND = 2;

export class NackHistory {
  /** Found by lookup(). */
  layer = 0;
  sourceSeq = 0;
  tsOffset = 0;
  /** Per slot: source seq | layer << 16 (NO_SOURCE if empty), the outgoing seq, the timestamp offset. */
  private readonly source = new Int32Array(RING).fill(NO_SOURCE);
  private readonly outSeq = new Uint16Array(RING);
  private readonly tsOffsets = new Uint32Array(RING);
  /** Per slot: when it was last resent (ms since `originMs`), RESENT_NEVER if not since it was sent. */
  private readonly resentAtMs = new Int32Array(RING).fill(RESENT_NEVER);
  private tokens = RETRANSMIT_BURST;
  private refilledAtMs = 0;

  /** `originMs`: times are kept relative to it so they fit an Int32Array. */
  constructor(private readonly originMs: number) {}

  /** Hot path: `outSeq` went out carrying `sourceSeq` of `layer`, its timestamp shifted by `tsOffset`. */
  record(outSeq: number, layer: number, sourceSeq: number, tsOffset: number): void {
    const slot = outSeq & MASK;
    this.source[slot] = sourceSeq | (layer << 16);
    this.outSeq[slot] = outSeq;
    this.tsOffsets[slot] = tsOffset;
    this.resentAtMs[slot] = RESENT_NEVER;
  }

  /** Start of one NACK's list: refills the token bucket for the time that passed. */
  refill(nowMs: number): void {
    const t = nowMs - this.originMs;
    this.tokens = Math.min(RETRANSMIT_BURST, this.tokens + ((t - this.refilledAtMs) * RETRANSMIT_RATE_PPS) / 1000);
    this.refilledAtMs = t;
  }

  /** What `outSeq` carried (in `layer`/`sourceSeq`/`tsOffset` when NACK_FOUND), and whether it may be resent now. */
  lookup(outSeq: number, nowMs: number): number {
    const slot = outSeq & MASK;
    const source = this.source[slot]!;
    // A sequence number a ring's length older than the one in its slot is gone.
    if (source === NO_SOURCE || this.outSeq[slot] !== outSeq) return NACK_UNKNOWN;
    if (nowMs - this.originMs - this.resentAtMs[slot]! < RETRANSMIT_MIN_INTERVAL_MS || this.tokens < 1) return NACK_SUPPRESSED;
    this.layer = source >>> 16;
    this.sourceSeq = source & 0xffff;
    this.tsOffset = this.tsOffsets[slot]!;
    return NACK_FOUND;
  }

  /** The packet lookup() found is being resent: spends a token and starts its interval. */
  resent(outSeq: number, nowMs: number): void {
    this.resentAtMs[outSeq & MASK] = nowMs - this.originMs;
    this.tokens--;
  }
}
