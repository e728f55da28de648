import { createSocket, type Socket } from "node:dgram";
import { RTP_EXTENSION_URI, type RTCPeerConnection, type RTCRtpTransceiver } from "werift";
import { FastTransport, SRTP_PROFILE_AES128_CM_HMAC_SHA1_80 } from "../media-node/src/transport/fast-transport.js";
import { setSrtpProfiles } from "../media-node/src/transport/werift-patches.js";
import { absSendTime, writeRtpHeader } from "../media-node/src/rtp/rtp-header.js";
import { WeriftSoraClient } from "../test/support/werift-sora-client.js";
import { janusPublish, janusSubscribe, type JanusPeer } from "./janus-client.js";
import type { ClientSpec, ConnectPhases, WorkerReply, WorkerRequest, WorkerSnapshot } from "./protocol.js";

// One load-client process (forked by bench/run.ts): hosts several clients. Sora clients are werift
// PeerConnections speaking Sora signaling (real ICE/DTLS/SRTP), Janus clients the same
// PeerConnections signaled through Janus's VideoRoom (bench/janus-client.ts); once connected their RTP bypasses
// werift through FastTransport so a client costs little more than its UDP syscalls: senders
// protect with our SRTP context, receivers count packets without authenticating and decrypt
// only the first payload block (the send timestamp). Raw clients (the UDP relay baseline) send
// and receive the same packets without any crypto.

const HIST_BUCKET_MS = 0.1;
const HIST_BUCKETS = 20_000; // up to 2 s
const STAMP_AT = 4; // payload offset of the float64 send time (after a 1-byte VP8 descriptor + pad)
/** Payload offset of the publisher's node index + 1 (relay scenarios; 0 = unknown), in the first block too. */
const NODE_AT = STAMP_AT + 8;
const PEEK_BYTES = NODE_AT + 1;

const now = () => performance.timeOrigin + performance.now();
setSrtpProfiles([SRTP_PROFILE_AES128_CM_HMAC_SHA1_80]);

interface StreamStats {
  received: number;
  first: number;
  maxExt: number;
  reordered: number;
}

const streams = new Map<string, StreamStats>();
let latency = new Uint32Array(HIST_BUCKETS + 1);
// Relay scenarios: delay of packets from a publisher on the subscriber's own node / on another node.
let latencyLocal = new Uint32Array(HIST_BUCKETS + 1);
let latencyRelayed = new Uint32Array(HIST_BUCKETS + 1);
let relayScenario = false;
let sentPackets = 0;

/** `node`: the subscriber's node index + 1 (0 outside relay scenarios). */
function onMedia(key: string, buf: Buffer, length: number, headerLength: number, node = 0): void {
  const seq = (buf[2]! << 8) | buf[3]!;
  let s = streams.get(key);
  if (s === undefined) {
    s = { received: 0, first: seq, maxExt: seq, reordered: 0 };
    streams.set(key, s);
  }
  s.received++;
  // Extended sequence number: closest unwrap to the highest seen.
  const base = s.maxExt & ~0xffff;
  let ext = base | seq;
  if (ext - s.maxExt > 0x8000) ext -= 0x10000;
  else if (s.maxExt - ext > 0x8000) ext += 0x10000;
  if (ext > s.maxExt) s.maxExt = ext;
  else s.reordered++;
  if (length - headerLength >= STAMP_AT + 8) {
    const sent = buf.readDoubleBE(headerLength + STAMP_AT);
    const ms = now() - sent;
    if (ms >= 0 && ms < 60_000) {
      const bucket = Math.min(HIST_BUCKETS, Math.floor(ms / HIST_BUCKET_MS));
      latency[bucket]!++;
      if (node !== 0 && length - headerLength >= PEEK_BYTES) {
        const from = buf[headerLength + NODE_AT]!;
        if (from !== 0) (from === node ? latencyLocal : latencyRelayed)[bucket]!++;
      }
    }
  }
}

interface Publisher {
  send(kind: "audio" | "video", size: number): void;
}

const clients: WeriftSoraClient[] = [];
const janusPeers: JanusPeer[] = [];
const rawSockets: Socket[] = [];
const publishers: { pub: Publisher; spec: NonNullable<ClientSpec["publish"]> }[] = [];
let mediaTimer: NodeJS.Timeout | undefined;

