import { expect, it } from "vitest";
import { lossySubscriberEgress } from "../support/lossy-egress.js";
import { nodeAndBrowser, waitFor } from "./harness.js";

// 5 % of the RTP sent to the subscriber's video leg is dropped by a lossy link installed through
// the node's subscriberEgress hook (test/support/lossy-egress.ts; NACK answers can be lost
// too); the subscriber must keep decoding because its NACKs are answered from the publication's cache.

const loss = lossySubscriberEgress(0.05, (leg) => leg.kind === "video");
const ctx = nodeAndBrowser({ subscriberEgress: loss.hook });

it("keeps decoding with 5% loss on the subscriber leg, NACKs answered from the cache", async () => {
  const url = ctx.url;
  const channelId = `loss-${Date.now()}`;
  const page = await ctx.browser.newPage();
  const sender = await page.start({ url, channelId, role: "sendonly" });
  const receiver = await page.start({ url, channelId, role: "recvonly" });
  expect(sender.error).toBeNull();
  expect(receiver.error).toBeNull();
  const S = sender.connectionId!;
  const diagnostics = async () => {
    const conn = ctx.node.sfu.findConnection(channelId, receiver.connectionId!);
    const sub = conn ? [...conn.subscriptions.values()].find((s) => s.publication.kind === "video") : undefined;
    return JSON.stringify({
      receiver: await page.inboundVideo(receiver.id),
      byStream: await page.inbound(receiver.id),
      subscriptions: conn ? [...conn.subscriptions.values()].map((s) => ({ kind: s.publication.kind, from: s.publication.connectionId, sent: s.packetsSent, retransmitted: s.retransmitted })) : "no connection",
      videoSub: sub ? { ready: (sub as unknown as { ready: boolean }).ready, sent: sub.packetsSent } : null,
    });
  };
  await waitFor("first frames", async () => ((await page.inbound(receiver.id))[S]?.framesDecoded ?? 0) > 10).catch(async (err: Error) => {
    throw new Error(`${err.message}; ${await diagnostics()}`);
  });
  const start = (await page.inbound(receiver.id))[S]!;
  await new Promise((r) => setTimeout(r, 6000));
  const end = (await page.inbound(receiver.id))[S]!;
  const decoded = end.framesDecoded - start.framesDecoded;
  const nacks = end.nackCount - start.nackCount;
  const conn = ctx.node.sfu.findConnection(channelId, receiver.connectionId!)!;
  const videoSub = [...conn.subscriptions.values()].find((s) => s.publication.kind === "video")!;
  const link = loss.links.find((l) => l.leg.subscriberConnectionId === receiver.connectionId && l.leg.publisherConnectionId === S)!;
  console.log(`6 s under 5% loss: ${decoded} frames decoded, ${link.egress.dropped} of ${link.egress.dropped + link.egress.passed} packets dropped, ${nacks} NACKs sent by Chromium, ${videoSub.retransmitted} packets retransmitted by the node`);
  // Chromium's fake camera gives ~20 fps here (120 frames in 6 s without loss); a stream
  // whose losses were not repaired would stall until the next keyframe and decode far fewer.
  expect(link.egress.dropped).toBeGreaterThan(0);
  expect(decoded).toBeGreaterThan(75);
  expect(nacks).toBeGreaterThan(0);
  expect(videoSub.retransmitted).toBeGreaterThan(0);
  await page.page.close();
});
