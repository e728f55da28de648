// Carries a node's connection reports to their channels' ChannelObjects, one queue per channel:
// a channel's reports are applied in the node's order, channels do not wait for each other, and
// a channel's reports go together in one call — those that arrive within `holdMs` of the first,
// and those that pile up behind a call in flight. One call is one storage commit in the
// ChannelObject, and a commit, not the report, is what a Durable Object pays for (in local
// workerd an fsync on its one thread; docs/scaling.md). NodeObject holds everything else a node
// sends (sessions, places, RPCs, load) until `flushed()`, which sends what is held at once, so
// those still see every earlier report applied. No I/O of its own: `send` is the RPC.

/**
 * How long a NodeObject holds a channel's first connection report for the ones that follow
 * (env CHANNEL_REPORT_HOLD_MS). The API lists a connection this much later at most; a `place`,
 * session change or RPC of the node sends what is held at once.
 */
export const CHANNEL_REPORT_HOLD_MS = 100;

/**
 * A channel whose reports keep coming is called at most once in this long (env
 * CHANNEL_REPORT_BUSY_HOLD_MS): its next call waits until this long after its last one began. A
 * quiet channel's report still goes after CHANNEL_REPORT_HOLD_MS. Calls, not reports, are what
 * the edge's thread pays for (RPC, serialization, the C++ objects each call leaves to the garbage
 * collector: docs/performance.md); a busy channel is listed this much later at most.
 */
export const CHANNEL_REPORT_BUSY_HOLD_MS = 1_000;

/**
 * How long a channel's pending reports wait before their call (0: at once). `lastCallAt` is when
 * the channel's previous call began (undefined: none lately); a backlog of a full call goes at once.
 */
export function holdBeforeCall(now: number, lastCallAt: number | undefined, pending: number, holdMs: number, busyHoldMs: number): number {
  if (pending >= MAX_REPORTS_PER_CALL) return 0;
  if (lastCallAt === undefined || now - lastCallAt >= busyHoldMs) return holdMs;
  return Math.max(holdMs, lastCallAt + busyHoldMs - now);
}

/** At most this many reports in one call to a ChannelObject (bounds the RPC's size). */
export const MAX_REPORTS_PER_CALL = 256;

interface Queue<R> {
  pending: R[];
  running: boolean;
  /** Set while the reports wait out the hold. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves once the last report pushed so far has been applied (or its call failed). */
  tail: Promise<void>;
  /**
   * Resolves `tail` once the call carrying the last pending report is over (undefined while
   * nothing is pending). One promise per call, not per report: at thousands of reports a second,
   * a promise and a closure each were a measurable share of the garbage on the edge's thread.
   */
  settleTail: (() => void) | undefined;
}

export class ChannelReportForwarder<R> {
  private readonly queues = new Map<string, Queue<R>>();
  /** When each channel's last call began, for busyHoldMs (entries older than that are dropped). */
  private readonly lastCallAt = new Map<string, number>();
  private lastPruned = 0;
  /** flushed() calls waiting: while any waits, nothing is held (not even what arrives behind a call in flight). */
  private flushing = 0;
  /** Calls made and reports carried (for the load test: reports per call). */
  calls = 0;
  reports = 0;

  constructor(
    private readonly send: (channelId: string, reports: R[]) => Promise<void>,
    private readonly onError: (channelId: string, err: unknown) => void,
    /** How long a channel's first report waits for company (0: sent at once). */
    private readonly holdMs = 0,
    /** A channel is called at most once in this long (0: no such bound). */
    private readonly busyHoldMs = 0,
  ) {}

  /** Queues `report` behind the channel's earlier ones (settled() and flushed() tell when it has been applied). */
  push(channelId: string, report: R): void {
    let queue = this.queues.get(channelId);
    if (!queue) {
      queue = { pending: [], running: false, timer: undefined, tail: Promise.resolve(), settleTail: undefined };
      this.queues.set(channelId, queue);
    }
    if (!queue.settleTail) queue.tail = new Promise<void>((resolve) => (queue.settleTail = resolve));
    queue.pending.push(report);
    if (!queue.running && !queue.timer) this.schedule(channelId, queue);
  }

  private schedule(channelId: string, queue: Queue<R>): void {
    const wait = this.flushing > 0 ? 0 : holdBeforeCall(Date.now(), this.lastCallAt.get(channelId), queue.pending.length, this.holdMs, this.busyHoldMs);
    if (wait > 0) queue.timer = setTimeout(() => void this.pump(channelId, queue), wait);
    else void this.pump(channelId, queue);
  }

  /** Sends what is held now; resolves once every report pushed so far, on every channel, has been applied. */
  async flushed(): Promise<void> {
    if (this.queues.size === 0) return;
    for (const [channelId, queue] of this.queues) if (queue.timer) void this.pump(channelId, queue);
    this.flushing++;
    try {
      await Promise.all([...this.queues.values()].map((q) => q.tail));
    } finally {
      this.flushing--;
    }
  }

  /** Resolves once every report pushed so far has been applied, without cutting a hold short. */
  settled(): Promise<void> {
    if (this.queues.size === 0) return Promise.resolve();
    return Promise.all([...this.queues.values()].map((q) => q.tail)).then(() => undefined);
  }

  /** Reports waiting for their call, over all channels. */
  get held(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.pending.length;
    return n;
  }

  private async pump(channelId: string, queue: Queue<R>): Promise<void> {
    if (queue.timer) clearTimeout(queue.timer);
    queue.timer = undefined;
    queue.running = true;
    const reports = queue.pending.splice(0, MAX_REPORTS_PER_CALL);
    // This call carries the last pending report: the tail settles when it is over.
    let settle: (() => void) | undefined;
    if (queue.pending.length === 0) {
      settle = queue.settleTail;
      queue.settleTail = undefined;
    }
    this.calls++;
    this.reports += reports.length;
    if (this.busyHoldMs > 0) this.noteCall(channelId);
    try {
      await this.send(channelId, reports);
    } catch (err) {
      this.onError(channelId, err);
    }
    settle?.();
    queue.running = false;
    // What arrived during the call goes together: after the busy hold, or without one at once.
    if (queue.pending.length > 0) return this.busyHoldMs > 0 ? this.schedule(channelId, queue) : this.pump(channelId, queue);
    // An idle channel is forgotten (a node's channels come and go).
    if (this.queues.get(channelId) === queue) this.queues.delete(channelId);
  }

  private noteCall(channelId: string): void {
    const now = Date.now();
    this.lastCallAt.set(channelId, now);
    if (now - this.lastPruned < this.busyHoldMs) return;
    this.lastPruned = now;
    for (const [id, at] of this.lastCallAt) if (now - at >= this.busyHoldMs) this.lastCallAt.delete(id);
  }
}
