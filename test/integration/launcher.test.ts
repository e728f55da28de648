import { execSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { freePort, until } from "./processes.js";

// `npm start -- --nodes 2` as a user runs it (scripts/start.ts): one child crashing (SIGKILL to
// its process group) must leave the edge and the other node serving; the launcher reports the
// exit and restarts the child; only SIGTERM to the launcher stops everything.

const ROOT = path.resolve(import.meta.dirname, "../..");

let launcher: ChildProcess;
let output = "";
let apiPort: number;
let firstSignalingPort: number;
const clients: WeriftSoraClient[] = [];

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Two adjacent free ports: the launcher gives node i the signaling port first + i. */
async function twoAdjacentFreePorts(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 65535 && (await portIsFree(port + 1))) return port;
  }
}

const api = (p = "") => `http://127.0.0.1:${apiPort}/${p}`;
const signalingUrl = (i: number) => `ws://127.0.0.1:${firstSignalingPort + i}/signaling`;
const nodeName = (i: number) => `node-${firstSignalingPort + i}@127.0.0.1`;

async function clusterNodes(): Promise<{ node_name: string; connected: boolean }[]> {
  const res = await fetch(api(), { method: "POST", headers: { "x-sora-target": "Sora_20211215.ListClusterNodes" }, body: "{}" });
  expect(res.status).toBe(200);
  return res.json();
}

async function connectedNodes(): Promise<string[]> {
  return (await clusterNodes()).filter((n) => n.connected).map((n) => n.node_name).sort();
}

async function waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray | undefined> {
  try {
    return await until(`launcher output ${pattern}`, () => output.match(pattern) ?? undefined, timeoutMs, 100);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- launcher output ---\n${output.slice(-3000)}`);
  }
}

/** Every `started (pid N)` the launcher printed for a child. */
function pidsOf(child: string): number[] {
  return [...output.matchAll(new RegExp(`\\[${child}\\] started \\(pid (\\d+)\\)`, "g"))].map((m) => Number(m[1]));
}

beforeAll(async () => {
  apiPort = await freePort();
  firstSignalingPort = await twoAdjacentFreePorts();
  const args = [
    "--import",
    "tsx",
    "scripts/start.ts",
    "--nodes",
    "2",
    "--api-port",
    String(apiPort),
    "--signaling-port",
    String(firstSignalingPort),
    "--inspector-port",
    String(await freePort()),
    "--persist-to",
    mkdtempSync(path.join(tmpdir(), "launcher-state-")),
  ];
  launcher = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: "0", CI: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (process.env.DEBUG_INTEGRATION) process.stderr.write(chunk);
  };
  launcher.stdout!.on("data", collect);
  launcher.stderr!.on("data", collect);
  await waitForOutput(/Sora-compatible SFU is running/, 120_000);
  await until("both nodes joined", async () => (await connectedNodes()).length === 2, 30_000, 250);
}, 150_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  // Whatever a failed test left behind: the launcher and every child group it started.
  for (const pid of [launcher?.pid, ...pidsOf("edge"), ...pidsOf("node-\\d+")]) {
    try {
      if (pid) process.kill(-pid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
}, 30_000);

it("keeps the edge and the other node serving when one node dies, and restarts it", async () => {
  // Media through node 0 before, during and after node 1's crash.
  const sender = new WeriftSoraClient({ url: signalingUrl(0), channelId: "steady", role: "sendrecv" });
  const receiver = new WeriftSoraClient({ url: signalingUrl(0), channelId: "steady", role: "recvonly" });
  clients.push(sender, receiver);
  await sender.connect();
  await receiver.connect();
  sender.startMedia(50, 300);
  await until("media on node 0", () => receiver.packetsFrom(sender.connectionId, "video") > 10);

  const [doomedPid] = pidsOf(`node-${firstSignalingPort + 1}`);
  expect(doomedPid).toBeGreaterThan(0);
  process.kill(-doomedPid!, "SIGKILL");
  await waitForOutput(new RegExp(`\\[node-${firstSignalingPort + 1}\\] exited \\(SIGKILL\\).*restarting in 1 s`), 10_000);

  // The launcher, the edge and node 0 are untouched.
  expect(launcher.exitCode).toBeNull();
  expect(pidsOf("edge")).toHaveLength(1);
  expect((await fetch(api("health"))).status).toBe(200);
  const before = receiver.packetsFrom(sender.connectionId, "video");
  await until("media on node 0 after the crash", () => receiver.packetsFrom(sender.connectionId, "video") > before + 20);
  const late = new WeriftSoraClient({ url: signalingUrl(0), channelId: "after-crash", role: "sendrecv" });
  clients.push(late);
  await late.connect();
  expect(late.redirects).toEqual([]);
  expect(await connectedNodes()).toContain(nodeName(0));

  // Node 1 is back: a new process, linked to the edge, serving signaling.
  await until("node 1 restarted", () => pidsOf(`node-${firstSignalingPort + 1}`).length === 2, 20_000);
  expect(pidsOf(`node-${firstSignalingPort + 1}`)[1]).not.toBe(doomedPid);
  await until("node 1 linked again", async () => (await connectedNodes()).includes(nodeName(1)), 30_000, 250);
  const back = new WeriftSoraClient({ url: signalingUrl(1), channelId: "on-restarted-node", role: "sendrecv" });
  clients.push(back);
  await back.connect();
  expect(back.redirects).toEqual([]);
}, 90_000);

it("restarts the edge when wrangler dev dies; the nodes link again and keep their clients", async () => {
  const [sender, receiver] = clients as [WeriftSoraClient, WeriftSoraClient];
  const [edgePid] = pidsOf("edge");
  process.kill(-edgePid!, "SIGKILL");
  await waitForOutput(/\[edge\] exited \(SIGKILL\).*restarting in 1 s/, 10_000);
  await until("edge restarted", () => pidsOf("edge").length === 2, 20_000);
  await until(
    "both nodes linked to the new edge",
    async () => {
      try {
        return (await connectedNodes()).length === 2;
      } catch {
        return false; // not listening yet
      }
    },
    60_000,
    500,
  );
  const before = receiver.packetsFrom(sender.connectionId, "video");
  await until("media on node 0 across the edge restart", () => receiver.packetsFrom(sender.connectionId, "video") > before + 20);
}, 90_000);

it("stops everything on SIGTERM", async () => {
  const exited = new Promise<number | null>((resolve) => launcher.once("exit", (code) => resolve(code)));
  launcher.kill("SIGTERM");
  expect(await exited).toBe(0);
  for (const port of [apiPort, firstSignalingPort, firstSignalingPort + 1]) expect(await portIsFree(port), `port ${port}`).toBe(true);
  // No live process in any group it started. (Zombies are not counted: in a container whose
  // PID 1 does not reap, the orphans of a group SIGKILLed earlier stay <defunct>.)
  const live = execSync("ps -eo pid=,pgid=,stat=,args=")
    .toString()
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([, , stat]) => stat !== undefined && !stat.startsWith("Z"))
    .filter(([, pgid]) => [...pidsOf("edge"), ...pidsOf("node-\\d+")].includes(Number(pgid)));
  expect(live.map((fields) => fields.join(" "))).toEqual([]);
}, 30_000);
