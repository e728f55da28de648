import { Command } from "commander";
import WebSocket from "ws";
import { CONTROL_PROTOCOL_VERSION, zeroNodeCounters, type EdgeMessage, type NodeLoad, type NodeReport } from "../shared/control-protocol.js";
import type { ApiName } from "../shared/api/catalog.js";
import { apiCaller } from "./edge-api-http.js";
import { startEdge } from "../test/integration/processes.js";
import { startMiniflareEdge } from "./edge-miniflare.js";
import type { ApiClientConfig, ApiClientResult } from "./edge-api-client.js";
import { Worker } from "node:worker_threads";
import { formatPauses, watchPauses } from "./pause-watch.js";
import { REPORT_BATCH_WINDOW_MS, batchFrames } from "../media-node/src/control/edge-link.js";
import { MAX_BATCH_REPORTS, MAX_CONTROL_MESSAGE_BYTES } from "../shared/control-protocol.js";

// `npm run bench:edge [-- --nodes 50 --rate 100 --seconds 10 --api-concurrency 4 --runtime wrangler|miniflare]`
//
// Edge load test: the real Worker and Durable Objects in workerd (`wrangler dev`), N simulated
// media nodes speaking the real control protocol (shared/control-protocol.ts: hello, numbered
// reports, pings, acks), each reporting joins and leaves on its channels at a set rate plus its
// load every 2 s, while API clients call ListChannels, GetStatsReport, Put/GetSignalingNotifyMetadata
// and PauseRtpStream on live channels. Reports: node reports/s absorbed (each node ends with a
// `place`, answered only after every earlier report of its link was applied), whether the edge's
// connection lists equal what the nodes reported (nothing lost, nothing applied out of order: a
// leave applied before its join would leave the connection listed), API latency p50/p99 per
// target, and calls per second each Durable Object class handled (POST /internal/call-counts).

const program = new Command()
  .option("--nodes <n>", "simulated media nodes", "50")
  .option("--channels <n>", "channels per node", "4")
  .option("--rate <n>", "connection reports per second per node", "100")
  .option("--seconds <n>", "how long the nodes report", "10")
  .option("--api-concurrency <n>", "API calls in flight (closed loop: each client calls again once answered)", "4")
  .option("--api-rate <n>", "open loop instead: start this many API calls per second whatever the answers (latency counted from each call's scheduled time)")
  .option("--runtime <name>", "wrangler (wrangler dev, with its local proxy in front) or miniflare (workerd alone; the goal's figures in docs/performance.md: --runtime miniflare --api-rate 100 --storage-dir /dev/shm --seconds 30)", "wrangler")
  .option("--batch-window-ms <ms>", "how long a node's reports wait for others to share a frame (default: edge-link.ts REPORT_BATCH_WINDOW_MS; 0 = one tick)")
  .option("--hold-ms <ms>", "the edge's CHANNEL_REPORT_HOLD_MS (default: the edge's own)")
  .option("--busy-hold-ms <ms>", "the edge's CHANNEL_REPORT_BUSY_HOLD_MS, the least time between two calls for one busy channel (default: the edge's own)")
  .option("--persist-ms <ms>", "the edge's CHANNEL_PERSIST_MS, how long connection changes are written behind (default: the edge's own)")
  .option("--storage-dir <dir>", "miniflare only: where workerd keeps the Durable Objects' SQLite files (e.g. /dev/shm; default: the OS temp dir)")
  .option("--warm-up <seconds>", "the nodes report and the API is called this long before anything is counted", "2")
  .option("--no-keep-alive", "a new HTTP connection per API call")
  .option("--no-batch", "one report per frame even when the edge takes batch frames (as older nodes)")
  .option("--edge <url>", "use a running edge (http://127.0.0.1:3000) instead of starting one")
  .parse();
const opts = program.opts<{ nodes: string; channels: string; rate: string; seconds: string; apiConcurrency: string; apiRate?: string; runtime: string; batch: boolean; keepAlive: boolean; holdMs?: string; busyHoldMs?: string; persistMs?: string; batchWindowMs?: string; edge?: string; storageDir?: string; warmUp: string }>();
const NODES = Number(opts.nodes);
const CHANNELS = Number(opts.channels);
const RATE = Number(opts.rate);
const SECONDS = Number(opts.seconds);
const WARM_UP_MS = Number(opts.warmUp) * 1000;
const API_CONCURRENCY = Number(opts.apiConcurrency);
const TICK_MS = 20;
const BATCH_WINDOW_MS = opts.batchWindowMs === undefined ? REPORT_BATCH_WINDOW_MS : Number(opts.batchWindowMs);
const WINDOWED: ReadonlySet<string> = new Set(["connection.created", "connection.destroyed", "user_agent_stats", "load", "counters"]);
/** After the nodes stop, how long the edge may take to apply what they sent before the run counts as failed. */
const DRAIN_TIMEOUT_MS = 60_000;
/** Short-lived connections kept per channel at most; beyond, the oldest leaves. */
const WINDOW = 6;

