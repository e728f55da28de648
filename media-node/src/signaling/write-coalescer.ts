// Coalesces a burst of small writes on one WebSocket's TCP socket into one `writev`.
//
// During a join burst every member of a channel gets a `connection.created` notify per join
// (Sora's protocol: every member is told). With one socket write per message, 100 joins into a
// channel of 100 cost ~5 000 `writev` syscalls on the node's one thread (and as many wake-ups of
// the clients); in a 1 → 100 burst profile that was the largest single item (≈ 12 % of the
// node's CPU). Each message stays its own WebSocket frame (Sora clients read one JSON object per
// message) and frames keep their order: the socket is corked, so every frame written in the
// meantime — deferrable or not — queues behind the earlier ones, and one uncork sends them all.
//
// Policy (`holdFor`, pure): a deferrable write after a quiet spell goes out at once (a single
// event has no added latency); one within `windowMs` of the last flush is held until the window
// ends, so a member sees at most one flush per window while a burst lasts. A non-deferrable
// write (offer, re-offer, close, ping…) flushes whatever is held, together with itself.

/** The part of a net.Socket (stream.Writable) the coalescer uses. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * How long a deferrable write arriving at `now` is held: 0 = write through now. `lastFlushAt` is
 * when the socket was last written through or flushed (-Infinity: never).
 */
export function holdFor(now: number, lastFlushAt: number, windowMs: number): number {
  const since = now - lastFlushAt;
  return since >= windowMs || since < 0 ? 0 : windowMs - since;
}

export class WriteCoalescer {
  private corked = false;
  private lastFlushAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Corkable,
    private readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether writes are being held (the socket is corked until the window ends). */
  get holding(): boolean {
    return this.corked;
  }

  /** Call right before a deferrable write (a notify). */
  beforeDeferrable(): void {
    if (this.corked) return;
    const now = this.now();
    const hold = holdFor(now, this.lastFlushAt, this.windowMs);
    if (hold === 0) {
      this.lastFlushAt = now;
      return;
    }
    this.socket.cork();
    this.corked = true;
    this.timer = setTimeout(() => this.flush(), hold);
    this.timer.unref();
  }

  /** Call right after a write that must not wait (it goes out with everything held before it). */
  afterUrgent(): void {
    if (this.corked) this.flush();
  }

  /** Sends everything held; call before closing the WebSocket (a close frame must not wait). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.corked) return;
    this.corked = false;
    this.lastFlushAt = this.now();
    this.socket.uncork();
  }
}
