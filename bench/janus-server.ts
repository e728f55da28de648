import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";

// Janus (Debian package `janus`, 1.x) as the third server of the fan-out scenarios: started per
// scenario from a generated config folder that loads only the VideoRoom plugin and the plain
// HTTP transport, bound to 127.0.0.1. Its CPU and RSS come from /proc, because it is a C process
// without our /metrics.json; /proc/<pid>/stat sums all of its threads, so the figure is Janus's total
// CPU time, comparable with the node's process.cpuUsage().

export const JANUS_ROOM = 1000;

export interface JanusServer {
  proc: ChildProcess;
  /** Base URL of the Janus HTTP API (".../janus"). */
  url: string;
  dir: string;
  /** The one address Janus gathers ICE candidates on; the Janus clients bind to it too. */
  iceAddress: string;
}

/**
 * Janus (libnice) never gathers on the loopback interface, even when the enforce list names
 * it, so its candidates are on the first non-internal IPv4 address. The kernel still delivers
 * traffic between local addresses over loopback, so the path is the same as 127.0.0.1's.
 */
function iceAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    const a = list?.find((x) => x.family === "IPv4" && !x.internal);
    if (a) return a.address;
  }
  throw new Error("janus: no non-loopback IPv4 address to gather ICE candidates on");
}

/** Where Debian's package puts its modules; the binary's defaults point elsewhere (./plugins). */
function libFolder(): string {
  const candidates = ["/usr/lib/x86_64-linux-gnu/janus", "/usr/lib/aarch64-linux-gnu/janus", "/usr/lib/janus", "/usr/local/lib/janus", "/opt/janus/lib/janus"];
  try {
    // The package's own file list wins when dpkg knows it.
    const listed = execFileSync("dpkg", ["-L", "janus"], { encoding: "utf8" })
      .split("\n")
      .find((l) => l.endsWith("/janus/plugins"));
    if (listed) return listed.slice(0, -"/plugins".length);
  } catch {
    // not a Debian system, or janus not from a package
  }
  const found = candidates.find((c) => existsSync(join(c, "plugins")));
  if (!found) throw new Error("janus plugin folder not found");
  return found;
}

/** Every module of `folder` except `keep`, as the comma-separated list Janus's `disable` takes. */
function allBut(folder: string, keep: string): string {
  return execFileSync("ls", [folder], { encoding: "utf8" })
    .split("\n")
    .filter((f) => /^libjanus_\w+\.so$/.test(f) && f !== keep)
    .join(",");
}

export function janusAvailable(): boolean {
  try {
    execFileSync("janus", ["--help"], { stdio: "ignore" }); // --version exits 1
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function writeConfig(dir: string, httpPort: number, ice: string, eventLoops: number): void {
  const lib = libFolder();
  // Ports for ICE/RTP: a range of its own so a concurrent test's sockets are not in the way.
  const rtpBase = 42_000 + Math.floor(Math.random() * 10) * 1000;
  writeFileSync(
    join(dir, "janus.jcfg"),
    `general: {
	configs_folder = "${dir}"
	plugins_folder = "${lib}/plugins"
	transports_folder = "${lib}/transports"
	events_folder = "${lib}/events"
	loggers_folder = "${lib}/loggers"
	debug_level = 2
	debug_colors = false
	interface = "${ice}"
	session_timeout = 60
	event_loops = ${eventLoops}
}
certificates: {
}
media: {
	rtp_port_range = "${rtpBase}-${rtpBase + 999}"
}
nat: {
	nice_debug = false
	ice_enforce_list = "${ice}"
}
plugins: {
	disable = "${allBut(`${lib}/plugins`, "libjanus_videoroom.so")}"
}
transports: {
	disable = "${allBut(`${lib}/transports`, "libjanus_http.so")}"
}
loggers: {
	disable = "${allBut(`${lib}/loggers`, "")}"
}
events: {
	broadcast = false
}
`,
  );
  writeFileSync(
    join(dir, "janus.transport.http.jcfg"),
    `general: {
	json = "plain"
	base_path = "/janus"
	http = true
	port = ${httpPort}
	ip = "127.0.0.1"
	https = false
}
admin: {
	admin_http = false
	admin_https = false
}
`,
  );
  // bitrate is the REMB cap Janus sends the publisher; 20 Mbit/s is far above any scenario, so
  // Janus never asks for less than is sent (our synthetic publisher ignores REMB anyway).
  // fir_freq = 0: no periodic PLIs towards the publisher.
  writeFileSync(
    join(dir, "janus.plugin.videoroom.jcfg"),
    `general: {
}
room-${JANUS_ROOM}: {
	description = "bench"
	publishers = 4
	bitrate = 20000000
	bitrate_cap = false
	fir_freq = 0
	audiocodec = "opus"
	videocodec = "vp8"
	notify_joining = false
	record = false
}
`,
  );
}

/**
 * `eventLoops` 0 is Janus's default: one GLib loop thread per handle (101 threads at 1 → 100);
 * n > 0 shares n static loops among all handles, Janus's own advice for many PeerConnections.
 */
export async function startJanus(logStream: NodeJS.WritableStream, eventLoops = 0): Promise<JanusServer> {
  const dir = mkdtempSync(join(tmpdir(), "bench-janus-"));
  const port = await freePort();
  const ice = iceAddress();
  writeConfig(dir, port, ice, eventLoops);
  const proc = spawn("janus", ["-C", join(dir, "janus.jcfg"), "-F", dir], { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout!.pipe(logStream);
  proc.stderr!.pipe(logStream);
  const url = `http://127.0.0.1:${port}/janus`;
  let exited = false;
  proc.once("exit", () => (exited = true));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error("janus exited at start (its log is in bench/results)");
    }
    try {
      const res = await fetch(url, { method: "POST", body: JSON.stringify({ janus: "info", transaction: "start" }) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error("janus did not start");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, url, dir, iceAddress: ice };
}

export function removeJanusConfig(s: JanusServer): void {
  rmSync(s.dir, { recursive: true, force: true });
}

const clockTicks = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Janus's cumulative CPU (all threads, µs) and RSS, in the shape of the node's /metrics.json. */
export function procMetrics(pid: number): { time_ms: number; cpu_user_us: number; cpu_system_us: number; rss_bytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]); // field 14 of proc(5)
  const stime = Number(fields[12]); // field 15
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  return {
    time_ms: performance.timeOrigin + performance.now(),
    cpu_user_us: (utime / clockTicks) * 1e6,
    cpu_system_us: (stime / clockTicks) * 1e6,
    rss_bytes: rssKb * 1024,
  };
}
