import { fork, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { ClusterEdge } from "./cluster-edge.js";
import { relayTable } from "./relay-table.js";
import { JANUS_ROOM, janusAvailable, procMetrics, removeJanusConfig, startJanus, type JanusServer } from "./janus-server.js";
import type { ClientSpec, ConnectPhases, ServerMode, WorkerReply, WorkerRequest, WorkerSnapshot } from "./protocol.js";
import { maxBetween, quantileBetween, type HistogramSnapshot } from "../media-node/src/metrics/bucket-histogram.js";

// `npm run bench [-- --quick] [-- --only fanout-100] [-- --node-arg=--fast-path=off]`
//
// Load tool: the media node runs as its own process (media-node/src/main.ts) and reports its CPU,
// event-loop delay and RSS on /metrics.json; headless Sora clients (werift ICE/DTLS/SRTP) run in
// separate client processes, publish synthetic VP8 + Opus RTP at a set rate and size, and count
// arrivals (loss from sequence numbers, reordering, one-way delay from a send time in the
// payload). Each scenario is also run through a minimal Node UDP relay (no crypto) with the
// same packets: the floor a Node process can reach, printed as a ratio. With --janus the fan-out
// scenarios also run through Janus's VideoRoom (Debian `janus`, started per scenario) with the
// same clients and media, for a side-by-side ratio of CPU per forwarded packet.

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

const program = new Command()
  .option("--quick", "short run (< 3 min)")
  .option("--only <names>", "comma-separated scenario names (fanout-10, room-4, storm-50, ...)")
  .option("--duration <s>", "measurement window per scenario (s)")
  .option("--no-raw", "skip the raw UDP relay baseline")
  .option("--janus", "also run fan-out scenarios through Janus's VideoRoom (needs `janus` on PATH; with --quick: fanout-10 only)")
  .option("--janus-event-loops <n>", "Janus event_loops (default 0: a loop thread per handle, Janus's default)")
  .option("--node-arg <arg...>", "extra arguments for the media node process")
  .option("--no-udp-mux", "the node without udp_port: a UDP socket per connection (werift's default) instead of one shared port as deployed (infra/node/node.json)")
  .option("--cpu-prof <dir>", "run the node with --cpu-prof into this directory")
  .option("--out <file>", "JSON output (default bench/results/bench-<time>.json)")
  .parse();
const opts = program.opts<{ quick?: boolean; only?: string; duration?: string; raw: boolean; udpMux: boolean; janus?: boolean; janusEventLoops?: string; nodeArg?: string[]; cpuProf?: string; out?: string }>();

interface Scenario {
  name: string;
  kind: "fanout" | "room" | "storm" | "relay";
  /** Relay scenarios: node processes (clients carry their node index); 1 otherwise. */
  nodes?: number;
  clients: ClientSpec[];
  /** Packets each subscriber-side stream is expected to carry per second (for the label). */
  description: string;
}

const VIDEO_SIZE = 1000;
const AUDIO_SIZE = 100;
const AUDIO_PPS = 50;

/** Forwarded packets/s the `iso-N` scenarios hold constant while N changes. */
const ISO_LOAD_PPS = 20_000;

function fanout(n: number, isoLoad = false): Scenario {
  // Keep the offered load within what one core can plausibly forward (≈25-30 k pps total). The
  // iso-N variant holds the forwarded rate at ISO_LOAD_PPS for every N, so CPU per forwarded
  // packet across N compares like with like (not a 200 pps publisher's wake-ups shared by N).
  const videoPps = isoLoad
    ? Math.max(25, Math.round(ISO_LOAD_PPS / n) - AUDIO_PPS)
    : n <= 100
      ? 200
      : Math.max(50, Math.floor(30_000 / n) - AUDIO_PPS);
  const ch = `${isoLoad ? "iso" : "fanout"}-${n}`;
  const clients: ClientSpec[] = [
    { id: "pub", channelId: ch, role: "sendonly", publish: { videoPps, videoSize: VIDEO_SIZE, audioPps: AUDIO_PPS, audioSize: AUDIO_SIZE } },
  ];
  for (let i = 0; i < n; i++) clients.push({ id: `sub${i}`, channelId: ch, role: "recvonly", delayMs: 300 + i * 25 });
  return { name: ch, kind: "fanout", clients, description: `1 → ${n}, video ${videoPps} pps × ${VIDEO_SIZE} B + audio ${AUDIO_PPS} pps` };
}

function room(k: number): Scenario {
  const videoPps = 150;
  const ch = `room-${k}`;
  const clients: ClientSpec[] = [];
  for (let i = 0; i < k; i++) {
    clients.push({ id: `p${i}`, channelId: ch, role: "sendrecv", delayMs: i * 150, publish: { videoPps, videoSize: VIDEO_SIZE, audioPps: AUDIO_PPS, audioSize: AUDIO_SIZE } });
  }
  return { name: ch, kind: "room", clients, description: `${k} × sendrecv, video ${videoPps} pps + audio ${AUDIO_PPS} pps each` };
}

function storm(n: number, overMs: number): Scenario {
  const ch = `storm-${n}`;
  const clients: ClientSpec[] = [
    { id: "pub", channelId: ch, role: "sendonly", publish: { videoPps: 100, videoSize: VIDEO_SIZE, audioPps: AUDIO_PPS, audioSize: AUDIO_SIZE } },
  ];
  for (let i = 0; i < n; i++) clients.push({ id: `sub${i}`, channelId: ch, role: "recvonly", delayMs: 500 + Math.round((i * overMs) / n) });
  return { name: ch, kind: "storm", clients, description: `1 publisher, ${n} subscribers joining within ${overMs / 1000} s` };
}

/** Node processes of the relay scenarios (the publisher's node is node 0, "A"). */
const RELAY_NODES = 3;

/** `relay-fanout-N`: one publisher on node A, N recvonly subscribers spread evenly over the nodes. */
function relayFanout(n: number): Scenario {
  // Three node processes and the clients share this box's two cores: hold the forwarded load near
  // 10 k pkt/s (1 → 300: video 17 + audio 16 pps) and join 80 ms apart (12.5 joins/s over 3 nodes: werift clients on this shared box fail DTLS at 40/s).
  const perSubscriber = Math.min(250, Math.round(10_000 / n));
  const audioPps = Math.min(AUDIO_PPS, Math.floor(perSubscriber / 2));
  const videoPps = perSubscriber - audioPps;
  const name = `relay-fanout-${n}`;
  const clients: ClientSpec[] = [{ id: "pub", channelId: name, role: "sendonly", node: 0, publish: { videoPps, videoSize: VIDEO_SIZE, audioPps, audioSize: AUDIO_SIZE } }];
  for (let i = 0; i < n; i++) clients.push({ id: `sub${i}`, channelId: name, role: "recvonly", node: i % RELAY_NODES, delayMs: 300 + i * 80 });
  return { name, kind: "relay", nodes: RELAY_NODES, clients, description: `1 → ${n} over ${RELAY_NODES} nodes (publisher on A), video ${videoPps} pps × ${VIDEO_SIZE} B + audio ${audioPps} pps` };
}

/**
 * `relay-room-K`: K sendrecv clients spread evenly over the nodes, everyone receives everyone. The
 * per-publisher rate keeps the forwarded total near 10 k pkt/s (K = 30: 29 × 30 streams of 11 pps).
 */
function relayRoom(k: number): Scenario {
  const perPublisher = Math.max(10, Math.round(10_000 / (k * (k - 1))));
  const audioPps = Math.min(AUDIO_PPS, Math.floor(perPublisher / 2));
  const videoPps = Math.min(150, perPublisher - audioPps);
  const name = `relay-room-${k}`;
  const clients: ClientSpec[] = [];
  for (let i = 0; i < k; i++) {
    clients.push({ id: `p${i}`, channelId: name, role: "sendrecv", node: i % RELAY_NODES, delayMs: i * 150, publish: { videoPps, videoSize: VIDEO_SIZE, audioPps, audioSize: AUDIO_SIZE } });
  }
  return { name, kind: "relay", nodes: RELAY_NODES, clients, description: `${k} × sendrecv over ${RELAY_NODES} nodes, video ${videoPps} pps + audio ${audioPps} pps each` };
}

const scenarios: Scenario[] = opts.quick
  ? [fanout(1), fanout(10), fanout(100), room(4), storm(20, 2000), relayFanout(60), relayRoom(9)]
  : [fanout(1), fanout(10), fanout(50), fanout(100), fanout(200), room(4), room(10), storm(50, 5000), fanout(10, true), fanout(50, true), fanout(100, true), fanout(200, true), relayFanout(300), relayRoom(30)];
const only = opts.only?.split(",");
function byName(name: string): Scenario | undefined {
  const r = /^relay-(fanout|room)-(\d+)$/.exec(name);
  if (r) return r[1] === "fanout" ? relayFanout(Number(r[2])) : relayRoom(Number(r[2]));
  const m = /^(fanout|iso|room|storm)-(\d+)$/.exec(name);
  if (!m) return undefined;
  const n = Number(m[2]);
  if (m[1] === "fanout" || m[1] === "iso") return fanout(n, m[1] === "iso");
  return m[1] === "room" ? room(n) : storm(n, n * 100);
}
const selected = only ? only.map((n) => byName(n) ?? (console.error(`unknown scenario ${n}`), process.exit(2))) : scenarios;
const durationS = Number(opts.duration ?? (opts.quick ? 4 : 8));
const WARMUP_MS = 1500;

// ---------------------------------------------------------------------------------------------

const tsxImport = ["--import", "tsx"];
let progressLabel = "";
function progress(text: string): void {
  if (!process.stdout.isTTY) return;
  process.stdout.write(`\r\x1b[2K${progressLabel} ${text}`);
}
function log(text: string): void {
  if (process.stdout.isTTY) process.stdout.write("\r\x1b[2K");
  console.log(text);
}

interface Server {
  proc: ChildProcess;
  metricsUrl?: string;
  url?: string;
  relayPort?: number;
  janus?: JanusServer;
  /** Relay scenarios: each node's signaling URL (all the one node's for `single`). */
  urls?: string[];
  /** Relay scenarios on the cluster: its node processes and the scripted edge they link to. */
  nodes?: Server[];
  edge?: ClusterEdge;
}

/** A UDP port free on 127.0.0.1 right now (the node's shared ICE port; it binds it a moment later). */
async function freeUdpPort(): Promise<number> {
  const { createSocket } = await import("node:dgram");
  const socket = createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  const port = socket.address().port;
  await new Promise<void>((r) => socket.close(() => r()));
  return port;
}

/** Relay scenarios: a scripted edge (bench/cluster-edge.ts) and `count` node processes linked to it. */
async function startCluster(count: number, logName: string): Promise<Server> {
  const edge = new ClusterEdge();
  await edge.listening();
  const nodes: Server[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await startServer("sora", `${logName}-node${i}`, ["--edge-url", edge.url]));
    for (let t = 0; edge.nodeCount < count; t++) {
      if (t > 200) throw new Error(`only ${edge.nodeCount} of ${count} nodes linked to the bench edge`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await Promise.all(nodes.map(stopServer));
    edge.close();
    throw err;
  }
  return { proc: nodes[0]!.proc, url: nodes[0]!.url, urls: nodes.map((n) => n.url!), nodes, edge };
}

async function startServer(mode: ServerMode, logName: string, extraArgs: string[] = []): Promise<Server> {
  if (mode === "janus") {
    mkdirSync(join(root, "bench/results"), { recursive: true });
    const janus = await startJanus(createWriteStream(join(root, "bench/results", `${logName}.log`)), Number(opts.janusEventLoops ?? 0));
    return { proc: janus.proc, url: janus.url, janus };
  }
  const args =
    mode === "sora" || mode === "single"
      ? [...tsxImport, ...(opts.cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${opts.cpuProf}`] : []), join(root, "media-node/src/main.ts"), "--port", "0", "--default-video-codec", "VP8", ...(opts.udpMux ? ["--udp-port", String(await freeUdpPort())] : []), ...extraArgs, ...(opts.nodeArg ?? [])]
      : [...tsxImport, join(root, "bench/udp-relay.ts")];
  const proc = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LOG_LEVEL: "warn", NODE_SECRET: "bench-node-secret" } });
  mkdirSync(join(root, "bench/results"), { recursive: true });
  const logFile = createWriteStream(join(root, "bench/results", `${logName}.log`));
  proc.stdout!.pipe(logFile);
  proc.stderr!.pipe(logFile);
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 20_000);
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const sora = /signaling on (ws:\/\/[^/\s]+)\/signaling/.exec(out);
      const relay = /relay (\d+) (\d+)/.exec(out);
      if (sora) {
        clearTimeout(timer);
        resolve({ proc, url: `${sora[1]}/signaling`, metricsUrl: `${sora[1]!.replace("ws:", "http:")}/metrics.json` });
      } else if (relay) {
        clearTimeout(timer);
        resolve({ proc, relayPort: Number(relay[1]), metricsUrl: `http://127.0.0.1:${relay[2]}/metrics.json` });
      }
    });
    proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    proc.once("exit", (code) => reject(new Error(`server exited ${code}: ${out.slice(-2000)}`)));
  });
}

