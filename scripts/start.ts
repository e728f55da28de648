// `npm start`: the local cluster. The edge (Sora's HTTP API, in workerd through `wrangler dev`)
// on http://127.0.0.1:3000/ (with the devtools page at /devtools/, built by `npm run devtools:build`
// before this script runs) and N media nodes (signaling on ws://127.0.0.1:5000/signaling, 5001, ...),
// each joined to the edge. A child that exits on its own is reported and restarted with backoff
// (launcher/supervised-child.ts) while the others keep serving; only Ctrl-C / SIGTERM (or the
// parent going away) stops everything.
import { existsSync, readFileSync } from "node:fs";
import { Command } from "commander";
import { SupervisedChild } from "./launcher/supervised-child.js";

const opts = new Command()
  .name("start")
  .option("--nodes <n>", "number of media nodes", "1")
  .option("--api-port <port>", "edge HTTP API port", "3000")
  .option("--signaling-port <port>", "first media node's signaling port", "5000")
  .option("--persist-to <dir>", "where the edge keeps its Durable Object state", ".wrangler/state")
  .option("--inspector-port <port>", "wrangler dev's devtools port (default: 9229 or a free one)")
  .option("--no-edge", "run media nodes only")
  .option("--no-restart", "leave a child that exits stopped (and print how to run it by hand)")
  .parse()
  .opts<{
    nodes: string;
    apiPort: string;
    signalingPort: string;
    persistTo: string;
    inspectorPort?: string;
    edge: boolean;
    restart: boolean;
  }>();

const host = "127.0.0.1";
const apiPort = Number(opts.apiPort);
const nodeCount = Math.max(1, Number(opts.nodes));
const edgeAvailable = opts.edge && existsSync("wrangler.toml");
const nodeSecret = process.env.NODE_SECRET ?? "local-dev-node-secret";
const STOP_GRACE_MS = 5000;

const children: SupervisedChild[] = [];
function supervise(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): SupervisedChild {
  const child = new SupervisedChild(
    { name, command, args, env },
    { restart: opts.restart, report: (line) => console.error(`${new Date().toISOString()} ${line}`) },
  );
  children.push(child);
  child.start();
  return child;
}

async function waitHttp(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await fetch(url, { method: "OPTIONS" });
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  return false;
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(children.map((c) => c.stop(STOP_GRACE_MS)));
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

// `npm start` runs us under sh and tsx; when npm is killed (not Ctrl-C, which reaches the whole
// process group) only sh dies and we would be orphaned with the edge and nodes running. Linux:
// watch our launcher's parent and stop everything when it is gone.
function launcherParent(): number | undefined {
  try {
    const stat = readFileSync(`/proc/${process.ppid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}
const initialLauncherParent = launcherParent();
if (initialLauncherParent !== undefined && initialLauncherParent !== 1) {
  setInterval(() => {
    const parent = launcherParent();
    if (parent === 1 || parent === undefined) void stop(0);
  }, 1000).unref();
}

const apiUrl = `http://${host}:${apiPort}/`;
if (edgeAvailable) {
  const args = ["wrangler", "dev", "--ip", host, "--port", String(apiPort), "--persist-to", opts.persistTo, "--log-level", "warn"];
  if (opts.inspectorPort) args.push("--inspector-port", opts.inspectorPort);
  // Restarting the edge loses nothing: its Durable Objects are persisted (--persist-to) and the
  // nodes re-dial their control link with backoff and re-send their state (edge-link.ts).
  supervise("edge", "npx", args, {
    WRANGLER_SEND_METRICS: "false",
    // Request.cf is not used; without this workerd tries to download it on every start (offline: a stack trace).
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
  });
  if (!(await waitHttp(apiUrl, 60_000))) {
    console.error("edge did not come up within 60 s");
    await stop(1);
  }
}

const signalingUrls: string[] = [];
for (let i = 0; i < nodeCount; i++) {
  const port = Number(opts.signalingPort) + i;
  // Node itself with tsx's loader (no npx/sh in between), so the process we watch is the node.
  const args = ["--import", "tsx", "media-node/src/main.ts", "--host", host, "--port", String(port)];
  if (edgeAvailable) args.push("--edge-url", `ws://${host}:${apiPort}/node`);
  supervise(`node-${port}`, process.execPath, args, { NODE_SECRET: nodeSecret });
  signalingUrls.push(`ws://${host}:${port}/signaling`);
}
for (const url of signalingUrls) {
  await waitHttp(url.replace("ws://", "http://").replace("/signaling", "/health"), 30_000);
}

console.log("");
console.log("Sora-compatible SFU is running:");
if (edgeAvailable) console.log(`  devtools    ${apiUrl}devtools/  (connect clients, watch stats, drive the HTTP API)`);
if (edgeAvailable) console.log(`  HTTP API    ${apiUrl}  (POST / with x-sora-target: Sora_YYYYMMDD.Name)`);
for (const url of signalingUrls) console.log(`  signaling   ${url}`);
if (edgeAvailable) console.log(`  edge signaling ws://${host}:${apiPort}/signaling (redirects to the channel's node)`);
console.log(
  opts.restart
    ? "A part that exits is restarted (after 1 s, doubling up to 30 s while it keeps failing). Ctrl-C to stop."
    : "A part that exits stays stopped (--no-restart). Ctrl-C to stop.",
);
