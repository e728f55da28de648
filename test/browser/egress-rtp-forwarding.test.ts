import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MediaNode } from "../../media-node/src/media-node.js";
import { BrowserHarness, waitFor } from "./harness.js";
import { freeRtpPort, udpListening } from "./rtp-ports.js";

// StartForwardingRtp with a real sora-js-sdk sender (VP8 + Opus from Chromium's fake devices):
// the forwarded plain RTP must decode in ffmpeg from the SDP the node answers — video frames
// and audio samples — and the forward must end by itself when the sender leaves.
//
// And a forward a receiver can join (same sender setup):
// - an ffmpeg started after StartForwardingRtp (it only has the SDP the call answered) decodes
//   video within 5 s of listening: the forward asks the sender for keyframes during its first
//   seconds (a plain RTP receiver cannot ask for one);
// - StopForwardingRtp then StartForwardingRtp to the same ports continues the same RTP streams,
//   so the ffmpeg that kept listening goes on decoding.

const FFMPEG = process.env.FFMPEG_PATH ?? "/usr/bin/ffmpeg";

let node: MediaNode;
let browser: BrowserHarness;
let url: string;
let dir: string;
let ffmpeg: ChildProcess | undefined;

beforeAll(async () => {
  node = new MediaNode({ port: 0 });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
  browser = await BrowserHarness.start();
  dir = await mkdtemp(join(tmpdir(), "rtp-forwarding-"));
}, 60_000);

