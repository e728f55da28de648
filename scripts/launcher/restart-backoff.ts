// When `npm start` restarts a child that exited on its own: 1 s after the first exit, doubling
// for each exit that follows a short run, at most 30 s. A child that ran for RESET_AFTER_MS
// before exiting starts again from 1 s (it was healthy; this is a new failure, not a crash loop).

export const FIRST_DELAY_MS = 1000;
export const MAX_DELAY_MS = 30_000;
export const RESET_AFTER_MS = 30_000;

export interface RestartDecision {
  /** Consecutive short-lived runs so far, this exit included. */
  failures: number;
  delayMs: number;
}

export function nextRestart(previousFailures: number, ranForMs: number): RestartDecision {
  const failures = ranForMs >= RESET_AFTER_MS ? 1 : previousFailures + 1;
  const delayMs = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(failures - 1, 16));
  return { failures, delayMs };
}
