import { createSocket, type Socket } from "node:dgram";
import { createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { RtpHeader, RtpPacket } from "werift";
import { afterEach, expect, it } from "vitest";
import { AudioStream } from "../../media-node/src/egress/audio-stream.js";
import { KEYFRAME_REFRESH_MS, KEYFRAME_REFRESH_WINDOW_MS, RtpLeg, keyframeRefreshDue } from "../../media-node/src/egress/rtp-leg.js";
import { rootLogger } from "../../media-node/src/logger.js";
import { Publication } from "../../media-node/src/sfu/publication.js";
import { until } from "../support/wait.js";

// Egress building blocks without browsers: a forward leg's simulcast layer choice and sequence
// continuity, and an audio stream's retry after a gateway refusal and its unframed body.

const log = rootLogger.child({ test: "egress" });
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const packet = (seq: number, ts: number, ssrc: number, payload: number[]) =>
  new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, ssrc, payloadType: 96, marker: true }), Buffer.from(payload));
// VP8 descriptor without extensions (S=1, PID=0), then the VP8 header's P bit: 0 = keyframe.
const VP8_KEY = [0x10, 0x00, 0xaa];
const VP8_DELTA = [0x10, 0x01, 0xbb];

async function udpReceiver(): Promise<{ socket: Socket; port: number; got: Buffer[] }> {
  const socket = createSocket("udp4");
  const got: Buffer[] = [];
  socket.on("message", (m) => got.push(m));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, port: (socket.address() as AddressInfo).port, got };
}

it("forwards a simulcast source from its highest active layer, switching on a keyframe with continuous seq/ts", async () => {
  const rx = await udpReceiver();
  const tx = createSocket("udp4");
  cleanups.push(() => {
    tx.close();
  });
  const pub = new Publication("SENDER", "video", "VP8", 90000, true);
  const leg = new RtpLeg(pub, tx, "127.0.0.1", rx.port, 120);
  pub.addTap(leg);
  leg.start();
  // Only r0 is sending: its delta frames wait for a keyframe, then flow.
  pub.onRtp(packet(100, 1000, 0xa0, VP8_DELTA), 0);
  pub.onRtp(packet(101, 4000, 0xa0, VP8_KEY), 0);
  pub.onRtp(packet(102, 7000, 0xa0, VP8_DELTA), 0);
  // r2 appears: r0 keeps flowing until r2's keyframe, then only r2.
  pub.onRtp(packet(5000, 90_000, 0xa2, VP8_DELTA), 2);
  pub.onRtp(packet(103, 10_000, 0xa0, VP8_DELTA), 0);
  pub.onRtp(packet(5001, 93_000, 0xa2, VP8_KEY), 2);
  pub.onRtp(packet(104, 13_000, 0xa0, VP8_DELTA), 0);
  pub.onRtp(packet(5002, 96_000, 0xa2, VP8_DELTA), 2);
  await waitForCount(rx.got, 5);
  await sleep(50);
  const out = rx.got.map((b) => ({ pt: b[1]! & 0x7f, seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), ssrc: b.readUInt32BE(8), body: [...b.subarray(12)] }));
  expect(out.map((o) => o.body)).toEqual([VP8_KEY, VP8_DELTA, VP8_DELTA, VP8_KEY, VP8_DELTA]);
  expect(new Set(out.map((o) => o.ssrc)).size).toBe(1);
  expect(out.every((o) => o.pt === 120)).toBe(true);
  for (let i = 1; i < out.length; i++) {
    expect((out[i]!.seq - out[i - 1]!.seq) & 0xffff).toBe(1);
    expect(((out[i]!.ts - out[i - 1]!.ts) >>> 0) < 0x8000_0000).toBe(true);
  }
  // Within a layer the source's timestamp spacing is kept.
  expect((out[1]!.ts - out[0]!.ts) >>> 0).toBe(3000);
  expect((out[4]!.ts - out[3]!.ts) >>> 0).toBe(3000);
});

