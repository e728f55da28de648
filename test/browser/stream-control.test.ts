import { expect, it } from "vitest";
import { nodeAndBrowser, waitFor, type SoraPage } from "./harness.js";

// Per-subscriber pause/resume and the sender's bitrate pin, with real sora-js-sdk clients.
// The node's API is called directly here; test/integration drives the same through the edge.

const ctx = nodeAndBrowser();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function videoPackets(page: SoraPage, id: number): Promise<number> {
  return (await page.inboundVideo(id))?.packetsReceived ?? 0;
}

it("pauses one subscriber's video while the other keeps receiving, and resumes within a second", async () => {
  const channelId = `pause-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  const sender = await page.start({ url: ctx.url, channelId, role: "sendonly", options: { videoCodecType: "VP8" } });
  const paused = await page.start({ url: ctx.url, channelId, role: "recvonly" });
  const other = await page.start({ url: ctx.url, channelId, role: "recvonly" });
  for (const h of [sender, paused, other]) expect(h.error).toBeNull();
  for (const h of [paused, other]) await waitFor("video decodes", async () => ((await page.inboundVideo(h.id))?.framesDecoded ?? 0) > 10);

  const pair = [{ recv_connection_id: paused.connectionId!, send_connection_id: sender.connectionId! }];
  expect(ctx.node.sfu.setPausedStreams(channelId, pair)).toBe(true);
  await sleep(300); // packets already in flight
  const pausedAt = await videoPackets(page, paused.id);
  const otherAt = await videoPackets(page, other.id);
  await sleep(1500);
  expect(await videoPackets(page, paused.id)).toBe(pausedAt);
  expect(await videoPackets(page, other.id)).toBeGreaterThan(otherAt + 30);

  const framesBefore = (await page.inboundVideo(paused.id))!.framesDecoded;
  const resumedAt = Date.now();
  expect(ctx.node.sfu.setPausedStreams(channelId, [])).toBe(true);
  await waitFor("frames again", async () => (await page.inboundVideo(paused.id))!.framesDecoded > framesBefore + 2, 1000, 20);
  console.log(`video back ${Date.now() - resumedAt} ms after resume`);
  await page.page.close(); // free the encoders: the next test measures the sender's bitrate
}, 60_000);

it("pins the sender's upstream video bitrate with ChangeUpstreamVideoBitRate", async () => {
  const channelId = `bitrate-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  // A simulcast sender: three layers make Chrome's encoder use far more than the pin.
  const sender = await page.start({
    url: ctx.url,
    channelId,
    role: "sendonly",
    options: { videoCodecType: "VP8", simulcast: true },
    video: { width: 1280, height: 720 },
  });
  expect(sender.error).toBeNull();
  const sent = async () => {
    const layers = await page.outboundVideo(sender.id);
    return { bytes: layers.reduce((n, l) => n + l.bytesSent, 0), at: layers[0]!.timestamp };
  };
  const bitrate = async (windowMs: number): Promise<number> => {
    const a = await sent();
    await sleep(windowMs);
    const b = await sent();
    return ((b.bytes - a.bytes) * 8) / ((b.at - a.at) / 1000);
  };
  const before = await waitFor("sender ramps above 600 kbps", async () => {
    const bps = await bitrate(1000);
    return bps > 600_000 ? bps : false;
  }, 20_000, 0);
  console.log(`outbound video ${Math.round(Number(before) / 1000)} kbps before the pin`);
  expect(ctx.node.sfu.changeUpstreamVideoBitRate(channelId, sender.connectionId!, 300)).toBe("ok");
  const started = Date.now();
  const settled = await waitFor("sender under 350 kbps", async () => {
    const bps = await bitrate(1000);
    return bps < 350_000 ? bps : false;
  }, 15_000, 0);
  console.log(`outbound video ${Math.round(Number(settled) / 1000)} kbps, ${Date.now() - started} ms after pinning 300 kbps`);
  // It stays there (REMB is repeated, not a one-off).
  expect(await bitrate(2000)).toBeLessThan(350_000);
  await page.page.close();
}, 60_000);
