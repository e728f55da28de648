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

  /** Rewrites the VP8 payload descriptor of the outgoing payload at `out[start, end)` in place. */
  apply(out: Uint8Array, start: number, end: number): void {
    if (end - start < 3 || (out[start]! & 0x80) === 0) return;
    const x = out[start + 1]!;
    let i = start + 2;
    if (x & 0x80) {
      const long = (out[i]! & 0x80) !== 0;
      if (long && i + 1 >= end) return;
      const pid = long ? ((out[i]! & 0x7f) << 8) | out[i + 1]! : out[i]! & 0x7f;
      const mask = long ? 0x7fff : 0x7f;
      if (this.rebasePending) {
        this.pictureIdOffset = this.lastPictureId < 0 ? 0 : (this.lastPictureId + 1 - pid) & mask;
      }
      const pidOut = (pid + this.pictureIdOffset) & mask;
      if (long) {
        out[i] = 0x80 | (pidOut >> 8);
        out[i + 1] = pidOut & 0xff;
        i += 2;
      } else {
        out[i] = pidOut;
        i += 1;
      }
      if (((pidOut - this.lastPictureId) & mask) < mask >> 1 || this.lastPictureId < 0) this.lastPictureId = pidOut;
    }
    if (x & 0x40 && i < end) {
      const tl0 = out[i]!;
      if (this.rebasePending) this.tl0Offset = this.lastTl0 < 0 ? 0 : (this.lastTl0 + 1 - tl0) & 0xff;
      const tl0Out = (tl0 + this.tl0Offset) & 0xff;
      out[i] = tl0Out;
      if (((tl0Out - this.lastTl0) & 0xff) < 0x80 || this.lastTl0 < 0) this.lastTl0 = tl0Out;
    }
    this.rebasePending = false;
  }
}
