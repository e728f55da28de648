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

/** At most this many reports in one call to a ChannelObject (bounds the RPC's size). */
export const MAX_REPORTS_PER_CALL = 256;

interface Queue<R> {
  pending: { report: R; done: () => void }[];
  running: boolean;
  /** Set while the first reports wait out the hold. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves once the last report pushed so far has been applied (or failed). */
  tail: Promise<void>;
}

export class ChannelReportForwarder<R> {
  private readonly queues = new Map<string, Queue<R>>();
  /** Calls made and reports carried (for the load test: reports per call). */
  calls = 0;
  reports = 0;

  constructor(
    private readonly send: (channelId: string, reports: R[]) => Promise<void>,
    private readonly onError: (channelId: string, err: unknown) => void,
    /** How long a channel's first report waits for company (0: sent at once). */
    private readonly holdMs = 0,
  ) {}

  /** Queues `report` behind the channel's earlier ones; resolves once it has been applied (or its call failed). */
  push(channelId: string, report: R): Promise<void> {
    let queue = this.queues.get(channelId);
    if (!queue) {
      queue = { pending: [], running: false, timer: undefined, tail: Promise.resolve() };
      this.queues.set(channelId, queue);
    }
    let done!: () => void;
    const applied = new Promise<void>((resolve) => (done = resolve));
    queue.pending.push({ report, done });
    queue.tail = applied;
    if (!queue.running && !queue.timer) {
      const q = queue;
      if (this.holdMs > 0) q.timer = setTimeout(() => void this.pump(channelId, q), this.holdMs);
      else void this.pump(channelId, q);
    }
    return applied;
  }

  /** Sends what is held now; resolves once every report pushed so far, on every channel, has been applied. */
  flushed(): Promise<void> {
    if (this.queues.size === 0) return Promise.resolve();
    for (const [channelId, queue] of this.queues) if (queue.timer) void this.pump(channelId, queue);
    return Promise.all([...this.queues.values()].map((q) => q.tail)).then(() => undefined);
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
    while (queue.pending.length > 0) {
      const items = queue.pending.splice(0, MAX_REPORTS_PER_CALL);
      this.calls++;
      this.reports += items.length;
      try {
        await this.send(
          channelId,
          items.map((i) => i.report),
        );
      } catch (err) {
        this.onError(channelId, err);
      }
      for (const i of items) i.done();
    }
    queue.running = false;
    // An idle channel is forgotten (a node's channels come and go).
    if (this.queues.get(channelId) === queue) this.queues.delete(channelId);
  }
}
