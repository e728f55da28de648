import { expect, it } from "vitest";
import { FIRST_DELAY_MS, MAX_DELAY_MS, RESET_AFTER_MS, nextRestart } from "../../scripts/launcher/restart-backoff.js";

it("doubles the delay for each exit after a short run, capped", () => {
  let failures = 0;
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const d = nextRestart(failures, 500);
    failures = d.failures;
    delays.push(d.delayMs);
  }
  expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  expect(failures).toBe(8);
  expect(nextRestart(1000, 0).delayMs).toBe(MAX_DELAY_MS);
});

it("starts from the first delay when the child had run long enough", () => {
  expect(nextRestart(5, RESET_AFTER_MS)).toEqual({ failures: 1, delayMs: FIRST_DELAY_MS });
  expect(nextRestart(5, RESET_AFTER_MS - 1)).toEqual({ failures: 6, delayMs: MAX_DELAY_MS });
});
