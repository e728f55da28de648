// Calls an object instance has handled, by name, since it was created: what `npm run bench:edge`
// reads to show which Durable Object class carries which traffic (docs/performance.md). Plain
// integers in memory; no I/O on the path it counts.

export class CallCounter {
  private readonly counts: Record<string, number> = {};
  readonly since = Date.now();

  count(name: string): void {
    this.counts[name] = (this.counts[name] ?? 0) + 1;
  }

  snapshot(): { since: number; counts: Record<string, number> } {
    return { since: this.since, counts: { ...this.counts } };
  }
}
