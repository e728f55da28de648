import { parentPort, workerData } from "node:worker_threads";
import type { ApiName } from "../shared/api/catalog.js";
import { apiCaller } from "./edge-api-http.js";
import { watchPauses } from "./pause-watch.js";

// The API side of `npm run bench:edge`, on its own thread (bench/edge-load.ts starts it as a
// worker): the 50 simulated nodes build and send thousands of reports a second on the main
// thread, and an API answer that arrived while that loop was busy would be timed late — the
// bench's own delay counted as the edge's. Here the only work on the loop is the API calls.

export interface ApiClientConfig {
  base: string;
  channels: string[];
  keepAlive: boolean;
  /** Open loop: calls started per second whatever the answers. */
  rate?: number;
  /** Closed loop: clients that each call again once answered. */
  concurrency: number;
  /** Calls due before this many ms after the start are made but not counted. */
  warmUpMs: number;
  /** Calls due this many ms after the warm-up, or later, are made but not counted (the nodes have stopped reporting). */
  countedMs: number;
  /** When the nodes started reporting (performance.timeOrigin + performance.now() on the main thread). */
  startEpochMs: number;
}

export interface ApiClientResult {
  latencies: [string, number[]][];
  errors: [string, number][];
  /** The slowest call started in each second of the run. */
  bySecond: number[];
  /** This thread's pauses over 10 ms: when (ms from the counted run's start) and how long. */
  pauses: [number, number][];
  /** Calls over SLOW_MS: when they were due (ms into the counted run), how long they took, which target. */
  slow: [number, number, string][];
  firstErrors: string[];
}

const config = workerData as ApiClientConfig;
const call = apiCaller(config.keepAlive);
const api = (name: ApiName, body: unknown) => call(config.base, name, body);

const channels = config.channels;
const targets: ((k: number) => [ApiName, unknown])[] = [
  () => ["ListChannels", {}],
  () => ["GetStatsReport", {}],
  (k) => ["PutSignalingNotifyMetadata", { channel_id: channels[k % channels.length], connection_id: "P1", metadata: { k } }],
  (k) => ["GetSignalingNotifyMetadata", { channel_id: channels[k % channels.length], connection_id: "P1" }],
  (k) => ["PauseRtpStream", { channel_id: channels[k % channels.length], recv_connection_id: "P2", send_connection_id: "P1" }],
];

const latencies = new Map<string, number[]>();
const errors = new Map<string, number>();
const firstErrors: string[] = [];
const bySecond: number[] = [];
const slow: [number, number, string][] = [];
/** The API goal's bound (issue 12: p99 ≤ 20 ms): calls slower than this are listed with their time. */
const SLOW_MS = 20;
let running = true;
let k = 0;
/** The nodes' start on this thread's clock (the worker starts up to a second later). */
const runStart = config.startEpochMs - performance.timeOrigin;
/** This thread's own pauses (pause-watch.ts): a slow call due then may have waited for this thread, not the edge. */
const pauseWatch = watchPauses(runStart + config.warmUpMs);

async function callOnce(t0: number): Promise<void> {
  const [name, body] = targets[k % targets.length]!(k++);
  const res = await api(name, body);
  const ms = performance.now() - t0;
  if (t0 < runStart + config.warmUpMs || t0 >= runStart + config.warmUpMs + config.countedMs) return;
  if (res.status !== 200) {
    errors.set(name, (errors.get(name) ?? 0) + 1);
    if ((errors.get(name) ?? 0) <= 2) firstErrors.push(`${name} → ${res.status} ${res.text.slice(0, 200)}`);
  }
  const list = latencies.get(name) ?? [];
  list.push(ms);
  latencies.set(name, list);
  const at = t0 - runStart - config.warmUpMs;
  if (ms > SLOW_MS) slow.push([at, ms, name]);
  const second = Math.floor(at / 1000);
  bySecond[second] = Math.max(bySecond[second] ?? 0, ms);
}

/** An operator's tools poll at their own pace: a call's latency counts from when it was due. */
async function openLoop(rate: number): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  // The first call due once this thread runs: calls due while it started are not all made at once.
  let n = Math.max(0, Math.ceil(((performance.now() - runStart) * rate) / 1000));
  while (running) {
    const due = runStart + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (!running) break;
    const call = callOnce(due).finally(() => inFlight.delete(call));
    inFlight.add(call);
    n++;
  }
  await Promise.all(inFlight);
}

async function closedLoop(): Promise<void> {
  while (running) await callOnce(performance.now());
}

parentPort!.once("message", () => {
  running = false;
});
const done = config.rate !== undefined ? openLoop(config.rate) : Promise.all(Array.from({ length: config.concurrency }, closedLoop));
await done;
const result: ApiClientResult = {
  latencies: [...latencies],
  errors: [...errors],
  bySecond: bySecond.map((ms) => ms ?? 0),
  slow,
  pauses: pauseWatch.stop(),
  firstErrors,
};
parentPort!.postMessage(result);
