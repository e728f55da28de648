import { BucketHistogram } from "./bucket-histogram.js";

// Event-loop delay of this process as a cumulative histogram (seconds): a 10 ms timer records
// how late it fires, as perf_hooks.monitorEventLoopDelay does with resolution 10. Ours is never
// reset: monitorEventLoopDelay's windows end when someone calls reset(), so reading it (prom-client's
// default eventLoopLag does) changes what the next reader sees. A window is the difference of two
// reads instead (rate() in PromQL, quantileBetween() in the bench).

const INTERVAL_MS = 10;
/** Upper bounds in seconds: fine below 20 ms (a healthy loop), coarse above (a stalled one). */
export const EVENT_LOOP_DELAY_BOUNDS = [
  0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5,
];

let histogram: BucketHistogram | undefined;

/** The process-wide histogram; the sampler starts on first use and never keeps the process alive. */
export function eventLoopDelay(): BucketHistogram {
  if (histogram) return histogram;
  const h = new BucketHistogram(EVENT_LOOP_DELAY_BOUNDS);
  histogram = h;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    h.observe(Math.max(0, now - last - INTERVAL_MS) / 1000);
    last = now;
  }, INTERVAL_MS).unref();
  return h;
}
