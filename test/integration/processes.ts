import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

// Real processes for integration tests: the edge in workerd through `wrangler dev` (with its
// Durable Object storage persisted to a directory, so a restart keeps it) and media nodes
// started from their CLI. Everything listens on 127.0.0.1 and is killed by the test.

const ROOT = path.resolve(import.meta.dirname, "../..");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

class ManagedProcess {
  output = "";
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString();
      if (process.env.DEBUG_INTEGRATION) process.stderr.write(`[${name}] ${chunk.toString()}`);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  async waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (this.child.exitCode !== null) throw new Error(`${this.name} exited (${this.child.exitCode}):\n${this.output.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms:\n${this.output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Signals the whole process group (npx/wrangler spawn grandchildren). */
  signal(signal: NodeJS.Signals): void {
    try {
      if (this.child.pid) process.kill(-this.child.pid, signal);
    } catch {
      // Already gone.
    }
  }

  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.signal(signal);
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.signal("SIGKILL"); // stragglers in the group (workerd)
  }
}

export class EdgeProcess extends ManagedProcess {
  constructor(
    child: ChildProcess,
    readonly port: number,
    readonly persistDir: string,
  ) {
    super("edge", child);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  get nodeLinkUrl(): string {
    return `ws://127.0.0.1:${this.port}/node`;
  }

  /** POST / with x-sora-target, like Sora's HTTP API clients. */
  async api(target: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(this.url, {
      method: "POST",
      headers: { "x-sora-target": target, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Left as text: the assertion will show it.
    }
    return { status: res.status, body: parsed };
  }

  /** Calls a target that must succeed and returns its answer. */
  async ok(target: string, body?: unknown): Promise<any> {
    const res = await this.api(target, body);
    if (res.status !== 200) throw new Error(`${target} → ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /** The names of the nodes serving a channel (ListClusterChannels `owners`), sorted. */
  async channelOwners(channelId: string): Promise<string[]> {
    const channels: { channel_id: string; owners?: { node_name: string }[] }[] = await this.ok("Sora_20211215.ListClusterChannels");
    return (channels.find((ch) => ch.channel_id === channelId)?.owners ?? []).map((o) => o.node_name).sort();
  }
}

export async function startEdge(opts: { persistDir?: string; port?: number; vars?: Record<string, string> } = {}): Promise<EdgeProcess> {
  const port = opts.port ?? (await freePort());
  const inspectorPort = await freePort();
  const persistDir = opts.persistDir ?? mkdtempSync(path.join(tmpdir(), "edge-state-"));
  const args = [
    "wrangler",
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    persistDir,
    "--log-level",
    "warn",
    "--show-interactive-dev-session=false",
  ];
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const child = spawn("npx", args, {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", CI: "1", FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const edge = new EdgeProcess(child, port, persistDir);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${edge.url}health`);
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${edge.output.slice(-3000)}`);
    if (Date.now() > deadline) {
      await edge.stop("SIGKILL");
      throw new Error(`edge did not come up:\n${edge.output.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return edge;
}

export class NodeProcess extends ManagedProcess {
  constructor(
    child: ChildProcess,
    readonly port: number,
    readonly nodeName: string,
  ) {
    super(nodeName, child);
  }

  get signalingUrl(): string {
    return `ws://127.0.0.1:${this.port}/signaling`;
  }
}

export async function startNode(edge: EdgeProcess, opts: { port?: number; args?: string[] } = {}): Promise<NodeProcess> {
  const port = opts.port ?? (await freePort());
  const nodeName = `node-${port}@127.0.0.1`;
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "media-node/src/main.ts",
      "--port",
      String(port),
      "--edge-url",
      edge.nodeLinkUrl,
      "--crash-log-dir",
      mkdtempSync(path.join(tmpdir(), "crash-logs-")),
      ...(opts.args ?? []),
    ],
    { cwd: ROOT, env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  const node = new NodeProcess(child, port, nodeName);
  await node.waitForOutput(/signaling on/, 30_000);
  await node.waitForOutput(/joined the edge/, 30_000);
  return node;
}

export async function until<T>(what: string, probe: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