it("continues the same RTP stream when a forward to the same destination is restarted", async () => {
  const rx = await udpReceiver();
  const tx = createSocket("udp4");
  cleanups.push(() => {
    tx.close();
  });
  const pub = new Publication("SENDER", "audio", "OPUS", 48000);
  const first = new RtpLeg(pub, tx, "127.0.0.1", rx.port, 109);
  pub.addTap(first);
  first.start();
  for (let i = 0; i < 3; i++) pub.onRtp(packet(200 + i, 960 * i, 0xa1, [0xf8, i]), 0);
  await waitForCount(rx.got, 3);
  pub.removeTap(first); // stopped
  await sleep(100);
  // Restarted with the stopped leg's stream; the source went on meanwhile (sequence 300).
  const second = new RtpLeg(pub, tx, "127.0.0.1", rx.port, 109, first.stream);
  pub.addTap(second);
  second.start();
  for (let i = 0; i < 3; i++) pub.onRtp(packet(300 + i, 96_000 + 960 * i, 0xa1, [0xf8, 10 + i]), 0);
  await waitForCount(rx.got, 6);
  await sleep(50);
  const out = rx.got.map((b) => ({ seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), ssrc: b.readUInt32BE(8) }));
  expect(out).toHaveLength(6);
  expect(new Set(out.map((o) => o.ssrc)).size).toBe(1);
  for (let i = 1; i < out.length; i++) expect((out[i]!.seq - out[i - 1]!.seq) & 0xffff).toBe(1);
  // Across the gap the timestamp advances by about the wall-clock time that passed (≥ 100 ms at 48 kHz).
  const gap = (out[3]!.ts - out[2]!.ts) >>> 0;
  expect(gap).toBeGreaterThanOrEqual(4800);
  expect(gap).toBeLessThan(48_000 * 5);
  // A leg without a handed-over stream is a new stream.
  expect(new RtpLeg(pub, tx, "127.0.0.1", rx.port, 109).stream.ssrc).not.toBe(first.stream.ssrc);
});

it("asks for keyframes every second during the first seconds of a forward, then stops", () => {
  const start = 1_000_000;
  expect(keyframeRefreshDue(start, start, start + KEYFRAME_REFRESH_MS - 1)).toBe(false);
  expect(keyframeRefreshDue(start, start, start + KEYFRAME_REFRESH_MS)).toBe(true);
  expect(keyframeRefreshDue(start, start + 5000, start + 5000 + KEYFRAME_REFRESH_MS)).toBe(true);
  expect(keyframeRefreshDue(start, start + 9500, start + KEYFRAME_REFRESH_WINDOW_MS + 600)).toBe(false);
});

const waitForCount = (list: unknown[], n: number) => until(`${n} packets`, () => list.length >= n, 2_000);

it("re-opens a refused audio stream and sends unframed payloads when the header is off", async () => {
  let attempts = 0;
  const bodies: Buffer[][] = [];
  const server: Http2Server = createServer();
  const open: ServerHttp2Stream[] = [];
  server.on("stream", (stream) => {
    open.push(stream);
    stream.on("error", () => undefined);
    if (attempts++ === 0) {
      stream.respond({ ":status": 503 }, { endStream: true });
      return;
    }
    const body: Buffer[] = [];
    bodies.push(body);
    stream.respond({ ":status": 200 });
    stream.on("data", (c: Buffer) => body.push(c));
    stream.write('{"type":"test","message":"ok"}\n');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { connect } = await import("node:http2");
  const session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  session.on("error", () => undefined);
  cleanups.push(() => {
    for (const s of open) s.close();
    session.destroy();
  });
  const pub = new Publication("SENDER", "audio", "OPUS", 48000);
  const results: unknown[] = [];
  const stream = new AudioStream(
    pub,
    { channelId: "ch", sessionId: "S", clientId: "C", connectionId: "SENDER", languageCode: "ja-JP" },
    { path: "/", withHeader: false, session: () => session, onResult: (r) => results.push(r) },
    log,
  );
  cleanups.push(() => stream.close());
  stream.start();
  // The first attempt is refused; the retry comes after a second.
  for (let i = 0; i < 60 && results.length === 0; i++) {
    pub.onRtp(packet(i, i * 960, 1, [0xf8, i, i]), 0);
    await sleep(50);
  }
  expect(attempts).toBe(2);
  expect(results).toEqual([{ type: "test", message: "ok" }]);
  for (let i = 100; i < 105; i++) pub.onRtp(packet(i, i * 960, 1, [0xf8, i, i]), 0);
  // Unframed: the payloads back to back, nothing else.
  const expected = Buffer.from([100, 101, 102, 103, 104].flatMap((i) => [0xf8, i, i]));
  const tail = () => Buffer.concat(bodies[0]!).subarray(-expected.length);
  await until("the unframed payloads", () => tail().equals(expected), 1_000);
  expect(Buffer.concat(bodies[0]!).length % 3).toBe(0);
  expect(stream.packetsDropped).toBeGreaterThan(0); // while no stream was open
  stream.close();
  expect(pub.taps).toEqual([]);
});
