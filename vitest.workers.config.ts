import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { defineConfig } from "vitest/config";

// wrangler.toml's [assets] directory (the devtools page) must exist before workerd starts; `npm test`
// builds it first, this covers a direct `npx vitest run -c vitest.workers.config.ts`.
if (!existsSync("devtools/dist/devtools/index.html")) execFileSync("npx", ["tsx", "devtools/build.ts"], { stdio: "inherit" });

// Edge tests: run inside workerd (Miniflare) against the real Worker and Durable Objects of
// wrangler.toml. Storage is isolated per test file. Short timeouts so "node unreachable" and
// liveness cases take well under a second or two instead of production's 5 s / 6 s.
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          COMMAND_TIMEOUT_MS: "400",
          NODE_LIVENESS_TIMEOUT_MS: "1500",
          // Placement reads the cluster's table on every new session, so a test sees a change at once.
          PLACEMENT_CACHE_MS: "0",
          API_TOKEN: "test-api-token",
          NODE_SECRET: "test-node-secret",
        },
      },
    }),
  ],
  test: {
    include: ["test/edge/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