interface ChannelState {
  id: string;
  session: string;
  /** Live short-lived connections, oldest first. */
  live: string[];
  next: number;
}

class SimNode {
  readonly channels: ChannelState[];
  private ws!: WebSocket;
  private seq = 0;
  sent = 0;
  private ping?: NodeJS.Timeout;
  private nextId = 1;
  private readonly waiting = new Map<number, () => void>();
  commands = 0;
  frames = 0;
  closed: string | undefined;
  /** Like media-node's edge-link.ts: once the welcome says so, what one tick sends goes in batch frames. */
  private batching = false;
  private queued: { text: string; bytes: number }[] = [];
  private flushScheduled = false;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    channelCount: number,
  ) {
    this.channels = Array.from({ length: channelCount }, (_, i) => ({ id: `${name}-ch${i}`, session: `s-${name}-ch${i}`, live: [], next: 0 }));
  }

  async connect(baseUrl: string): Promise<void> {
    const url = new URL("/node", baseUrl.replace(/^http/, "ws"));
    url.searchParams.set("node_name", this.name);
    this.ws = new WebSocket(url, { maxPayload: 1024 * 1024 });
    await new Promise((resolve, reject) => this.ws.once("open", resolve).once("error", reject));
    const welcomed = new Promise<void>((resolve) => this.waiting.set(0, resolve));
    this.ws.on("message", (data) => this.onMessage(data.toString()));
    this.ws.on("close", (code, reason) => {
      this.closed = `${code} ${reason.toString()}`;
      for (const done of this.waiting.values()) done();
    });
    // Like a real node: pings from the open, not from the welcome (the edge's liveness clock starts at accept).
    this.ping = setInterval(() => this.ws.readyState === WebSocket.OPEN && this.ws.send("ping"), 2_000);
    this.send({
      type: "hello",
      protocol_version: CONTROL_PROTOCOL_VERSION,
      node_name: this.name,
      external_signaling_url: `ws://${this.name}/signaling`,
      external_api_url: null,
      version: "bench",
      license: { license_max_nodes: null, license_max_connections: 1000, license_serial_code: null, license_type: null },
      auto_join: true,
      mode: "normal",
      channels: [],
      counters: zeroNodeCounters(),
      load: this.load(),
    });
    await welcomed;
    if (this.closed) throw new Error(`${this.name}: link closed before the welcome (${this.closed})`);
    // Each channel: a session with two permanent connections the API clients act on.
    for (const c of this.channels) {
      this.send({
        type: "session.created",
        channel: { channel_id: c.id, session_id: c.session, multistream: true, spotlight: false, simulcast: false, created_at: Date.now(), connections: [conn("P1"), conn("P2")] },
      });
    }
  }

  private onMessage(text: string): void {
    if (text === "pong") return;
    const message = JSON.parse(text) as EdgeMessage;
    if (message.type === "welcome") {
      this.batching = opts.batch && message.batches === true;
      this.waiting.get(0)?.();
    }
    else if (message.type === "response") this.waiting.get(message.id)?.();
    else if (message.type === "command") {
      this.commands++;
      const result = message.command.name === "get_counters" ? zeroNodeCounters() : {};
      this.send({ type: "ack", id: message.id, ok: true, result });
    }
  }

  private send(report: NodeReport): void {
    if (report.type !== "ack") {
      report.seq = this.seq++;
      this.sent++;
    }
    const text = JSON.stringify(report);
    if (!this.batching) {
      this.frames++;
      this.ws.send(text);
      return;
    }
    this.queued.push({ text, bytes: Buffer.byteLength(text) });
    if (this.flushScheduled) return;
    // As edge-link.ts: reports nobody waits for wait REPORT_BATCH_WINDOW_MS for company (unless
    // --batch-window-ms says otherwise); the rest go at the end of this tick with what is queued.
    if (WINDOWED.has(report.type) && BATCH_WINDOW_MS > 0) {
      this.flushTimer ??= setTimeout(() => this.flush(), BATCH_WINDOW_MS);
      return;
    }
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const items = this.queued;
    this.queued = [];
    for (const frame of batchFrames(items, MAX_CONTROL_MESSAGE_BYTES, MAX_BATCH_REPORTS)) {
      this.frames++;
      this.ws.send(frame.text);
    }
  }

  /** One join or leave on a channel (round robin): joins until the window is full, then the oldest leaves. */
  step(i: number): void {
    const c = this.channels[i % this.channels.length]!;
    if (c.live.length < WINDOW) {
      const id = `C${c.next++}`;
      c.live.push(id);
      this.send({ type: "connection.created", channel_id: c.id, session_id: c.session, connection: conn(id) });
    } else {
      const id = c.live.shift()!;
      this.send({ type: "connection.destroyed", channel_id: c.id, session_id: c.session, connection_id: id });
    }
  }

  load(): NodeLoad {
    const connections = this.channels?.reduce((n, c) => n + 2 + c.live.length, 0) ?? 0;
    return { connections, max_connections: 1000, forwarded_packets_per_second: 0, cpu_percent: 0, event_loop_delay_p99_ms: 0 };
  }

  sendLoad(): void {
    this.send({ type: "load", load: this.load() });
  }

  /** Resolves once the edge has applied every report this node sent before it. */
  barrier(): Promise<void> {
    const id = this.nextId++;
    const done = new Promise<void>((resolve) => this.waiting.set(id, resolve));
    this.send({ type: "place", id, channel_id: this.channels[0]!.id });
    return done;
  }

  close(): void {
    if (this.ping) clearInterval(this.ping);
    this.ws.close(1000);
  }
}