async function stopServer(s: Server): Promise<void> {
  if (s.nodes) {
    await Promise.all(s.nodes.map(stopServer));
    s.edge?.close();
    return;
  }
  if (s.proc.exitCode === null && s.proc.signalCode === null) {
    const exited = new Promise((r) => s.proc.once("exit", r));
    s.proc.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      s.proc.kill("SIGKILL");
      await exited;
    }
  }
  if (s.janus) removeJanusConfig(s.janus);
}

interface Metrics {
  time_ms: number;
  cpu_user_us: number;
  cpu_system_us: number;
  rss_bytes: number;
  /** Cumulative since the server started (absent for Janus); a window is the difference of two reads. */
  event_loop_delay?: HistogramSnapshot;
  connections: number;
  fast_rtp_sent?: number;
  fast_rtp_received?: number;
  fast_send_drops?: number;
  /** Cluster relay counters (docs/relay.md), per node; summed over the nodes for a cluster. */
  relay_packets_sent?: number;
  relay_packets_received?: number;
  relay_nack_packets_resent?: number;
  relay_legs_sending?: number;
  relay_links?: number;
  /** A cluster's reads, one per node (the fields above are their sums). */
  perNode?: Metrics[];
}

const SUMMED = ["cpu_user_us", "cpu_system_us", "rss_bytes", "connections", "fast_rtp_sent", "fast_rtp_received", "relay_packets_sent", "relay_packets_received", "relay_nack_packets_resent", "relay_legs_sending", "relay_links"] as const;