function stampedPayload(out: Buffer, at: number, size: number, kind: "audio" | "video", node = 0): void {
  out.fill(0, at, at + size);
  if (kind === "video") out[at] = 0x10; // VP8 descriptor: S=1, no extensions (left alone by the SFU)
  out.writeDoubleBE(now(), at + STAMP_AT);
  out[at + NODE_AT] = node;
}

function sraPublisher(pc: RTCPeerConnection, node: number): Publisher {
  const byKind = new Map<string, { t: RTCRtpTransceiver; seq: number; ts: number; pt: number; midId: number; mid: Buffer; astId: number }>();
  for (const t of pc.getTransceivers()) {
    if (t.currentDirection !== "sendonly" && t.direction !== "sendonly") continue;
    const kind = t.kind;
    if (byKind.has(kind)) continue;
    const midId = t.headerExtensions.find((e) => e.uri === RTP_EXTENSION_URI.sdesMid)?.id ?? 0;
    const astId = t.headerExtensions.find((e) => e.uri === RTP_EXTENSION_URI.absSendTime)?.id ?? 0;
    byKind.set(kind, { t, seq: Math.floor(Math.random() * 65536), ts: 0, pt: kind === "video" ? 96 : 111, midId, mid: Buffer.from(t.mid ?? ""), astId });
  }
  return {
    send(kind, size) {
      const s = byKind.get(kind);
      const dtls = s?.t.sender.dtlsTransport;
      if (!s || !dtls) return;
      const fast = FastTransport.of(dtls);
      if (!fast) return;
      const buf = fast.allocate(40 + size);
      s.seq = (s.seq + 1) & 0xffff;
      s.ts = (s.ts + (kind === "video" ? 3000 : 960)) >>> 0;
      const h = writeRtpHeader(buf, s.pt, kind === "video", s.seq, s.ts, s.t.sender.ssrc, s.midId, s.mid, s.astId, absSendTime(now()));
      stampedPayload(buf, h, size, kind, node);
      if (fast.sendRtp(buf, h, h + size)) sentPackets++;
    },
  };
}

async function joinSora(spec: ClientSpec, url: string): Promise<void> {
  const client = new WeriftSoraClient({
    url,
    channelId: spec.channelId,
    role: spec.role,
  });
  clients.push(client);
  const t0 = now();
  let stage = "connect";
  const timeout = setTimeout(() => {
    stage = `timeout (ws ${client.ws?.readyState}, pc ${client.pc?.connectionState}, ice ${client.pc?.iceConnectionState}, messages ${client.messages.map((m) => m.type).join(",")}, close ${JSON.stringify(client.closeInfo)})`;
    reply({ type: "joined", id: spec.id, connectMs: -1, error: stage });
  }, 30_000);
  await client.connect(30_000);
  clearTimeout(timeout);
  if (stage !== "connect") return;
  await tapConnected(client.pc, spec, now() - t0, client.phases);
}

/**
 * Shared by the Sora and Janus paths once a PeerConnection is connected: its RTP moves to
 * FastTransport (receivers count every packet, publishers send synthetic media through it).
 */
async function tapConnected(pc: RTCPeerConnection, spec: ClientSpec, connectMs: number, phases?: ConnectPhases): Promise<void> {
  let fast: FastTransport | undefined;
  for (let i = 0; i < 60 && !fast; i++) {
    for (const dtls of pc.dtlsTransports) fast ??= FastTransport.of(dtls);
    if (!fast) await new Promise((r) => setTimeout(r, 50));
  }
  if (!fast) {
    const states = pc.dtlsTransports.map((d) => `${d.state}/${d.srtpStarted}/${(d.srtp as unknown as { config?: { profile: number } } | undefined)?.config?.profile}`);
    throw new Error(`fast transport unavailable: ${states.join(",")}`);
  }
  const key = `${spec.id}`;
  const node = spec.node === undefined ? 0 : spec.node + 1;
  fast.claimAll((buf, length, headerLength) => onMedia(`${key}:${buf.readUInt32BE(8)}`, buf, length, headerLength, node), PEEK_BYTES);
  if (spec.publish) publishers.push({ pub: sraPublisher(pc, node), spec: spec.publish });
  reply({ type: "joined", id: spec.id, connectMs, ...(phases ? { phases: { ...phases } } : {}) });
}

async function joinJanus(spec: ClientSpec, url: string, iceAddress: string, room: number): Promise<void> {
  const t0 = now();
  const peer = spec.publish ? await janusPublish(url, iceAddress, room, spec.id, 30_000) : await janusSubscribe(url, iceAddress, room, 30_000);
  janusPeers.push(peer);
  await tapConnected(peer.pc, spec, now() - t0);
}

