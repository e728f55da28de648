/**
 * One outgoing RTP sequence/timestamp space fed by source streams that change under it (a
 * simulcast layer switch, a resume after pause, a forward's first packet). After `restart()` the
 * next packet continues the output where it stopped: sequence number + 1, timestamp advanced by
 * the wall-clock time that passed, so the receiver sees neither a gap to NACK nor a jump in
 * playout timing. `map()` leaves its result in `outSeq`/`outTs` (hot path: no allocation).
 */
export class SequenceRebaser {
  /** Outgoing = source + offset (mod 2^16 / 2^32); recomputed on the first packet after restart(). */
  tsOffset = 0;
  outSeq = 0;
  outTs = 0;
  private seqOffset = 0;
  private started = false;
  private lastOutWallMs = 0;

  /** `lastOutSeq` -1: the first packet goes out as sequence 0. */
  constructor(
    private lastOutSeq = -1,
    private lastOutTs = 0,
  ) {}

  restart(): void {
    this.started = false;
  }

  map(sourceSeq: number, sourceTs: number, clockRate: number, nowMs: number): void {
    if (!this.started) {
      const elapsedMs = this.lastOutWallMs === 0 ? 0 : nowMs - this.lastOutWallMs;
      const tsAdvance = Math.max(1, Math.round((elapsedMs * clockRate) / 1000));
      this.seqOffset = (this.lastOutSeq + 1 - sourceSeq) & 0xffff;
      this.tsOffset = (this.lastOutTs + tsAdvance - sourceTs) >>> 0;
      this.started = true;
    }
    const outSeq = (sourceSeq + this.seqOffset) & 0xffff;
    const outTs = (sourceTs + this.tsOffset) >>> 0;
    // Only a packet newer than the last one sent moves the continuation point (not a reordered one).
    if (((outSeq - this.lastOutSeq) & 0xffff) < 0x8000 || this.lastOutSeq < 0) {
      this.lastOutSeq = outSeq;
      this.lastOutTs = outTs;
      this.lastOutWallMs = nowMs;
    }
    this.outSeq = outSeq;
    this.outTs = outTs;
  }
}