async function metrics(s: Server): Promise<Metrics> {
  if (s.nodes) {
    const perNode = await Promise.all(s.nodes.map(metrics));
    const sum: Metrics = { ...perNode[0]!, time_ms: Math.max(...perNode.map((m) => m.time_ms)), perNode };
    for (const k of SUMMED) sum[k] = perNode.reduce((a, m) => a + (m[k] ?? 0), 0);
    return sum;
  }
  if (s.janus) return { ...procMetrics(s.proc.pid!), connections: NaN };
  const res = await fetch(s.metricsUrl!);
  return (await res.json()) as Metrics;
}

/** Event-loop delay p99 / max (ms) between two reads, to the histogram's bucket resolution (NaN for Janus). */
function loopDelayMs(from: Metrics, to: Metrics, which: "p99" | "max"): number {
  // A cluster: the worst node's.
  if (to.perNode) return Math.max(...to.perNode.map((m, i) => loopDelayMs(from.perNode![i]!, m, which)));
  if (!to.event_loop_delay) return NaN;
  const seconds = which === "p99" ? quantileBetween(from.event_loop_delay, to.event_loop_delay, 0.99) : maxBetween(from.event_loop_delay, to.event_loop_delay);
  return seconds * 1000;
}

class Worker {
  readonly proc: ChildProcess;
  private readonly waiters: ((m: WorkerReply) => boolean)[] = [];
  readonly joined: { id: string; connectMs: number; error?: string; phases?: ConnectPhases }[] = [];

