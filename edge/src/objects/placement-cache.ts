import type { PlacementEntry } from "./placement.js";

// The placement table (ClusterObject.placementTable) as a NodeObject or the Worker keeps it: read
// again once older than `ttlMs`, concurrent readers sharing one fetch. This is what keeps the
// single ClusterObject off the path of each new session: with N nodes placing, it answers at most
// N / ttl table reads per second whatever the connect rate. Loads in it are at most one load
// report interval plus `ttlMs` old; docs/edge.md explains the trade.

export const PLACEMENT_CACHE_MS = 1_000;

export class PlacementCache {
  private table: PlacementEntry[] | undefined;
  private fetchedAt = 0;
  private inflight: Promise<PlacementEntry[]> | undefined;

  constructor(
    private readonly fetchTable: () => Promise<PlacementEntry[]>,
    private readonly ttlMs: number,
  ) {}

  get(now = Date.now()): Promise<PlacementEntry[]> {
    if (this.table && now - this.fetchedAt < this.ttlMs) return Promise.resolve(this.table);
    this.inflight ??= this.fetchTable()
      .then((table) => {
        this.table = table;
        this.fetchedAt = Date.now();
        return table;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /** A change this holder made itself (its own load, its link): read the table again next time. */
  invalidate(): void {
    this.table = undefined;
  }
}
