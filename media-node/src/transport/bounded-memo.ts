// Values computed once per key and kept, for the few keys a process sees (werift's certificate
// and key PEMs): at most `max` entries, the oldest dropped first, so an unexpected stream of new
// keys cannot grow it without bound.

export class BoundedMemo<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly max: number) {}

  /** The value kept for `key`, computed by `compute` (and kept) the first time. */
  get(key: K, compute: () => V): V {
    let value = this.entries.get(key);
    if (value === undefined) {
      value = compute();
      if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, value);
    }
    return value;
  }
}