  constructor() {
    this.proc = fork(join(root, "bench/client-worker.ts"), [], { execArgv: tsxImport, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.proc.on("message", (m: WorkerReply) => {
      if (m.type === "joined") this.joined.push(m);
      for (let i = 0; i < this.waiters.length; i++) {
        if (this.waiters[i]!(m)) {
          this.waiters.splice(i, 1);
          break;
        }
      }
    });
  }

  send(m: WorkerRequest): void {
    this.proc.send(m);
  }

  next<T extends WorkerReply["type"]>(type: T, timeoutMs = 30_000): Promise<Extract<WorkerReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`worker: no ${type}`)), timeoutMs);
      this.waiters.push((m) => {
        if (m.type !== type) return false;
        clearTimeout(t);
        resolve(m as Extract<WorkerReply, { type: T }>);
        return true;
      });
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.send({ type: "stop" });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}

export interface Row {
  scenario: string;
  server: ServerMode;
  description: string;
  connections: number;
  connected: number;
  durationS: number;
  forwardedPps: number;
  cpuPercent: number;
  ppsPerCore: number;
  cpuUsPerPacket: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  rssMb: number;
  rssPerConnectionMb: number;
  lossPercent: number;
  reordered: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  connectMedianMs: number;
  connectP95Ms: number;
  /** Medians of the clients' connect steps (ms from connect()): offer received, answer sent, ICE connected, connected. */
  connectPhasesMedianMs?: Required<ConnectPhases>;
  /** Share of forwarded packets the node sent / received on its fast path (metrics counters). */
  fastSentShare: number;
  /** Batched native sends the kernel refused during the window. */
  fastSendDrops?: number;
  fastReceivedPps: number;
  /** CPU of all client processes together (% of one core): the box is shared with them. */
  clientCpuPercent: number;
  /** Node CPU with all connections up, before media (% of one core); NaN for storms. */
  idleCpuPercent: number;
  /** CPU per forwarded packet net of that idle cost. */
  netCpuUsPerPacket: number;
  /** Relay scenarios (cluster and single-node reference); the CPU fields above are summed over the nodes. */
  relay?: RelayFigures;
  /** Relay scenarios: each client's join (node index, connect ms or -1 with the error, connect steps). */
  joins?: { id: string; node?: number; connectMs: number; error?: string; phases?: ConnectPhases }[];
}

