import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AUDIO_STREAMING_HEADER_SIZE } from "../../media-node/src/egress/audio-stream.js";
import { MediaNode } from "../../media-node/src/media-node.js";
import { BrowserHarness, waitFor } from "./harness.js";

// Audio streaming with real sora-js-sdk clients against a local HTTP/2 cleartext gateway: the
// node POSTs each language-tagged sender's Opus (20-byte headers on) and pushes the gateway's
// JSON result lines to subscribed connections only.

interface GatewayRequest {
  headers: IncomingHttpHeaders;
  body: Buffer[];
  bytes: number;
  firstDataAt: number;
  closed: boolean;
  stream: ServerHttp2Stream;
}

let gateway: Http2Server;
const requests: GatewayRequest[] = [];
let node: MediaNode;
let browser: BrowserHarness;
let url: string;

beforeAll(async () => {
  gateway = createServer();
  gateway.on("stream", (stream, headers) => {
    const req: GatewayRequest = { headers, body: [], bytes: 0, firstDataAt: 0, closed: false, stream };
    requests.push(req);
    stream.respond({ ":status": 200, "content-type": "application/json" });
    let answered = false;
    stream.on("data", (chunk: Buffer) => {
      if (req.firstDataAt === 0) req.firstDataAt = Date.now();
      req.body.push(chunk);
      req.bytes += chunk.length;
      if (!answered && req.bytes > 2000) {
        answered = true;
        // One whole line, then one split across writes (the node must reassemble lines).
        stream.write(JSON.stringify({ type: "test", message: "first", is_final: false, channel_id: "ch_0" }) + "\n");
        const second = JSON.stringify({ type: "test", message: "second", is_final: true }) + "\n";
        stream.write(second.slice(0, 10));
        setTimeout(() => stream.writable && stream.write(second.slice(10)), 200);
      }
    });
    stream.on("close", () => {
      req.closed = true;
    });
    stream.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
  const port = (gateway.address() as AddressInfo).port;
  node = new MediaNode({ port: 0, audioStreamingUrl: `http://127.0.0.1:${port}/speech?x=1`, audioStreamingHeader: true });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
  browser = await BrowserHarness.start();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await node?.stop();
  for (const r of requests) r.stream.close();
  await new Promise<void>((resolve) => gateway?.close(() => resolve()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const audioOnly = { audio: true, video: false };

/** Splits a body with Sora's 20-byte headers into packets. */
function parseFramed(body: Buffer): { micros: number; seq: number; payload: Buffer }[] {
  const packets = [];
  let i = 0;
  while (i + AUDIO_STREAMING_HEADER_SIZE <= body.length) {
    const micros = body.readUInt32BE(i) * 2 ** 32 + body.readUInt32BE(i + 4);
    const seq = body.readUInt32BE(i + 8) * 2 ** 32 + body.readUInt32BE(i + 12);
    const length = body.readUInt32BE(i + 16);
    if (i + AUDIO_STREAMING_HEADER_SIZE + length > body.length) break; // the tail is still in flight
    packets.push({ micros, seq, payload: body.subarray(i + AUDIO_STREAMING_HEADER_SIZE, i + AUDIO_STREAMING_HEADER_SIZE + length) });
    i += AUDIO_STREAMING_HEADER_SIZE + length;
  }
  return packets;
}

it("streams language-tagged senders' Opus over HTTP/2 and pushes results to subscribers only", async () => {
  const channelId = `as-${Math.random().toString(36).slice(2)}`;
  const page = await browser.newPage();
  const streaming = node.egress.audioStreaming;
  expect(streaming.start("nope")).toMatchObject({ ok: false, error_type: "CHANNEL-NOT-FOUND" });

  const speaker = await page.start({ url, channelId, role: "sendonly", options: { ...audioOnly, audioStreamingLanguageCode: "ja-JP" }, video: false });
  const untagged = await page.start({ url, channelId, role: "sendonly", options: audioOnly, video: false });
  const subscriber = await page.start({ url, channelId, role: "recvonly", options: { ...audioOnly, dataChannelSignaling: true } });
  const bystander = await page.start({ url, channelId, role: "recvonly", options: audioOnly });
  for (const h of [speaker, untagged, subscriber, bystander]) expect(h.error).toBeNull();
  const sessionId = node.sfu.channels.get(channelId)!.sessionId;

  expect(streaming.stop(channelId)).toMatchObject({ ok: false, error_type: "NOT-STARTED" });
  expect(streaming.setSubscribers(channelId, [subscriber.connectionId!])).toEqual({ ok: true, result: {} });
  const startedAt = Date.now();
  expect(streaming.start(channelId)).toEqual({ ok: true, result: { session_id: sessionId } });
  expect(streaming.start(channelId)).toMatchObject({ ok: false, error_type: "ALREADY-STARTED" });

  // One POST, for the tagged sender only, with Sora's headers.
  const req = (await waitFor("the gateway receives audio", async () =>
    requests.find((r) => r.headers["sora-connection-id"] === speaker.connectionId && r.bytes > 0),
  ))!;
  expect(req.headers).toMatchObject({
    ":method": "POST",
    ":path": "/speech?x=1",
    "sora-channel-id": channelId,
    "sora-session-id": sessionId,
    "sora-client-id": speaker.connectionId,
    "sora-connection-id": speaker.connectionId,
    "sora-audio-codec-type": "OPUS",
    "sora-audio-sample-rate": "48000",
    "sora-audio-streaming-language-code": "ja-JP",
  });

  // A tagged sender joining while streaming is on gets its own POST.
  const late = await page.start({ url, channelId, role: "sendrecv", options: { ...audioOnly, audioStreamingLanguageCode: "en-US" }, video: false });
  expect(late.error).toBeNull();
  await waitFor("the late sender's stream", async () => requests.some((r) => r.headers["sora-connection-id"] === late.connectionId && r.bytes > 0));

  await sleep(3000);
  expect(requests.some((r) => r.headers["sora-connection-id"] === untagged.connectionId)).toBe(false);

  // The body is the sender's Opus packets, each behind a 20-byte header.
  const packets = parseFramed(Buffer.concat(req.body));
  const elapsedS = (Date.now() - req.firstDataAt) / 1000;
  console.log(`${packets.length} packets in ${elapsedS.toFixed(1)} s (${Math.round(packets.length / elapsedS)}/s); status ${JSON.stringify(streaming.status(channelId))}`);
  expect(packets.length).toBeGreaterThan(elapsedS * 50 * 0.7);
  expect(packets.length).toBeLessThan((elapsedS + 1) * 50 * 1.3);
  for (let i = 1; i < packets.length; i++) {
    expect(packets[i]!.seq).toBeGreaterThan(packets[i - 1]!.seq);
    expect(packets[i]!.micros).toBeGreaterThanOrEqual(packets[i - 1]!.micros);
  }
  expect(Math.abs(packets.at(-1)!.micros / 1000 - Date.now())).toBeLessThan(5000);
  // Byte-identical to what the node received from the browser (still in the publication's cache).
  const audioPub = node.sfu.findConnection(channelId, speaker.connectionId!)!.publications.find((p) => p.kind === "audio")!;
  let compared = 0;
  for (const p of packets.slice(-200)) {
    const cached = audioPub.layers[0]!.cached(p.seq & 0xffff);
    if (!cached) continue;
    expect(Buffer.compare(cached.payload, p.payload)).toBe(0);
    compared++;
  }
  expect(compared).toBeGreaterThan(100);

  // Results: pushed (both lines, attributed to the speaker) to the subscriber, not the bystander.
  const pushes = (await waitFor("results pushed", async () => {
    const s = await page.state(subscriber.id);
    const mine = s.pushes.filter((m) => (m as { data?: { connection_id?: string } }).data?.connection_id === speaker.connectionId);
    return mine.length >= 2 ? mine : false;
  })) as unknown[];
  expect(pushes.slice(0, 2)).toEqual([
    { type: "push", data: { type: "test", message: "first", is_final: false, channel_id: channelId, connection_id: speaker.connectionId } },
    { type: "push", data: { type: "test", message: "second", is_final: true, channel_id: channelId, connection_id: speaker.connectionId } },
  ]);
  expect((await page.state(bystander.id)).pushes).toEqual([]);
  expect((await page.state(speaker.id)).pushes).toEqual([]);

  // Stop closes every POST; the gateway stops receiving.
  expect(streaming.stop(channelId)).toEqual({ ok: true, result: { session_id: sessionId } });
  await waitFor("gateway streams closed", async () => requests.filter((r) => r.headers["sora-channel-id"] === channelId).every((r) => r.closed), 5000);
  const bytesAfterStop = req.bytes;
  await sleep(500);
  expect(req.bytes).toBe(bytesAfterStop);
  expect(streaming.stop(channelId)).toMatchObject({ ok: false, error_type: "NOT-STARTED" });

  // Started again, it ends with the session.
  expect(streaming.start(channelId).ok).toBe(true);
  await waitFor("re-started stream", async () => requests.filter((r) => r.headers["sora-connection-id"] === speaker.connectionId).length === 2);
  for (const h of [speaker, untagged, subscriber, bystander, late]) await page.disconnect(h.id);
  await waitFor("session over", async () => !node.sfu.channels.has(channelId));
  expect(streaming.isStreaming(channelId)).toBe(false);
  await waitFor("gateway streams closed with the session", async () => requests.filter((r) => r.headers["sora-channel-id"] === channelId).every((r) => r.closed), 5000);
  await page.page.close();
}, 90_000);
