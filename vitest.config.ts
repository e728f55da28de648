import { defineConfig } from "vitest/config";

// Node-side tests: media node (werift clients), integration (real processes) and
// browser tests (Chromium + sora-js-sdk). Edge tests run in workerd through
// vitest.workers.config.ts.
export default defineConfig({
  test: {
    include: ["test/node/**/*.test.ts", "test/browser/**/*.test.ts", "test/integration/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Browser and media tests are CPU-heavy on a 2-core machine: run files one at a time.
    fileParallelism: false,
    reporters: ["default"],
  },
});