async function joinRaw(spec: ClientSpec, relayPort: number): Promise<void> {
  const sock = createSocket("udp4");
  rawSockets.push(sock);
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const t0 = now();
  sock.on("message", (buf) => onMedia(`${spec.id}:${buf.readUInt32BE(8)}`, buf, buf.length, 12));
  if (spec.role !== "sendonly") sock.send(Buffer.from([0xff]), relayPort, "127.0.0.1"); // subscribe
  if (spec.publish) {
    const seqs = { audio: 0, video: 0 };
    const ssrc = (Math.random() * 2 ** 32) >>> 0;
    publishers.push({
      spec: spec.publish,
      pub: {
        send(kind, size) {
          const buf = Buffer.allocUnsafe(12 + size);
          seqs[kind] = (seqs[kind] + 1) & 0xffff;
          writeRtpHeader(buf, kind === "video" ? 96 : 111, false, seqs[kind], 0, kind === "video" ? ssrc : ssrc ^ 1, 0, Buffer.alloc(0), 0, 0);
          stampedPayload(buf, 12, size, kind);
          sock.send(buf, relayPort, "127.0.0.1");
          sentPackets++;
        },
      },
    });
  }
  reply({ type: "joined", id: spec.id, connectMs: now() - t0 });
}

function startMedia(): void {
  const t0 = now();
  const sent = publishers.map(() => ({ audio: 0, video: 0 }));
  mediaTimer = setInterval(() => {
    const elapsed = now() - t0;
    for (let i = 0; i < publishers.length; i++) {
      const { pub, spec } = publishers[i]!;
      const s = sent[i]!;
      while (s.video < (elapsed * spec.videoPps) / 1000) {
        pub.send("video", spec.videoSize);
        s.video++;
      }
      while (s.audio < (elapsed * spec.audioPps) / 1000) {
        pub.send("audio", spec.audioSize);
        s.audio++;
      }
    }
  }, 5);
}

function snapshot(): WorkerSnapshot {
  let received = 0;
  let expected = 0;
  let reordered = 0;
  for (const s of streams.values()) {
    received += s.received;
    expected += s.maxExt - s.first + 1;
    reordered += s.reordered;
  }
  const hist = latency;
  latency = new Uint32Array(HIST_BUCKETS + 1);
  const cpu = process.cpuUsage();
  const snap: WorkerSnapshot = { timeMs: now(), cpuUs: cpu.user + cpu.system, received, expected, streams: streams.size, reordered, sent: sentPackets, latency: Array.from(hist), bucketMs: HIST_BUCKET_MS };
  if (relayScenario) {
    snap.latencyLocal = Array.from(latencyLocal);
    snap.latencyRelayed = Array.from(latencyRelayed);
    latencyLocal = new Uint32Array(HIST_BUCKETS + 1);
    latencyRelayed = new Uint32Array(HIST_BUCKETS + 1);
  }
  return snap;
}

function reply(m: WorkerReply): void {
  process.send?.(m);
}

process.on("message", (m: WorkerRequest) => {
  if (m.type === "join") {
    relayScenario = m.urls !== undefined;
    for (const spec of m.clients) {
      setTimeout(() => {
        const p = m.mode === "raw" ? joinRaw(spec, m.relayPort!) : m.mode === "janus" ? joinJanus(spec, m.url!, m.janusIceAddress!, m.janusRoom!) : joinSora(spec, m.urls?.[spec.node ?? 0] ?? m.url!);
        p.catch((err: unknown) => reply({ type: "joined", id: spec.id, connectMs: -1, error: String(err) }));
      }, spec.delayMs ?? 0);
    }
  } else if (m.type === "start-media") {
    startMedia();
  } else if (m.type === "snapshot") {
    reply({ type: "snapshot", ...snapshot() });
  } else if (m.type === "stop") {
    if (mediaTimer) clearInterval(mediaTimer);
    for (const s of rawSockets) s.close();
    const closing = [...clients.map((c) => c.close()), ...janusPeers.flatMap((p) => [p.pc.close(), p.session.destroy()])];
    void Promise.allSettled(closing).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  }
});
process.on("unhandledRejection", () => undefined);
process.on("uncaughtException", () => undefined);
reply({ type: "ready" });
