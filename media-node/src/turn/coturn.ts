import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TurnConfig } from "../config.js";
import type { Logger } from "../logger.js";

// coturn (`turnserver`) as a child process of the node: a generated minimal config, started
// before the node accepts clients, stopped with it. Production may run coturn under systemd
// instead (turn.spawn = false, infra/node/) with the same settings.

const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;

/**
 * turnserver.conf for `turn`. `peerAddresses` = the node's ICE addresses: coturn relays only to
 * them (denied-peer-ip everything, allowed-peer-ip the SFU), so it cannot be used as an open
 * relay into the node's network.
 */
export function coturnConfig(turn: TurnConfig, peerAddresses: string[], workDir: string): string {
  const lines = [
    `listening-ip=${turn.listenIp}`,
    `listening-port=${turn.listenPort}`,
    `relay-ip=${turn.relayIp}`,
    `min-port=${turn.minPort}`,
    `max-port=${turn.maxPort}`,
    `realm=${turn.realm}`,
    // TURN REST API credentials: HMAC of "<expiry>:<connection_id>" with this secret (credentials.ts).
    "use-auth-secret",
    `static-auth-secret=${turn.sharedSecret}`,
    "fingerprint",
    "no-cli",
    "no-tls",
    "no-dtls",
    "no-multicast-peers",
    "log-file=stdout",
    "simple-log",
    `pidfile=${path.join(workDir, "turnserver.pid")}`,
    `userdb=${path.join(workDir, "turndb")}`,
  ];
  if (!turn.udp) lines.push("no-udp");
  if (!turn.tcp) lines.push("no-tcp");
  // Behind 1:1 NAT (cloud VMs) relay candidates must carry the public address.
  if (/^\d+\.\d+\.\d+\.\d+$/.test(turn.externalHost) && turn.externalHost !== turn.relayIp) {
    lines.push(`external-ip=${turn.externalHost}/${turn.relayIp}`);
  }
  if (peerAddresses.length > 0) {
    lines.push("denied-peer-ip=0.0.0.0-255.255.255.255", "denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    for (const ip of peerAddresses) lines.push(`allowed-peer-ip=${ip}`);
  }
  // Tests bind the SFU to 127.0.0.1; coturn refuses loopback peers unless told otherwise.
  if (turn.allowLoopbackPeers) lines.push("allow-loopback-peers");
  return lines.join("\n") + "\n";
}

export class Coturn {
  private child?: ChildProcess;
  private workDir?: string;
  private exited?: Promise<void>;
  private stopping = false;
  private readonly logTail: string[] = [];

  constructor(
    private readonly turn: TurnConfig,
    private readonly peerAddresses: string[],
    private readonly log: Logger,
  ) {}

  /** The running coturn's process id (undefined when not running). */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  /** Spawns coturn and resolves once it answers a STUN request (or rejects with its last log lines). */
  async start(): Promise<void> {
    this.workDir = await mkdtemp(path.join(tmpdir(), "coturn-"));
    const file = path.join(this.workDir, "turnserver.conf");
    await writeFile(file, coturnConfig(this.turn, this.peerAddresses, this.workDir), { mode: 0o600 });
    const child = spawn(this.turn.binary, ["-c", file], { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line.trim()) continue;
        this.logTail.push(line);
        if (this.logTail.length > 30) this.logTail.shift();
        this.log.debug({ coturn: line }, "coturn");
      }
    };
    child.stdout!.on("data", onLine);
    child.stderr!.on("data", onLine);
    let spawnError: Error | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        spawnError = err;
        resolve();
      });
      child.once("exit", (code, signal) => {
        if (!this.stopping) this.log.error({ code, signal, tail: this.logTail.slice(-10) }, "coturn exited; TURN is unavailable");
        resolve();
      });
    });
    let done = false;
    const ready = this.waitReady(() => done);
    const outcome = await Promise.race([ready.then(() => "ready" as const), this.exited.then(() => "exited" as const)]);
    done = true;
    if (outcome === "exited") {
      await this.cleanup();
      throw new Error(`coturn did not start: ${spawnError?.message ?? this.logTail.slice(-5).join(" | ")}`);
    }
    this.log.info({ listen: `${this.turn.listenIp}:${this.turn.listenPort}`, coturn_pid: child.pid }, "coturn started");
  }

  /** SIGTERM, SIGKILL after a grace period; removes the generated config (it holds the secret). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      this.stopping = true;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(killer);
    }
    this.child = undefined;
    await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    if (this.workDir) await rm(this.workDir, { recursive: true, force: true }).catch(() => undefined);
    this.workDir = undefined;
  }

  private async waitReady(cancelled: () => boolean): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!cancelled()) {
      if (await (this.turn.udp ? stunProbe(this.turn.listenIp, this.turn.listenPort) : tcpProbe(this.turn.listenIp, this.turn.listenPort))) return;
      if (Date.now() > deadline) {
        this.child?.kill("SIGKILL");
        throw new Error("coturn did not answer STUN in time");
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** One STUN Binding request (RFC 5389); true when a response with our transaction id arrives. */
function stunProbe(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    const txId = randomBytes(12);
    const request = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), txId]);
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on("message", (msg) => {
      if (msg.length >= 20 && msg.subarray(8, 20).equals(txId)) finish(true);
    });
    socket.on("error", () => finish(false));
    socket.send(request, port, host);
  });
}

function tcpProbe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
