import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { SrtpContext } from "../media-node/src/rtp/srtp.js";
import { absSendTime, writeRtpHeader } from "../media-node/src/rtp/rtp-header.js";
import { datagramSocketFd, nativeFastPath, sockaddrIn } from "../media-node/src/transport/native-fastpath.js";

// Micro-benchmark of the fast path's per-subscriber send: header write + payload copy + SRTP +
// dgram send to a local sink, in batches like a fan-out (one inbound packet → N sends).
// `npx tsx bench/micro-egress.ts [N]`; with the native addon built, SRTP runs natively and the
// sends are batched (one sendmmsg per fan-out); SFU_NATIVE_FAST_PATH=0 measures the TypeScript path.

const N = Number(process.argv[2] ?? 100);
const PACKETS = Number(process.env.PACKETS ?? 1000);
// The sink runs in its own process so only the sender's CPU is measured.
const { spawn } = await import("node:child_process");
const sinkProc = spawn(process.execPath, ["-e", `const s=require("dgram").createSocket("udp4");let n=0;s.on("message",()=>n++);s.bind(0,"127.0.0.1",()=>console.log(s.address().port));process.on("message",()=>{});setTimeout(()=>process.exit(0),30000)`], { stdio: ["ignore", "pipe", "inherit"] });
const port = await new Promise<number>((r) => sinkProc.stdout!.once("data", (d: Buffer) => r(Number(d.toString()))));
// PER_SOCKET=1: one sending socket per subscriber (the node without udp_port); else one shared
// socket (udp_port, the UdpMux), where a batch is one sendmmsg.
const perSocket = process.env.PER_SOCKET === "1";
const socks = Array.from({ length: perSocket ? N : 1 }, () => createSocket("udp4"));
await Promise.all(socks.map((s) => new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()))));
const native = nativeFastPath();
const fds = socks.map(datagramSocketFd);
const sockaddr = sockaddrIn("127.0.0.1", port)!;
console.log(`${native ? "native SRTP + sendmmsg batches" : "TypeScript SRTP + dgram.send"}, ${perSocket ? "a socket per subscriber" : "one socket"}`);
const contexts = Array.from({ length: N }, () => new SrtpContext(randomBytes(16), randomBytes(14)));
const payload = randomBytes(1000);
const mid = Buffer.from("3");
let slab = Buffer.allocUnsafeSlow(256 * 1024);
let off = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let p = 0; p < PACKETS; p++) {
  for (let i = 0; i < N; i++) {
    if (off + 1100 > slab.length) {
      slab = Buffer.allocUnsafeSlow(256 * 1024);
      off = 0;
    }
    const buf = slab.subarray(off, off + 1100);
    off += 1104;
    const h = writeRtpHeader(buf, 96, false, p, p * 3000, 1000 + i, 1, mid, 2, absSendTime(Date.now()));
    buf.set(payload, h);
    const n = contexts[i]!.protectRtp(buf, h, h + payload.length);
    if (native) native.queueSend(fds[perSocket ? i : 0]!, buf, n, sockaddr);
    else socks[perSocket ? i : 0]!.send(buf.subarray(0, n), port, "127.0.0.1");
  }
  native?.flushSends();
  await new Promise((r) => setImmediate(r));
}
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await new Promise((r) => setTimeout(r, 200));
const total = PACKETS * N;
console.log(`N=${N}: ${((cpu.user + cpu.system) / total).toFixed(2)} µs CPU per sent packet (user ${(cpu.user / total).toFixed(2)}, system ${(cpu.system / total).toFixed(2)}), wall ${((wall * 1000) / total).toFixed(2)} µs`);
sinkProc.kill();
for (const s of socks) s.close();
