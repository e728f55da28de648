// VP8 picture id and TL0PICIDX continuity for one outgoing stream (LiveKit's codecmunger). When a
// leg switches simulcast layers (or resumes) the new source's counters are unrelated to the old
// one's; Chrome's VP8 depacketizer treats a jump as loss and stalls until the next keyframe.
// The rewrite is made in the outgoing packet's own buffer, after the payload was copied into it
// (transport/rtp-egress.ts, egress/rtp-leg.ts): never in the received payload, which other legs
// and the publication's NACK cache share.

export class Vp8Munger {
  private pictureIdOffset = 0;
  private tl0Offset = 0;
  private lastPictureId = -1;
  private lastTl0 = -1;
  private rebasePending = true;

  /** Next packet starts a new source (layer switch, resume): continue the counters from where they were. */
  rebase(): void {
    this.rebasePending = true;
  }

  /** Results of the last rewrite(): the outgoing picture id / TL0PICIDX, -1 where the descriptor has none. */
  pictureIdOut = -1;
  tl0Out = -1;

  /** Rewrites the VP8 payload descriptor of the outgoing payload at `out[start, end)` in place. */
  apply(out: Uint8Array, start: number, end: number): void {
    if (this.rewrite(out, start, end)) writeVp8(out, start, end, packVp8(this.pictureIdOut, this.tl0Out));
  }

  /**
   * Advances the counters for the payload at `src[start, end)` without writing it: the values to
   * write are left in pictureIdOut/tl0Out (the native fast path writes them into its own copy,
   * media-node/native/fastpath.c write_vp8, parsing the descriptor the same way). False when
   * the descriptor is too short or has no extension (nothing to write).
   */
  rewrite(src: Uint8Array, start: number, end: number): boolean {
    this.pictureIdOut = -1;
    this.tl0Out = -1;
    if (end - start < 3 || (src[start]! & 0x80) === 0) return false;
    const x = src[start + 1]!;
    let i = start + 2;
    if (x & 0x80) {
      const long = (src[i]! & 0x80) !== 0;
      if (long && i + 1 >= end) return false;
      const pid = long ? ((src[i]! & 0x7f) << 8) | src[i + 1]! : src[i]! & 0x7f;
      const mask = long ? 0x7fff : 0x7f;
      if (this.rebasePending) {
        this.pictureIdOffset = this.lastPictureId < 0 ? 0 : (this.lastPictureId + 1 - pid) & mask;
      }
      const pidOut = (pid + this.pictureIdOffset) & mask;
      this.pictureIdOut = pidOut;
      i += long ? 2 : 1;
      if (((pidOut - this.lastPictureId) & mask) < mask >> 1 || this.lastPictureId < 0) this.lastPictureId = pidOut;
    }
    if (x & 0x40 && i < end) {
      const tl0 = src[i]!;
      if (this.rebasePending) this.tl0Offset = this.lastTl0 < 0 ? 0 : (this.lastTl0 + 1 - tl0) & 0xff;
      const tl0Out = (tl0 + this.tl0Offset) & 0xff;
      this.tl0Out = tl0Out;
      if (((tl0Out - this.lastTl0) & 0xff) < 0x80 || this.lastTl0 < 0) this.lastTl0 = tl0Out;
    }
    this.rebasePending = false;
    return true;
  }
}

/** The munger's rewrite as fastpath.c's ROW_VP8 word: pictureId (15) | tl0 << 15 (8) | has pictureId << 23 | has tl0 << 24; 0 = nothing. */
export function packVp8(pictureIdOut: number, tl0Out: number): number {
  let bits = 0;
  if (pictureIdOut >= 0) bits |= (pictureIdOut & 0x7fff) | (1 << 23);
  if (tl0Out >= 0) bits |= (tl0Out & 0xff) << 15 | (1 << 24);
  return bits;
}

/** Writes a packed rewrite (packVp8) into the VP8 descriptor at out[start, end), as fastpath.c write_vp8 does. */
export function writeVp8(out: Uint8Array, start: number, end: number, bits: number): void {
  if (end - start < 3 || (out[start]! & 0x80) === 0) return;
  const x = out[start + 1]!;
  let i = start + 2;
  if (x & 0x80) {
    const long = (out[i]! & 0x80) !== 0;
    if (long && i + 1 >= end) return;
    const pid = bits & 0x7fff;
    if (bits & (1 << 23)) {
      if (long) {
        out[i] = 0x80 | (pid >> 8);
        out[i + 1] = pid & 0xff;
      } else out[i] = pid;
    }
    i += long ? 2 : 1;
  }
  if (x & 0x40 && i < end && bits & (1 << 24)) out[i] = (bits >>> 15) & 0xff;
}
