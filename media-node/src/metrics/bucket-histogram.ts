// A cumulative histogram over fixed bucket bounds, in the shape Prometheus exposes
// (`_bucket{le}`, `_sum`, `_count`): plain numbers, nothing allocated per observation, never
// reset. A reader that wants a window (the bench, PromQL's rate()) subtracts two reads, so
// reading changes nothing.

export class BucketHistogram {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  /** `bounds`: ascending upper bounds (inclusive, as Prometheus' `le`), in the metric's base unit. */
  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new Error("histogram bounds must ascend");
    }
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  /** Cumulative counts per bound, then +Inf (= count): the `_bucket` series. */
  cumulative(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) out.push((acc += this.counts[i]!));
    return out;
  }

  snapshot(): HistogramSnapshot {
    return { bounds: [...this.bounds], cumulative: this.cumulative(), sum: this.sum, count: this.count };
  }
}

/** A read of a BucketHistogram (JSON-friendly). */
export interface HistogramSnapshot {
  bounds: number[];
  /** Cumulative counts per bound, then +Inf. */
  cumulative: number[];
  sum: number;
  count: number;
}

/**
 * The q-quantile (0..1) of what was observed between two reads, interpolated linearly inside
 * the bucket it falls in (as PromQL's histogram_quantile). NaN when nothing was observed.
 * Past the last finite bound the last bound is returned (the +Inf bucket has no width).
 */
export function quantileBetween(before: HistogramSnapshot | undefined, after: HistogramSnapshot, q: number): number {
  const counts = after.cumulative.map((c, i) => c - (before?.cumulative[i] ?? 0));
  const total = counts[counts.length - 1]!;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i]! >= rank) {
      if (i >= after.bounds.length) return after.bounds[after.bounds.length - 1]!;
      const lower = i === 0 ? 0 : after.bounds[i - 1]!;
      const below = i === 0 ? 0 : counts[i - 1]!;
      const inBucket = counts[i]! - below;
      return inBucket > 0 ? lower + ((after.bounds[i]! - lower) * (rank - below)) / inBucket : after.bounds[i]!;
    }
  }
  return after.bounds[after.bounds.length - 1]!;
}

/** The upper bound of the highest bucket that gained an observation between two reads (NaN if none; Infinity past the last bound). */
export function maxBetween(before: HistogramSnapshot | undefined, after: HistogramSnapshot): number {
  for (let i = after.cumulative.length - 1; i >= 0; i--) {
    const gained = after.cumulative[i]! - (i > 0 ? after.cumulative[i - 1]! : 0) - ((before?.cumulative[i] ?? 0) - (i > 0 ? (before?.cumulative[i - 1] ?? 0) : 0));
    if (gained > 0) return i < after.bounds.length ? after.bounds[i]! : Infinity;
  }
  return NaN;
}
