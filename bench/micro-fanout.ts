import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { RtpHeader, RtpPacket, type RTCRtpTransceiver } from "werift";
import { Publication } from "../media-node/src/sfu/publication.js";
import { Subscription } from "../media-node/src/sfu/subscription.js";
import { configureFastPath, RtpEgress } from "../media-node/src/transport/rtp-egress.js";
import { nativeFastPath } from "../media-node/src/transport/native-fastpath.js";

// Micro-benchmark of one publication's fan-out on the fast path, without ICE/DTLS or the ingress:
// a real Publication and N real Subscriptions (Forwarder, NACK history, VP8 munger, RtpEgress,
// FastTransport) over stand-in werift transceivers whose DTLS transport is "connected" with fixed
// SRTP keys and whose ICE pair is one UDP socket (as with udp_port); the datagrams go to a sink
// in another process. Reports the CPU of this process per sent packet, for the fan-out alone.
// `npx tsx bench/micro-fanout.ts [N]`; SFU_NATIVE_FAST_PATH=0 for the TypeScript path.

const N = Number(process.argv[2] ?? 100);
const PACKETS = Number(process.env.PACKETS ?? 3000);
// The sink prints its port, and its count when told to stop.
const sinkProc = spawn(process.execPath, ["-e", `const s=require("dgram").createSocket("udp4");let n=0;s.on("message",()=>n++);s.bind(0,"127.0.0.1",()=>console.log(s.address().port));process.on("SIGTERM",()=>{console.log(n);process.exit(0)})`], { stdio: ["ignore", "pipe", "inherit"] });
const port = await new Promise<number>((r) => sinkProc.stdout!.once("data", (d: Buffer) => r(Number(d.toString()))));
const socket = createSocket("udp4");
await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
configureFastPath(true);

function standInTransceiver(i: number): RTCRtpTransceiver {
  const keys = { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(14) };
  const pair = { protocol: { transport: { socket, closed: false, onData: () => undefined } }, remoteAddr: ["127.0.0.1", port] };
  const dtls = { state: "connected", srtpStarted: true, srtp: { config: { profile: 1, keys } }, iceTransport: { connection: { state: "connected", nominated: pair } } };
  const event = { subscribe: () => ({ unSubscribe: () => undefined }) };
  return {
    mid: String(i % 10),
    headerExtensions: [
      { uri: "urn:ietf:params:rtp-hdrext:sdes:mid", id: 1 },
      { uri: "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", id: 3 },
    ],
    sender: { codec: { payloadType: 96 }, ssrc: 1000 + i, dtlsTransport: dtls, onGenericNack: event, onPictureLossIndication: event, onRtcp: event },
  } as unknown as RTCRtpTransceiver;
}

const pub = new Publication("publisher", "video", "VP8", 90_000);
for (let i = 0; i < N; i++) {
  const sub = new Subscription(pub, standInTransceiver(i), `sub${i}`, new RtpEgress());
  sub.refreshNegotiated();
  pub.addSubscription(sub);
}
// VP8 payloads with a 15-bit picture id and TL0PICIDX; every 100th starts a keyframe.
const payloads = Array.from({ length: 100 }, (_, k) => {
  const p = randomBytes(1000);
  p[0] = 0x90 | (k === 0 ? 0x10 : 0);
  p[1] = 0xc0;
  p[4] = k === 0 ? 0x00 : 0x01; // VP8 payload header: P bit clear on a keyframe
  return p;
});
function packet(seq: number): RtpPacket {
  const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq & 0xffff, timestamp: seq * 450, ssrc: 42, marker: seq % 5 === 0 });
  const payload = payloads[seq % 100]!;
  payload[2] = 0x80 | ((seq >> 8) & 0x7f);
  payload[3] = seq & 0xff;
  return new RtpPacket(header, payload);
}
// Warm-up (JIT), then the measured run; a timer between packets (as datagrams arrive, and so
// the sink, one process, keeps up: ≈ 100 k datagrams/s).
for (let s = 0; s < 500; s++) {
  pub.onRtp(packet(s));
  await new Promise((r) => setImmediate(r));
}
// Only the fan-out itself is timed (the onRtp call and the batch's flush microtask), not the
// timer wake-ups between packets.
let user = 0;
let system = 0;
const t0 = performance.now();
for (let s = 500; s < 500 + PACKETS; s++) {
  const p = packet(s);
  const before = process.cpuUsage();
  pub.onRtp(p);
  await Promise.resolve(); // after the flush microtask queued during onRtp
  const used = process.cpuUsage(before);
  user += used.user;
  system += used.system;
  await new Promise((r) => setTimeout(r, 1));
}
const wall = performance.now() - t0;
const total = PACKETS * N;
console.log(`${nativeFastPath() ? "native" : "TypeScript"} fast path, 1 → ${N}: ${((user + system) / total).toFixed(2)} µs CPU per sent packet (user ${(user / total).toFixed(2)}, system ${(system / total).toFixed(2)}), wall ${((wall * 1000) / total).toFixed(2)} µs`);
sinkProc.kill("SIGTERM");
const received = await new Promise<string>((r) => sinkProc.stdout!.once("data", (d: Buffer) => r(d.toString().trim())));
console.log(`sink received ${received} of ${(PACKETS + 500) * N}`);
socket.close();