afterAll(async () => {
  if (ffmpeg && ffmpeg.exitCode === null) ffmpeg.kill("SIGKILL");
  await browser?.close();
  await node?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("forwards a sender's VP8 and Opus as plain RTP that ffmpeg decodes from the answered SDP", async () => {
  const channelId = `fwd-${Math.random().toString(36).slice(2)}`;
  const page = await browser.newPage();
  const sender = await page.start({ url, channelId, role: "sendonly", options: { videoCodecType: "VP8" } });
  expect(sender.error).toBeNull();
  const viewer = await page.start({ url, channelId, role: "recvonly" });
  expect(viewer.error).toBeNull();
  const conn = node.sfu.findConnection(channelId, sender.connectionId!)!;
  await waitFor("sender media at the node", async () => conn.publications.every((p) => p.packetsReceived > 50));

  const audioPort = await freeRtpPort();
  const videoPort = await freeRtpPort([audioPort]);
  const forwarding = node.egress.rtpForwarding;

  // Errors first.
  expect(forwarding.start({ channel_id: "nope", ip_address: "127.0.0.1", audio_port: audioPort, video_port: videoPort })).toMatchObject({
    ok: false,
    error_type: "CHANNEL-NOT-FOUND",
  });
  expect(
    forwarding.start({ channel_id: channelId, connection_id: "NOSUCHCONNECTION", ip_address: "127.0.0.1", audio_port: audioPort, video_port: videoPort }),
  ).toMatchObject({ ok: false, error_type: "CONNECTION-NOT-FOUND" });
  expect(forwarding.stop(channelId)).toMatchObject({ ok: false, error_type: "NOT-STARTED" });

  // The SDP is only known from a start; take it, stop, and start again once ffmpeg listens so the
  // receiver really begins from the keyframe the forward asks for.
  const request = { channel_id: channelId, ip_address: "127.0.0.1", audio_port: audioPort, video_port: videoPort };
  const first = forwarding.start(request);
  if (!first.ok) throw new Error(`start failed: ${JSON.stringify(first)}`);
  const sdp = first.result.sdp;
  expect(sdp).toContain(`m=audio ${audioPort} RTP/AVP 109`);
  expect(sdp).toContain("a=rtpmap:109 opus/48000/2");
  expect(sdp).toContain(`m=video ${videoPort} RTP/AVP 120`);
  expect(sdp).toContain("a=rtpmap:120 VP8/90000");
  expect(sdp).toContain("c=IN IP4 127.0.0.1");
  expect(forwarding.start(request)).toMatchObject({ ok: false, error_type: "ALREADY-STARTED" });
  expect(forwarding.list(channelId)).toMatchObject([{ source_connection_id: sender.connectionId }]);
  expect(forwarding.stop(channelId)).toEqual({ ok: true, result: { channel_id: channelId } });
  expect(forwarding.list(channelId)).toEqual([]);

  const sdpPath = join(dir, "forward.sdp");
  const wavPath = join(dir, "audio.wav");
  await writeFile(sdpPath, sdp);
  let stderr = "";
  ffmpeg = spawn(
    FFMPEG,
    ["-hide_banner", "-nostdin", "-protocol_whitelist", "file,udp,rtp", "-i", sdpPath,
      "-map", "0:v", "-t", "3", "-f", "null", "-",
      "-map", "0:a", "-t", "3", "-y", wavPath],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  ffmpeg.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const exited = new Promise<number | null>((resolve) => ffmpeg!.once("exit", (code) => resolve(code)));
  await waitFor("ffmpeg listening", async () => (await udpListening(audioPort)) && (await udpListening(videoPort)), 10_000, 50);

  const started = forwarding.start(request);
  expect(started.ok).toBe(true);
  const code = await Promise.race([exited, sleep(40_000).then(() => "timeout" as const)]);
  if (code === "timeout") ffmpeg.kill("SIGKILL");
  const frames = [...stderr.matchAll(/frame=\s*(\d+)/g)].map((m) => Number(m[1]));
  const videoFrames = frames.at(-1) ?? 0;
  const wavBytes = (await stat(wavPath).catch(() => ({ size: 0 }))).size;
  console.log(`ffmpeg exit ${code}: ${videoFrames} video frames, ${wavBytes} bytes of decoded audio; forward ${JSON.stringify(forwarding.list(channelId))}`);
  if (code !== 0) console.log(stderr);
  expect(code).toBe(0);
  expect(stderr).toMatch(/Stream #0:1: Video: vp8/);
  expect(stderr).toMatch(/Stream #0:0: Audio: opus, 48000 Hz/);
  expect(videoFrames).toBeGreaterThan(10);
  // 3 s of 48 kHz stereo s16 is ~576 kB; a third of it proves audio decoded continuously.
  expect(wavBytes).toBeGreaterThan(190_000);

  // The forward ends with the sender.
  await page.disconnect(sender.id);
  await waitFor("forward stopped with its connection", async () => forwarding.list(channelId).length === 0, 10_000);
  expect(forwarding.stop(channelId)).toMatchObject({ ok: false, error_type: "NOT-STARTED" });
  await page.page.close();
}, 90_000);

it("lets a late ffmpeg decode within 5 s and keeps it decoding across a stop and restart", async () => {
  const channelId = `fwdr-${Math.random().toString(36).slice(2)}`;
  const page = await browser.newPage();
  // Only the sender and the forward: no WebRTC subscriber whose keyframe requests would help ffmpeg.
  const sender = await page.start({ url, channelId, role: "sendonly", options: { videoCodecType: "VP8" } });
  expect(sender.error).toBeNull();
  const conn = node.sfu.findConnection(channelId, sender.connectionId!)!;
  await waitFor("sender media at the node", async () => conn.publications.every((p) => p.packetsReceived > 50));

  const audioPort = await freeRtpPort();
  const videoPort = await freeRtpPort([audioPort]);
  const forwarding = node.egress.rtpForwarding;
  const request = { channel_id: channelId, ip_address: "127.0.0.1", audio_port: audioPort, video_port: videoPort };
  const started = forwarding.start(request);
  if (!started.ok) throw new Error(`start failed: ${JSON.stringify(started)}`);
  // The application writes the SDP and launches its receiver a little later.
  await sleep(2000);

  const sdpPath = join(dir, "forward.sdp");
  await writeFile(sdpPath, started.result.sdp);
  let stderr = "";
  const frames: { at: number; frame: number }[] = [];
  ffmpeg = spawn(
    FFMPEG,
    ["-hide_banner", "-nostdin", "-stats_period", "0.2", "-progress", "pipe:1", "-protocol_whitelist", "file,udp,rtp", "-i", sdpPath, "-map", "0:v", "-f", "null", "-"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  ffmpeg.stdout!.on("data", (d: Buffer) => {
    for (const m of d.toString().matchAll(/^frame=(\d+)$/gm)) frames.push({ at: Date.now(), frame: Number(m[1]) });
  });
  ffmpeg.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const decoded = () => frames.at(-1)?.frame ?? 0;
  try {
    await waitFor("ffmpeg listening", async () => (await udpListening(audioPort)) && (await udpListening(videoPort)), 10_000, 50);
    const listeningAt = Date.now();
    await waitFor("late ffmpeg decodes video", async () => decoded() > 0, 5_000, 50);
    const firstFrameAt = frames.find((f) => f.frame > 0)!.at;
    console.log(`late ffmpeg: first frame ${firstFrameAt - listeningAt} ms after it listened (forward started 2 s before)`);
    expect(firstFrameAt - listeningAt).toBeLessThanOrEqual(5_000);
    await waitFor("ffmpeg keeps decoding", async () => decoded() > 30, 10_000, 50);

    // Stop, then start again to the same ports while ffmpeg keeps listening.
    const [before] = forwarding.list(channelId);
    expect(before!.audio_ssrc).not.toBe(0);
    expect(before!.video_ssrc).not.toBe(0);
    expect(forwarding.stop(channelId)).toMatchObject({ ok: true });
    await sleep(1500);
    const beforeRestart = decoded();
    const restarted = forwarding.start(request);
    expect(restarted.ok).toBe(true);
    const restartedAt = Date.now();
    // The same RTP streams go on (their sequence numbers continue: rtp-leg.ts, egress-units.test.ts).
    expect(forwarding.list(channelId)).toMatchObject([{ audio_ssrc: before!.audio_ssrc, video_ssrc: before!.video_ssrc }]);
    await waitFor("ffmpeg decodes after the restart", async () => decoded() > beforeRestart + 30, 5_000, 50);
    console.log(`after the restart: ${decoded() - beforeRestart} more frames within ${Date.now() - restartedAt} ms`);
    expect(stderr).not.toMatch(/dropping old packet/);
  } catch (err) {
    console.log(`ffmpeg progress ${JSON.stringify(frames.slice(-5))}\n${stderr}`);
    throw err;
  } finally {
    ffmpeg.kill("SIGKILL");
    forwarding.stop(channelId);
    await page.page.close();
  }
}, 90_000);
