// `npm start`: the local cluster. The edge (Sora's HTTP API, in workerd through `wrangler dev`)
// on http://127.0.0.1:3000/ (with the devtools page at /devtools/, built by `npm run devtools:build`
// before this script runs) and N media nodes (signaling on ws://127.0.0.1:5000/signaling, 5001, ...),
// each joined to the edge. Ctrl-C stops everything.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { Command } from "commander";

const opts = new Command()
  .name("start")
  .option("--nodes <n>", "number of media nodes", "1")
  .option("--api-port <port>", "edge HTTP API port", "3000")
  .option("--signaling-port <port>", "first media node's signaling port", "5000")
  .option("--no-edge", "run media nodes only")
  .parse()
  .opts<{ nodes: string; apiPort: string; signalingPort: string; edge: boolean }>();

const children: ChildProcess[] = [];
const host = "127.0.0.1";
const apiPort = Number(opts.apiPort);
const nodeCount = Math.max(1, Number(opts.nodes));
const edgeAvailable = opts.edge && existsSync("wrangler.toml");
const nodeSecret = process.env.NODE_SECRET ?? "local-dev-node-secret";

function run(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  // Own process group, so stopping reaches npx's and tsx's grandchildren too.
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env }, detached: true });
  const prefix = `[${name}] `;
  const pipe = (stream: NodeJS.ReadableStream, out: NodeJS.WriteStream) => {
    let buffered = "";
    stream.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) out.write(prefix + line + "\n");
    });
  };
  pipe(child.stdout!, process.stdout);
  pipe(child.stderr!, process.stderr);
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${prefix}exited (${signal ?? code}); stopping the rest`);
      void stop(1);
    }
  });
  children.push(child);
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
  const signalGroup = (c: ChildProcess, signal: NodeJS.Signals) => {
    try {
      if (c.pid) process.kill(-c.pid, signal);
    } catch {
      // Already gone.
    }
  };
  for (const c of children) signalGroup(c, "SIGTERM");
  await new Promise((r) => setTimeout(r, 1500));
  for (const c of children) signalGroup(c, "SIGKILL");
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
  run("edge", "npx", ["wrangler", "dev", "--ip", host, "--port", String(apiPort), "--persist-to", ".wrangler/state", "--log-level", "warn"], {
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
  const args = ["tsx", "media-node/src/main.ts", "--host", host, "--port", String(port)];
  if (edgeAvailable) args.push("--edge-url", `ws://${host}:${apiPort}/node`);
  run(`node-${port}`, "npx", args, { NODE_SECRET: nodeSecret });
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
console.log("Ctrl-C to stop.");
