import { expect, it } from "vitest";
import { nodeAndBrowser, waitFor } from "./harness.js";

// Receiver feedback towards a publisher (issue 2): the node advertises goog-remb and no
// transport-cc, sends REMB for the publisher's video SSRCs twice a second, and werift sends
// receiver reports (its statistics are fed by the fast path too). Without REMB Chrome's
// estimate stays near its 300 kbps start; with it a single-layer 720p sender's estimate
// (availableOutgoingBitrate) takes the REMB value within a second, and the encoder follows as
// it steps the resolution up (640 → 960 → 1280 px, ~15-25 s); what it emits is content-limited
// (Chrome's fake camera needs ~700 kbps at 720p).

const ctx = nodeAndBrowser({ maxUpstreamVideoBitrateBps: 2_500_000 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("a Chromium publisher's send-side estimate ramps past 1 Mbps under the node's REMB", async () => {
  const channelId = `ramp-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  const sender = await page.start({ url: ctx.url, channelId, role: "sendonly", options: { videoCodecType: "VP8" }, video: { width: 1280, height: 720 } });
  expect(sender.error).toBeNull();
  const started = Date.now();
  const target = await waitFor(
    "bandwidth estimate above 1 Mbps",
    async () => {
      const t = (await page.outboundVideo(sender.id))[0]?.availableOutgoingBitrate ?? 0;
      return t > 1_000_000 ? t : false;
    },
    50_000,
    500,
  );
  const estimateMs = Date.now() - started;
  // The encoder follows: Chrome starts at a low resolution for the 300 kbps start estimate and
  // steps it up (640 → 960 → 1280 px) as the estimate allows.
  const bitrate = async (): Promise<number> => {
    const a = (await page.outboundVideo(sender.id))[0]!;
    await sleep(1000);
    const b = (await page.outboundVideo(sender.id))[0]!;
    return ((b.bytesSent - a.bytesSent) * 8) / ((b.timestamp - a.timestamp) / 1000);
  };
  const bps = await waitFor("sending above 450 kbps", async () => {
    const v = await bitrate();
    return v > 450_000 ? v : false;
  }, 45_000, 0);
  console.log(`estimate ${Math.round(Number(target) / 1000)} kbps after ${estimateMs} ms; sending ${Math.round(Number(bps) / 1000)} kbps after ${Date.now() - started} ms`);
  await page.page.close();
}, 90_000);
