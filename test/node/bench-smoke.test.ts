import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";

// Smoke test of the load tool (`npm run bench`): a 1 → 2 scenario through a media-node process
// and through the raw UDP relay; packets must arrive. Speed is not checked here.

it("bench: packets flow through the node and the raw relay", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "bench-smoke-")), "result.json");
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "bench/run.ts", "--only", "fanout-2", "--duration", "1", "--out", out],
      { cwd: join(import.meta.dirname, "../.."), timeout: 60_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(`${stdout}\n${stderr}`)),
    );
  });
  const result = JSON.parse(readFileSync(out, "utf8")) as { rows: { server: string; connected: number; forwardedPps: number; lossPercent: number; loopDelayP99Ms: number; loopDelayMaxMs: number }[] };
  const sora = result.rows.find((r) => r.server === "sora");
  const raw = result.rows.find((r) => r.server === "raw");
  expect(sora?.connected, stdout).toBe(3);
  expect(sora!.forwardedPps).toBeGreaterThan(200); // 2 subscribers × (200 video + 50 audio) pps
  expect(sora!.lossPercent).toBeLessThan(5);
  expect(raw!.forwardedPps).toBeGreaterThan(200);
  // Event-loop delay over the measuring window, from two reads of /metrics.json's cumulative histogram.
  for (const row of [sora!, raw!]) {
    expect(Number.isFinite(row.loopDelayP99Ms), stdout).toBe(true);
    expect(row.loopDelayP99Ms).toBeGreaterThanOrEqual(0);
    expect(row.loopDelayMaxMs).toBeGreaterThanOrEqual(row.loopDelayP99Ms);
  }
});