export interface RelayFigures {
  nodes: number;
  /** Kernel UDP receive-buffer drops per second over the window, box-wide (/proc/net/snmp RcvbufErrors; other runs count too). */
  udpRcvbufErrorsPerS: number;
  /** Each node's CPU over the window (% of one core), node A (the first publisher's) first. */
  nodeCpuPercent: number[];
  /** Relay RTP per second over the window, summed over the nodes (0 on one node). */
  relaySentPps: number;
  relayReceivedPps: number;
  relayNackResentPps: number;
  relayLegsSending: number;
  /** One-way delay p50/p99 of packets from a publisher on the subscriber's node / on another node. */
  localP50Ms: number;
  localP99Ms: number;
  relayedP50Ms: number;
  relayedP99Ms: number;
}

/** Where connect time goes: the median of each step over the clients that reported steps. */
function phaseMedians(joined: { phases?: ConnectPhases }[]): { connectPhasesMedianMs?: Required<ConnectPhases> } {
  const withPhases = joined.map((j) => j.phases).filter((p): p is Required<ConnectPhases> => p?.connected !== undefined && p.ice !== undefined);
  if (withPhases.length === 0) return {};
  const median = (k: keyof ConnectPhases) => percentile(withPhases.map((p) => p[k]), 50);
  return { connectPhasesMedianMs: { offer: median("offer"), answer: median("answer"), ice: median("ice"), connected: median("connected") } };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function histPercentile(hist: number[], bucketMs: number, p: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return NaN;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]!;
    if (acc >= (p / 100) * total) return (i + 0.5) * bucketMs;
  }
  return hist.length * bucketMs;
}

function sumSnapshots(snaps: WorkerSnapshot[]): WorkerSnapshot {
  const latency = new Array<number>(snaps[0]!.latency.length).fill(0);
  for (const s of snaps) s.latency.forEach((v, i) => (latency[i] += v));
  return {
    timeMs: Math.max(...snaps.map((s) => s.timeMs)),
    cpuUs: snaps.reduce((a, s) => a + s.cpuUs, 0),
    received: snaps.reduce((a, s) => a + s.received, 0),
    expected: snaps.reduce((a, s) => a + s.expected, 0),
    streams: snaps.reduce((a, s) => a + s.streams, 0),
    reordered: snaps.reduce((a, s) => a + s.reordered, 0),
    sent: snaps.reduce((a, s) => a + s.sent, 0),
    latency,
    bucketMs: snaps[0]!.bucketMs,
    ...(snaps[0]!.latencyLocal ? { latencyLocal: addHistograms(snaps.map((s) => s.latencyLocal!)), latencyRelayed: addHistograms(snaps.map((s) => s.latencyRelayed!)) } : {}),
  };
}

/** The kernel's cumulative UDP receive-buffer drops (all sockets of the box), NaN where unreadable. */
function udpRcvbufErrors(): number {
  try {
    const lines = readFileSync("/proc/net/snmp", "utf8").split("\n").filter((l) => l.startsWith("Udp:"));
    const names = lines[0]!.split(/\s+/);
    return Number(lines[1]!.split(/\s+/)[names.indexOf("RcvbufErrors")]);
  } catch {
    return NaN;
  }
}

function addHistograms(hists: number[][]): number[] {
  const out = new Array<number>(hists[0]!.length).fill(0);
  for (const h of hists) h.forEach((v, i) => (out[i] += v));
  return out;
}

