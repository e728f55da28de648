// Puts one control link's reports back in the order the node sent them. workerd may hand a
// Durable Object two WebSocket messages of one link in swapped order (seen under load: a
// `connection.created` dispatched ahead of its `session.created`, which then dropped the
// connection). The node numbers what it sends on a link (`seq`: 0 for the hello, then +1 per
// message); this releases them strictly in that order. A number that never arrives (a frame the
// edge could not parse at all) holds the line for at most `gapTimeoutMs`, then is skipped.

export const GAP_TIMEOUT_MS = 1_000;

const SKIPPED: unique symbol = Symbol("skipped");

export class ReportSequencer<T> {
  /** The next number to release; undefined until the first message (a link found after a restart). */
  private next: number | undefined;
  private readonly pending = new Map<number, T | typeof SKIPPED>();
  private gapTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param first the number a fresh link starts with (0, its hello), or undefined when the link
   *   was already running before this object existed: then the first number seen is the start.
   */
  constructor(
    private readonly release: (item: T) => void,
    first: number | undefined,
    private readonly gapTimeoutMs = GAP_TIMEOUT_MS,
  ) {
    this.next = first;
  }

  /** Takes message `seq`; releases it and every queued successor once nothing is missing before it. */
  push(seq: number, item: T): void {
    this.next ??= seq;
    if (seq < this.next) {
      // Late past a skipped gap, or a duplicate: better applied late than lost.
      this.release(item);
      return;
    }
    if (seq === this.next && this.pending.size === 0) {
      // In order with nothing waiting (nearly always): no trip through the map, whose set and
      // delete at thousands of reports a second left garbage on the edge's thread.
      this.next = seq + 1;
      this.release(item);
      return;
    }
    this.pending.set(seq, item);
    this.drain();
  }

  /** Message `seq` arrived but cannot be used (failed validation): do not wait for it. */
  skip(seq: number): void {
    this.next ??= seq;
    if (seq < this.next) return;
    if (seq === this.next) {
      this.next++;
      this.drain();
    } else {
      this.pending.set(seq, SKIPPED);
    }
  }

  /** How many messages wait for a missing predecessor. */
  get waiting(): number {
    return this.pending.size;
  }

  dispose(): void {
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    this.pending.clear();
  }

  private drain(): void {
    for (;;) {
      const next = this.next!;
      if (!this.pending.has(next)) break;
      const item = this.pending.get(next)!;
      this.pending.delete(next);
      this.next = next + 1;
      if (item !== SKIPPED) this.release(item);
    }
    if (this.pending.size === 0) {
      if (this.gapTimer) clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    } else {
      this.gapTimer ??= setTimeout(() => this.skipGap(), this.gapTimeoutMs);
    }
  }

  /** The gap did not fill in time: continue from the oldest waiting message. */
  private skipGap(): void {
    this.gapTimer = undefined;
    if (this.pending.size === 0) return;
    this.next = Math.min(...this.pending.keys());
    this.drain();
  }
}

