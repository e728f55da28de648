import { expect, it } from "vitest";
import { nodeAndBrowser, waitFor } from "./harness.js";

// Every video codec a connect may ask for reaches a Chromium subscriber decodable.

const ctx = nodeAndBrowser();

it.each(["VP9", "VP8", "H264", "AV1", undefined])("forwards %s video (undefined = the default)", async (codec) => {
  const url = ctx.url;
  const channelId = `codec-${codec ?? "default"}-${Date.now()}`;
  const page = await ctx.browser.newPage();
  const options = codec ? { videoCodecType: codec } : {};
  const sender = await page.start({ url, channelId, role: "sendonly", options, video: { width: 320, height: 240 } });
  const receiver = await page.start({ url, channelId, role: "recvonly", options });
  expect(sender.error).toBeNull();
  expect(receiver.error).toBeNull();
  await waitFor(`${codec} frames decoded`, async () => ((await page.inbound(receiver.id))[sender.connectionId!]?.framesDecoded ?? 0) > 10);
  const used = await page.page.evaluate(async (id: number) => {
    const w = window as unknown as { inboundCodec(id: number): Promise<string> };
    return w.inboundCodec(id);
  }, receiver.id);
  expect(used).toBe(`video/${codec ?? "VP9"}`);
  await page.page.close();
});