function conn(id: string) {
  return { connection_id: id, client_id: id, bundle_id: id, role: "sendrecv" as const, simulcast: false, spotlight: false, created_at: 1 };
}

const call = apiCaller(opts.keepAlive);

async function api(base: string, name: ApiName, body: unknown): Promise<{ status: number; body: any }> {
  const res = await call(base, name, body);
  try {
    return { status: res.status, body: res.text ? JSON.parse(res.text) : undefined };
  } catch {
    return { status: res.status, body: res.text.slice(0, 200) };
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  let edge: { url: string; output?: string; logPath?: string; stop(): Promise<void> } | undefined;
  const vars: Record<string, string> = {};
  if (opts.holdMs !== undefined) vars.CHANNEL_REPORT_HOLD_MS = opts.holdMs;
  if (opts.busyHoldMs !== undefined) vars.CHANNEL_REPORT_BUSY_HOLD_MS = opts.busyHoldMs;
  if (opts.persistMs !== undefined) vars.CHANNEL_PERSIST_MS = opts.persistMs;
  if (!opts.edge) edge = opts.runtime === "wrangler" ? await startEdge({ vars }) : await startMiniflareEdge(vars, opts.storageDir);
  const base = opts.edge ?? edge!.url;
  console.log(`edge: ${opts.edge ?? opts.runtime} at ${base}${edge?.logPath ? ` (workerd output: ${edge.logPath})` : ""}`);
  try {
    const nodes = Array.from({ length: NODES }, (_, i) => new SimNode(`bench-${i}@edge-load`, CHANNELS));
    const linkStart = performance.now();
    await Promise.all(nodes.map((n) => n.connect(base)));
    await Promise.all(nodes.map((n) => n.barrier()));
    console.log(`${NODES} nodes linked with ${NODES * CHANNELS} channels in ${Math.round(performance.now() - linkStart)} ms`);
    const names = { nodes: nodes.map((n) => n.name), channels: nodes.flatMap((n) => n.channels.map((c) => c.id)) };

    // API clients on their own thread (bench/edge-api-client.ts), for as long as the nodes report.
    const apiConfig: ApiClientConfig = {
      base,
      channels: names.channels,
      keepAlive: opts.keepAlive,
      rate: opts.apiRate !== undefined ? Number(opts.apiRate) : undefined,
      concurrency: API_CONCURRENCY,
      warmUpMs: WARM_UP_MS,
      countedMs: SECONDS * 1000,
      startEpochMs: 0,
    };

    // Nodes report at RATE per second each, in TICK_MS batches, load every 2 s. Each node keeps
    // its own clock from a random phase, as independent nodes would: stepped together, the 50
    // nodes' batch windows all closed in the same millisecond and the edge got 50 frames at once.
    // Counting starts after the warm-up (the first second holds the JIT's and the objects' first calls).
    const perTick = (RATE * TICK_MS) / 1000;
    const began = performance.now();
    // The API's clock is the nodes' clock: its warm-up and its counted seconds are theirs, so the
    // drain at the end (every node's `place` barrier at once) is not counted as API latency at load.
    apiConfig.startEpochMs = performance.timeOrigin + began;
    // The nodes' own thread answers the edge's commands (PutSignalingNotifyMetadata and
    // PauseRtpStream wait for those acks): its pauses are printed too.
    const nodesPauses = watchPauses(began + WARM_UP_MS);
    let start = began;
    let sentBefore = 0;
    let framesBefore = 0;
    // The objects' call counts are read halfway through the warm-up, not at its end: reading them
    // is an RPC to each of the 250 objects, a stall of the edge's thread that the API's first
    // counted calls would wait for.
    let countsBefore: any;
    let countsBeforeAt = 0;
    const countedBefore = new Promise<void>((resolve) =>
      setTimeout(async () => {
        countsBeforeAt = performance.now();
        countsBefore = await (await fetch(new URL("/internal/call-counts", base), { method: "POST", body: JSON.stringify(names) })).json();
        resolve();
      }, WARM_UP_MS / 2),
    );
    const warmedUp = new Promise<void>((resolve) =>
      setTimeout(() => {
        start = performance.now();
        sentBefore = nodes.reduce((n, x) => n + x.sent, 0);
        framesBefore = nodes.reduce((n, x) => n + x.frames, 0);
        resolve();
      }, WARM_UP_MS),
    );
    // tsx registers its loader on this thread only: the worker registers it before loading the client.
    const clientUrl = new URL("./edge-api-client.ts", import.meta.url).href;
    const apiWorker = new Worker(`import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(clientUrl)}); });`, { eval: true, workerData: apiConfig });
    const apiResult = new Promise<ApiClientResult>((resolve, reject) => {
      apiWorker.once("message", resolve);
      apiWorker.once("error", reject);
    });
    console.log(opts.apiRate !== undefined ? `API: open loop, ${opts.apiRate} calls/s (own thread)` : `API: ${API_CONCURRENCY} clients in a closed loop (own thread)`);
    await Promise.all(
      nodes.map(
        (node) =>
          new Promise<void>((resolve) => {
            let carry = 0;
            let tickIndex = 0;
            const phase = Math.random() * TICK_MS;
            // Each node's load every 2 s on its own clock too (a media node sends it from its own start).
            const loadEvery = Math.round(2000 / TICK_MS);
            const loadPhase = Math.floor(Math.random() * loadEvery);
            const tick = () => {
              const elapsed = performance.now() - began - phase;
              if (elapsed >= WARM_UP_MS + SECONDS * 1000) {
                clearInterval(timer);
                resolve();
                return;
              }
              // Catch up on ticks the event loop was late for, so the offered rate holds.
              const due = Math.floor(elapsed / TICK_MS) + 1 - tickIndex;
              for (let t = 0; t < due; t++, tickIndex++) {
                carry += perTick;
                const count = Math.floor(carry);
                carry -= count;
                for (let i = 0; i < count; i++) node.step(tickIndex * 7 + i);
                if ((tickIndex + loadPhase) % loadEvery === 0) node.sendLoad();
              }
            };
            let timer: NodeJS.Timeout;
            setTimeout(() => {
              tick();
              timer = setInterval(tick, TICK_MS);
            }, phase);
          }),
      ),
    );
    await warmedUp;
    await countedBefore;
    const nodesPausesSeen = nodesPauses.stop();
    const offeredMs = performance.now() - start;
    const drained = await Promise.race([
      Promise.all(nodes.map((n) => n.barrier())).then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS)),
    ]);
    if (!drained) console.log(`not every node's reports were applied within ${DRAIN_TIMEOUT_MS / 1000} s of the end`);
    const absorbedMs = performance.now() - start;
    apiWorker.postMessage("stop");
    const apiOut = await apiResult;
    await apiWorker.terminate();
    for (const line of apiOut.firstErrors) console.warn(line);
    const latencies = new Map(apiOut.latencies);
    const errors = new Map(apiOut.errors);
    const bySecond = apiOut.bySecond;
    const reports = nodes.reduce((n, x) => n + x.sent, 0) - sentBefore;
    const frames = nodes.reduce((n, x) => n + x.frames, 0) - framesBefore;
    const lost = nodes.filter((n) => n.closed);
    if (lost.length > 0) console.log(`links closed during the run: ${lost.length} (${lost[0]!.closed})`);
    const countsAfter = await (await fetch(new URL("/internal/call-counts", base), { method: "POST", body: JSON.stringify(names) })).json();
    const countedSeconds = (performance.now() - countsBeforeAt) / 1000;

    // Nothing lost or reordered: each channel lists exactly P1, P2 and its live window.
    let mismatched = 0;
    for (const node of nodes) {
      for (const c of node.channels) {
        const res = await api(base, "ListChannelConnections", { channel_id: c.id });
        const listed = (res.body as { connection_id: string }[]).map((x) => x.connection_id).sort();
        const expected = ["P1", "P2", ...c.live].sort();
        if (JSON.stringify(listed) !== JSON.stringify(expected)) mismatched++;
      }
    }

    console.log(`\nnode reports: ${reports} in ${(offeredMs / 1000).toFixed(1)} s offered (${Math.round(reports / (offeredMs / 1000))}/s), all applied after ${(absorbedMs / 1000).toFixed(1)} s → absorbed ${Math.round(reports / (absorbedMs / 1000))}/s`);
    console.log(`frames: ${frames} (${(reports / frames).toFixed(1)} messages per frame${opts.batch ? "" : ", batching off"})`);
    console.log(`channels whose connections differ from what the nodes reported (a report lost or applied out of order): ${mismatched} of ${names.channels.length}`);
    console.log("\n| API target | calls | errors | p50 ms | p99 ms |\n|---|---|---|---|---|");
    for (const [name, list] of [...latencies, ["all", [...latencies.values()].flat()] as const]) {
      const sorted = [...list].sort((a, b) => a - b);
      const errs = name === "all" ? [...errors.values()].reduce((n, e) => n + e, 0) : (errors.get(name) ?? 0);
      console.log(`| ${name} | ${list.length} | ${errs} | ${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 99).toFixed(1)} |`);
    }
    if (bySecond.length > 0) console.log(`slowest API call by second of the run (ms): ${bySecond.map((ms) => Math.round(ms ?? 0)).join(" ")}`);
    if (apiOut.slow.length > 0) {
      // Calls due within a few ms of each other waited for the same thing: one stall, not many.
      console.log(`calls over 20 ms (due at s into the run: ms): ${apiOut.slow.sort((a, b) => a[0] - b[0]).map(([at, ms]) => `${(at / 1000).toFixed(2)}:${Math.round(ms)}`).join(" ")}`);
    }
    const apiPaused = formatPauses(apiOut.pauses, SECONDS * 1000);
    if (apiPaused) console.log(`the API thread's own pauses over 10 ms (at s: ms): ${apiPaused}`);
    const nodesPaused = formatPauses(nodesPausesSeen, SECONDS * 1000);
    if (nodesPaused) console.log(`the simulated nodes' thread's own pauses over 10 ms (at s: ms): ${nodesPaused}`);
    console.log(`\n| Durable Object class | instances | calls/s | by kind (per s) |\n|---|---|---|---|`);
    for (const cls of ["ClusterObject", "NodeObject", "ChannelObject"] as const) {
      const before = countsBefore[cls].counts as Record<string, number>;
      const after = countsAfter[cls].counts as Record<string, number>;
      const kinds = Object.keys(after)
        .map((kind) => [kind, ((after[kind] ?? 0) - (before[kind] ?? 0)) / countedSeconds] as const)
        .filter(([, rate]) => rate > 0)
        .sort((a, b) => b[1] - a[1]);
      const total = kinds.reduce((n, [, r]) => n + r, 0);
      console.log(`| ${cls} | ${countsAfter[cls].instances} | ${Math.round(total)} | ${kinds.map(([kind, r]) => `${kind} ${r.toFixed(1)}`).join(", ")} |`);
    }
    for (const n of nodes) n.close();
    if (mismatched > 0) process.exitCode = 1;
    if (edge?.output && (mismatched > 0 || errors.size > 0)) console.log(`\nwrangler dev output (tail):\n${edge.output.slice(-3000)}`);
  } finally {
    await edge?.stop();
  }
}

await main();
