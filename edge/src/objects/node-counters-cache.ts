import type { NodeCounters } from "../../../shared/control-protocol.js";

// GetStatsReport's per-node counters, kept fresh at a steady pace instead of in one burst.
// GetStatsReport sums every node's counters. Asking all N NodeObjects at once each time the
// shared answer expired put N RPCs (and the get_counters round trips behind them) on the edge's
// thread in one burst, once a second while anyone polled: in the load test (50 nodes, 20 calls/s)
// that burst was the once-a-second stall in which the other API calls waited (docs/performance.md).
// Here each node is asked on its own turn, one every maxAgeMs × 0.8 / N ms, for as long as
// GetStatsReport keeps being called (inUseMs after the last call); a read takes every entry that
// is at most maxAgeMs old and asks the node now only for one that is older or missing (the
// first call, or after `clear`). No I/O of its own: `fetch` is the RPC.

export interface NodeCountersEntry {
  /** When the node was asked. */
  at: number;
  counters: NodeCounters | null;
  /** The node's link answered (or its NodeObject had counters of its own ≤ 2 s old). */
  fresh: boolean;
  /** Whether the node was linked when asked. */
  live: boolean;
}

export interface CountedNode {
  node_name: string;
  live: boolean;
}

/** An entry older than this is asked for again by the read that wants it (GetStatsReport's freshness as before). */
export const NODE_COUNTERS_MAX_AGE_MS = 1_000;
/** The background refresh goes on this long after the last read, then stops (entries then age out). */
export const NODE_COUNTERS_IN_USE_MS = 10_000;

/** Time between two background refreshes so that every one of `nodeCount` nodes is asked within 0.8 × maxAgeMs. */
export function refreshIntervalMs(nodeCount: number, maxAgeMs: number): number {
  return Math.max(2, Math.floor((0.8 * maxAgeMs) / Math.max(1, nodeCount)));
}

export class NodeCountersCache {
  private readonly entries = new Map<string, NodeCountersEntry>();
  private readonly asking = new Map<string, Promise<NodeCountersEntry>>();
  /** The nodes of the last read, asked in turn by the background refresh. */
  private nodes: CountedNode[] = [];
  private turn = 0;
  private inUseUntil = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by clear(): an answer to a question asked before is not kept. */
  private generation = 0;

  constructor(
    private readonly fetch: (nodeName: string, live: boolean) => Promise<{ counters: NodeCounters | null; fresh: boolean }>,
    private readonly maxAgeMs = NODE_COUNTERS_MAX_AGE_MS,
    private readonly inUseMs = NODE_COUNTERS_IN_USE_MS,
  ) {}

  /** Every node's counters, none older than maxAgeMs (asked now where needed), in the order of `nodes`. */
  read(nodes: CountedNode[]): Promise<NodeCountersEntry[]> {
    const now = Date.now();
    this.nodes = nodes;
    this.inUseUntil = now + this.inUseMs;
    const answers = nodes.map((n) => {
      const entry = this.entries.get(n.node_name);
      return entry && entry.live === n.live && now - entry.at <= this.maxAgeMs ? entry : this.ask(n);
    });
    this.schedule();
    return Promise.all(answers);
  }

  /** A node joined, left, linked or unlinked: every node is asked again by the next read. */
  clear(): void {
    this.entries.clear();
    this.asking.clear();
    this.generation++;
  }

  /** Stops the background refresh (the object is going away, or tests). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private ask(node: CountedNode): Promise<NodeCountersEntry> {
    const inFlight = this.asking.get(node.node_name);
    if (inFlight) return inFlight;
    const generation = this.generation;
    const at = Date.now();
    const asked = this.fetch(node.node_name, node.live).then(
      ({ counters, fresh }) => {
        const entry: NodeCountersEntry = { at, counters, fresh, live: node.live };
        if (generation === this.generation) {
          this.entries.set(node.node_name, entry);
          this.asking.delete(node.node_name);
        }
        return entry;
      },
      (err: unknown) => {
        if (generation === this.generation) this.asking.delete(node.node_name);
        throw err;
      },
    );
    this.asking.set(node.node_name, asked);
    return asked;
  }

  private schedule(): void {
    if (this.timer || this.nodes.length === 0) return;
    this.timer = setTimeout(() => this.refreshNext(), refreshIntervalMs(this.nodes.length, this.maxAgeMs));
  }

  private refreshNext(): void {
    this.timer = undefined;
    if (Date.now() > this.inUseUntil || this.nodes.length === 0) return;
    const node = this.nodes[this.turn++ % this.nodes.length]!;
    // A failed question is answered by the next read, which asks again.
    if (!this.asking.has(node.node_name)) void this.ask(node).catch(() => undefined);
    this.schedule();
  }
}