async function runScenario(sc: Scenario, mode: ServerMode): Promise<Row> {
  progressLabel = `[${sc.name} ${mode}]`;
  progress("starting server");
  const server = sc.kind === "relay" && mode === "sora" ? await startCluster(sc.nodes ?? RELAY_NODES, `${sc.name}-${mode}`) : await startServer(mode, `${sc.name}-${mode}`);
  if (sc.kind === "relay") server.urls ??= Array.from({ length: sc.nodes ?? RELAY_NODES }, () => server.url!);
  const workerCount = Number(process.env.BENCH_WORKERS ?? (sc.clients.length > 30 ? 2 : 1));
  const workers = Array.from({ length: workerCount }, () => new Worker());
  try {
    await Promise.all(workers.map((w) => w.next("ready")));
    await new Promise((r) => setTimeout(r, 300));
    const idle = await metrics(server);
    const parts: ClientSpec[][] = workers.map(() => []);
    sc.clients.forEach((c, i) => parts[i % workerCount]!.push(c));
    workers.forEach((w, i) => w.send({ type: "join", mode, url: server.url, ...(server.urls ? { urls: server.urls } : {}), relayPort: server.relayPort, janusRoom: JANUS_ROOM, janusIceAddress: server.janus?.iceAddress, clients: parts[i]! }));
    const total = sc.clients.length;
    const joinStarted = Date.now();
    let stormStart: Metrics | undefined;
    let stormMetrics: Metrics | undefined;
    if (sc.kind === "storm") {
      // Media flows while the others join: measure the node's loop during the storm.
      await new Promise((r) => setTimeout(r, 400));
      workers.forEach((w) => w.send({ type: "start-media" }));
      stormStart = await metrics(server); // start of the loop-delay window
    }
    const joinDeadline = joinStarted + 60_000 + Math.max(...sc.clients.map((c) => c.delayMs ?? 0));
    for (;;) {
      const done = workers.reduce((a, w) => a + w.joined.length, 0);
      progress(`joined ${done}/${total}`);
      if (done >= total || Date.now() > joinDeadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (sc.kind === "storm") stormMetrics = await metrics(server);
    const joined = workers.flatMap((w) => w.joined);
    const failed = joined.filter((j) => j.connectMs < 0);
    if (failed.length > 0) log(`  ${failed.length} clients failed to connect: ${failed[0]!.id} ${failed[0]!.error}`);
    let idleCpuPercent = NaN;
    if (sc.kind !== "storm") {
      progress("idle");
      await new Promise((r) => setTimeout(r, 500));
      const i0 = await metrics(server);
      await new Promise((r) => setTimeout(r, 1500));
      const i1 = await metrics(server);
      idleCpuPercent = ((i1.cpu_user_us + i1.cpu_system_us - i0.cpu_user_us - i0.cpu_system_us) / ((i1.time_ms - i0.time_ms) * 1000)) * 100;
      workers.forEach((w) => w.send({ type: "start-media" }));
    }
    progress("warming up");
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const snapAll = () => Promise.all(workers.map(async (w) => (w.send({ type: "snapshot" }), (await w.next("snapshot")) as WorkerSnapshot)));
    // Node idle cost with every connection up and media flowing only after: measured before start-media
    // (storms excepted, their media runs during the joins).
    const [m0, w0] = await Promise.all([metrics(server), snapAll()]);
    const rcvbuf0 = udpRcvbufErrors();
    const s0 = sumSnapshots(w0);
    for (let t = 0; t < durationS; t++) {
      progress(`measuring ${t}/${durationS} s`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const [m1, w1] = await Promise.all([metrics(server), snapAll()]);
    const rcvbuf1 = udpRcvbufErrors();
    const s1 = sumSnapshots(w1);
    const seconds = (m1.time_ms - m0.time_ms) / 1000;
    const cpuUs = m1.cpu_user_us + m1.cpu_system_us - (m0.cpu_user_us + m0.cpu_system_us);
    // Rates per worker over the worker's own window (its snapshot replies may lag the node's /metrics).
    let receivedPps = 0;
    let clientCpu = 0;
    for (let i = 0; i < workers.length; i++) {
      const dt = (w1[i]!.timeMs - w0[i]!.timeMs) / 1000;
      receivedPps += (w1[i]!.received - w0[i]!.received) / dt;
      clientCpu += (w1[i]!.cpuUs - w0[i]!.cpuUs) / 1e6 / dt;
    }
    const received = receivedPps * seconds; // packets forwarded during the node's window
    const expected = s1.expected - s0.expected;
    const receivedRaw = s1.received - s0.received;
    const connectTimes = joined.filter((j) => j.connectMs >= 0).map((j) => j.connectMs);
    const connections = mode === "sora" || mode === "single" ? m1.connections : total;
    const row: Row = {
      scenario: sc.name,
      server: mode,
      description: sc.description,
      connections: total,
      connected: connectTimes.length,
      durationS: seconds,
      forwardedPps: received / seconds,
      cpuPercent: (cpuUs / 1e6 / seconds) * 100,
      ppsPerCore: received > 0 ? received / (cpuUs / 1e6) : 0,
      cpuUsPerPacket: received > 0 ? cpuUs / received : NaN,
      loopDelayP99Ms: loopDelayMs(stormStart ?? m0, stormMetrics ?? m1, "p99"),
      loopDelayMaxMs: loopDelayMs(stormStart ?? m0, stormMetrics ?? m1, "max"),
      rssMb: m1.rss_bytes / 2 ** 20,
      rssPerConnectionMb: mode !== "raw" && connections > 0 ? (m1.rss_bytes - idle.rss_bytes) / 2 ** 20 / connections : NaN,
      lossPercent: expected > 0 ? Math.max(0, (1 - receivedRaw / expected) * 100) : NaN,
      reordered: s1.reordered - s0.reordered,
      latencyP50Ms: histPercentile(s1.latency, s1.bucketMs, 50),
      latencyP99Ms: histPercentile(s1.latency, s1.bucketMs, 99),
      connectMedianMs: percentile(connectTimes, 50),
      connectP95Ms: percentile(connectTimes, 95),
      ...phaseMedians(joined),
      clientCpuPercent: clientCpu * 100,
      idleCpuPercent,
      netCpuUsPerPacket: received > 0 ? Math.max(0, cpuUs - (idleCpuPercent / 100) * seconds * 1e6) / received : NaN,
      fastSentShare: received > 0 ? ((m1.fast_rtp_sent ?? 0) - (m0.fast_rtp_sent ?? 0)) / received : 0,
      fastReceivedPps: ((m1.fast_rtp_received ?? 0) - (m0.fast_rtp_received ?? 0)) / seconds,
      fastSendDrops: (m1.fast_send_drops ?? 0) - (m0.fast_send_drops ?? 0),
    };
    if (sc.kind === "relay") {
      const rate = (k: "relay_packets_sent" | "relay_packets_received" | "relay_nack_packets_resent") => ((m1[k] ?? 0) - (m0[k] ?? 0)) / seconds;
      const nodes = m1.perNode ?? [m1];
      const before = m0.perNode ?? [m0];
      row.relay = {
        nodes: nodes.length,
        udpRcvbufErrorsPerS: (rcvbuf1 - rcvbuf0) / seconds,
        nodeCpuPercent: nodes.map((m, i) => ((m.cpu_user_us + m.cpu_system_us - before[i]!.cpu_user_us - before[i]!.cpu_system_us) / ((m.time_ms - before[i]!.time_ms) * 1000)) * 100),
        relaySentPps: rate("relay_packets_sent"),
        relayReceivedPps: rate("relay_packets_received"),
        relayNackResentPps: rate("relay_nack_packets_resent"),
        relayLegsSending: m1.relay_legs_sending ?? 0,
        localP50Ms: histPercentile(s1.latencyLocal ?? [], s1.bucketMs, 50),
        localP99Ms: histPercentile(s1.latencyLocal ?? [], s1.bucketMs, 99),
        relayedP50Ms: histPercentile(s1.latencyRelayed ?? [], s1.bucketMs, 50),
        relayedP99Ms: histPercentile(s1.latencyRelayed ?? [], s1.bucketMs, 99),
      };
      const nodeOf = new Map(sc.clients.map((c) => [c.id, c.node]));
      row.joins = joined.map((j) => ({ ...j, node: nodeOf.get(j.id), error: j.error?.slice(0, 200) }));
    }
    return row;
  } finally {
    progress("stopping");
    await Promise.all(workers.map((w) => w.stop()));
    await stopServer(server);
  }
}

const f = (v: number, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : "-");

function table(rows: Row[]): string {
  const head = ["scenario", "server", "conns", "fwd pps", "CPU %", "idle %", "pps/core", "µs/pkt", "net µs/pkt", "×raw", "×janus", "loop p99 ms", "RSS MB", "MB/conn", "loss %", "reord", "lat p50/p99 ms", "connect med/p95 ms", "clients CPU %"];
  const lines = rows.map((r) => {
    const raw = rows.find((x) => x.scenario === r.scenario && x.server === "raw");
    const janus = rows.find((x) => x.scenario === r.scenario && x.server === "janus");
    const ratio = r.server !== "raw" && raw ? r.cpuUsPerPacket / raw.cpuUsPerPacket : NaN;
    // Ours over Janus's CPU per forwarded packet (Janus: total CPU time of all its threads).
    const janusRatio = r.server === "sora" && janus ? r.cpuUsPerPacket / janus.cpuUsPerPacket : NaN;
    return [
      r.scenario,
      r.server,
      `${r.connected}/${r.connections}`,
      f(r.forwardedPps),
      f(r.cpuPercent),
      f(r.idleCpuPercent, 1),
      f(r.ppsPerCore),
      f(r.cpuUsPerPacket, 1),
      f(r.netCpuUsPerPacket, 1),
      f(ratio, 1),
      f(janusRatio, 2),
      f(r.loopDelayP99Ms, 1),
      f(r.rssMb),
      f(r.rssPerConnectionMb, 2),
      f(r.lossPercent, 2),
      String(r.reordered),
      `${f(r.latencyP50Ms, 1)}/${f(r.latencyP99Ms, 1)}`,
      r.server !== "raw" ? `${f(r.connectMedianMs)}/${f(r.connectP95Ms)}` : "-",
      f(r.clientCpuPercent),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => "| " + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ") + " |";
  return [fmt(head), "|" + widths.map((w, i) => (i < 2 ? "-".repeat(w + 1) + "-" : "-".repeat(w + 1) + ":")).join("|") + "|", ...lines.map(fmt)].join("\n");
}

if (opts.janus && !janusAvailable()) {
  console.error("--janus: no `janus` on PATH (Debian: apt-get install janus)");
  process.exit(2);
}
/** Janus runs the 1 → N shapes only; --quick keeps it to fanout-10 to stay under 3 minutes. */
const throughJanus = (sc: Scenario) => !!opts.janus && sc.kind === "fanout" && (!opts.quick || sc.name === "fanout-10");

const rows: Row[] = [];
const started = Date.now();
for (const [i, sc] of selected.entries()) {
  for (const mode of ["sora", "single", "raw", "janus"] as const) {
    // Relay scenarios: the cluster, then the same clients on one node (the reference for the relay's share).
    if (mode === "single" && sc.kind !== "relay") continue;
    if (mode === "raw" && (!opts.raw || sc.kind === "storm" || sc.kind === "relay")) continue;
    if (mode === "janus" && !throughJanus(sc)) continue;
    progressLabel = `[${i + 1}/${selected.length} ${sc.name} ${mode}]`;
    try {
      const row = await runScenario(sc, mode);
      rows.push(row);
      log(
        `${sc.name.padEnd(11)} ${mode.padEnd(5)} ${f(row.forwardedPps).padStart(6)} pps  CPU ${f(row.cpuPercent).padStart(3)} %  ${f(row.cpuUsPerPacket, 1).padStart(6)} µs/pkt  loss ${f(row.lossPercent, 2)} %  connect ${f(row.connectMedianMs)} ms` +
          (row.relay ? `  relay out/in ${f(row.relay.relaySentPps)}/${f(row.relay.relayReceivedPps)} pps (NACK resent ${f(row.relay.relayNackResentPps)}), UDP rcvbuf drops ${f(row.relay.udpRcvbufErrorsPerS)}/s, delay p50 local ${f(row.relay.localP50Ms, 2)} / relayed ${f(row.relay.relayedP50Ms, 2)} ms, node CPU ${row.relay.nodeCpuPercent.map((c) => f(c)).join("+")} %` : "") +
          (mode === "sora" ? `  fast out ${f(row.fastSentShare * 100)} %, fast in ${f(row.fastReceivedPps)} pps, send drops ${row.fastSendDrops ?? 0}` : "") +
          (row.connectPhasesMedianMs
            ? `  (connect steps: offer ${f(row.connectPhasesMedianMs.offer)}, answer ${f(row.connectPhasesMedianMs.answer)}, ICE ${f(row.connectPhasesMedianMs.ice)}, connected ${f(row.connectPhasesMedianMs.connected)} ms)`
            : ""),
      );
    } catch (err) {
      log(`${sc.name} ${mode}: FAILED ${String(err)}`);
    }
  }
}
log("");
log(table(rows));
const relayRows = relayTable(rows);
if (relayRows) log(`\nCluster relay (CPU summed over the node processes; relay share and one hop as in bench/relay-table.ts):\n${relayRows}`);
log(`\n${selected.length} scenarios in ${((Date.now() - started) / 1000).toFixed(0)} s; node: ${opts.udpMux ? "one UDP port (udp_port)" : "a UDP socket per connection"}, native fast path ${process.env.SFU_NATIVE_FAST_PATH === "0" ? "off" : "on if built"}; node args: ${(opts.nodeArg ?? []).join(" ") || "(default)"}`);
const out = opts.out ?? join(root, "bench/results", `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, quick: !!opts.quick, janus: !!opts.janus, janusEventLoops: Number(opts.janusEventLoops ?? 0), durationS, udpMux: opts.udpMux, nativeFastPath: process.env.SFU_NATIVE_FAST_PATH !== "0", nodeArgs: opts.nodeArg ?? [], rows }, null, 2));
log(`results: ${out}`);
process.exit(0);
