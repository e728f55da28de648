// VP8 picture id and TL0PICIDX continuity for one subscriber (LiveKit's codecmunger). When a
// subscription switches simulcast layers the new layer's counters are unrelated to the old
// one's; Chrome's VP8 depacketizer treats a jump as loss and stalls until the next keyframe.
// The rewrite happens in place on the shared payload right before encryption and is undone
// right after (see Subscription.forward), so no copy is made per subscriber.

export class Vp8Munger {
  private pictureIdOffset = 0;
  private tl0Offset = 0;
  private lastPictureId = -1;
  private lastTl0 = -1;
  private rebasePending = true;
  /** Saved original bytes for restore(): offset, then up to 3 bytes. */
  private savedAt = -1;
  private savedPid = -1;
  private savedPidLong = false;
  private savedTl0At = -1;
  private savedTl0 = 0;

  /** Next packet starts a new source (layer switch, resume): continue the counters from where they were. */
  rebase(): void {
    this.rebasePending = true;
  }

  /** Rewrites the descriptor in place; call restore(payload) after the packet is serialized. */
  apply(p: Uint8Array): void {
    this.savedAt = -1;
    this.savedTl0At = -1;
    if (p.length < 3 || (p[0]! & 0x80) === 0) return;
    const x = p[1]!;
    let i = 2;
    if (x & 0x80) {
      const long = (p[i]! & 0x80) !== 0;
      const pid = long ? ((p[i]! & 0x7f) << 8) | p[i + 1]! : p[i]! & 0x7f;
      const mask = long ? 0x7fff : 0x7f;
      if (this.rebasePending) {
        this.pictureIdOffset = this.lastPictureId < 0 ? 0 : (this.lastPictureId + 1 - pid) & mask;
      }
      const out = (pid + this.pictureIdOffset) & mask;
      this.savedAt = i;
      this.savedPidLong = long;
      this.savedPid = pid;
      if (long) {
        p[i] = 0x80 | (out >> 8);
        p[i + 1] = out & 0xff;
        i += 2;
      } else {
        p[i] = out;
        i += 1;
      }
      if (((out - this.lastPictureId) & mask) < mask >> 1 || this.lastPictureId < 0) this.lastPictureId = out;
    }
    if (x & 0x40 && i < p.length) {
      const tl0 = p[i]!;
      if (this.rebasePending) this.tl0Offset = this.lastTl0 < 0 ? 0 : (this.lastTl0 + 1 - tl0) & 0xff;
      const out = (tl0 + this.tl0Offset) & 0xff;
      this.savedTl0At = i;
      this.savedTl0 = tl0;
      p[i] = out;
      if (((out - this.lastTl0) & 0xff) < 0x80 || this.lastTl0 < 0) this.lastTl0 = out;
    }
    this.rebasePending = false;
  }

  restore(p: Uint8Array): void {
    if (this.savedAt >= 0) {
      if (this.savedPidLong) {
        p[this.savedAt] = 0x80 | (this.savedPid >> 8);
        p[this.savedAt + 1] = this.savedPid & 0xff;
      } else {
        p[this.savedAt] = this.savedPid;
      }
    }
    if (this.savedTl0At >= 0) p[this.savedTl0At] = this.savedTl0;
  }
}
