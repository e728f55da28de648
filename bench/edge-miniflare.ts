import { createWriteStream, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

// The edge in workerd through Miniflare directly (the runtime under `wrangler dev` and the edge
// tests), without wrangler's proxy and inspector (`npm run bench:edge -- --runtime miniflare`). The Worker is
// bundled with esbuild the way wrangler does (ESM, `cloudflare:*` external) and given the
// bindings of wrangler.toml's development top level.

const ROOT = path.resolve(import.meta.dirname, "..");

export interface LocalEdge {
  url: string;
  /** Where workerd's own stdout/stderr go (its uncaught exceptions, kj errors). */
  logPath: string;
  stop(): Promise<void>;
}

/**
 * `storageDir`: where workerd keeps the Durable Objects' SQLite files (default: a fresh directory
 * under the OS temp dir, as Miniflare does). workerd commits each object's writes with an fsync
 * on the thread that runs every object, so a slow disk stalls all of them; on Cloudflare a commit
 * does not hold the isolate's thread (docs/performance.md, "Where the tail comes from").
 */
export async function startMiniflareEdge(vars: Record<string, string> = {}, storageDir?: string): Promise<LocalEdge> {
  const outdir = mkdtempSync(path.join(tmpdir(), "edge-bundle-"));
  await build({
    entryPoints: [path.join(ROOT, "edge/src/index.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    outfile: path.join(outdir, "index.js"),
    external: ["cloudflare:*", "node:*"],
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    logLevel: "warning",
  });
  const logPath = path.join(outdir, "workerd.log");
  const log = createWriteStream(logPath);
  const mf = new Miniflare({
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.pipe(log, { end: false });
      stderr.pipe(log, { end: false });
    },
    modules: true,
    scriptPath: path.join(outdir, "index.js"),
    modulesRoot: outdir,
    compatibilityDate: "2025-09-01",
    host: "127.0.0.1",
    port: 0,
    // `EDGE_INSPECTOR_PORT=9229 npm run bench:edge -- --runtime miniflare`: attach a CPU profiler (bench/edge-profile.ts).
    ...(process.env.EDGE_INSPECTOR_PORT ? { inspectorPort: Number(process.env.EDGE_INSPECTOR_PORT) } : {}),
    bindings: { ALLOWED_ORIGIN: "*", ALLOW_UNAUTHENTICATED: "true", ALLOW_UNAUTHENTICATED_NODES: "true", ...vars },
    ...(storageDir ? { durableObjectsPersist: mkdtempSync(path.join(storageDir, "edge-bench-do-")) } : {}),
    durableObjects: {
      CLUSTER: { className: "ClusterObject", useSQLite: true },
      CHANNEL: { className: "ChannelObject", useSQLite: true },
      NODE: { className: "NodeObject", useSQLite: true },
    },
  });
  const url = (await mf.ready).toString();
  return { url, logPath, stop: () => mf.dispose() };
}
