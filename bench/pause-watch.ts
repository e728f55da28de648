// A thread's own pauses: a 5 ms timer that fires more than 10 ms late means this thread was
// descheduled or collecting its garbage then. A bench thread that paused delays what it times
// (an API call's answer) or what it answers (a simulated node's ack), so its pauses are printed
// beside the latencies: a slow call at a pause of the bench's own is not the edge's.

const INTERVAL_MS = 5;
const LATE_MS = 10;

export interface PauseWatch {
  /** Stops watching; the pauses seen, as [ms since `origin`, how long] pairs. */
  stop(): [number, number][];
}

/** Watches this thread from now; times are given relative to `origin` (a performance.now() value). */
export function watchPauses(origin: number): PauseWatch {
  const pauses: [number, number][] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > INTERVAL_MS + LATE_MS) pauses.push([last - origin, now - last - INTERVAL_MS]);
    last = now;
  }, INTERVAL_MS);
  return {
    stop() {
      clearInterval(timer);
      return pauses;
    },
  };
}

/** "at s: ms" pairs of the pauses within [0, countedMs), for printing. */
export function formatPauses(pauses: [number, number][], countedMs: number): string {
  return pauses
    .filter(([at]) => at >= 0 && at < countedMs)
    .map(([at, ms]) => `${(at / 1000).toFixed(2)}:${Math.round(ms)}`)
    .join(" ");
}
