import { expect, it } from "vitest";
import { nodeAndBrowser, waitFor } from "./harness.js";

// Sora's connection management APIs against the real sora-js-sdk: DisconnectConnection (as the
// SDK surfaces it on a WebSocket client and on a DataChannel-only client), GetStatsConnection
// and RequestKeyFrame. The node's SFU is called directly, as the node's control link does for
// the edge's commands (media-node/src/control/node-control.ts); test/integration drives the same
// through the real edge.

const ctx = nodeAndBrowser();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const channel = (name: string) => `${name}-${Math.random().toString(36).slice(2)}`;

it("DisconnectConnection: the SDK fires `disconnect` type normal with 1000 DISCONNECTED-API; the others get connection.destroyed", async () => {
  const channelId = channel("kick-ws");
  const page = await ctx.browser.newPage();
  const kicked = await page.start({ url: ctx.url, channelId, role: "sendrecv", options: { videoCodecType: "VP8" } });
  const other = await page.start({ url: ctx.url, channelId, role: "recvonly" });
  for (const h of [kicked, other]) expect(h.error).toBeNull();
  await waitFor("video decodes at the other", async () => ((await page.inboundVideo(other.id))?.framesDecoded ?? 0) > 5);

  expect(await ctx.node.sfu.disconnect(channelId, { connection_ids: [kicked.connectionId!] }, { why: "test" })).toEqual([kicked.connectionId]);
  const event = await waitFor("disconnect event", async () => (await page.state(kicked.id)).disconnected);
  expect(event).toEqual({ type: "normal", title: "SHUTDOWN", code: 1000, reason: "DISCONNECTED-API" });
  await waitFor("connection.destroyed at the other", async () =>
    (await page.state(other.id)).notifies.some((n) => n.event_type === "connection.destroyed" && n.connection_id === kicked.connectionId),
  );
  const otherState = await page.state(other.id);
  expect(otherState.disconnected).toBeNull();
  expect(ctx.node.sfu.findConnection(channelId, kicked.connectionId!)).toBeUndefined();
  await page.page.close();
}, 60_000);

it("DisconnectConnection: a DataChannel-only client gets the close message on `signaling`, then `disconnect`", async () => {
  const channelId = channel("kick-dc");
  const page = await ctx.browser.newPage();
  const other = await page.start({ url: ctx.url, channelId, role: "sendrecv", options: { videoCodecType: "VP8" } });
  const kicked = await page.start({
    url: ctx.url,
    channelId,
    role: "recvonly",
    options: { dataChannelSignaling: true, ignoreDisconnectWebSocket: true },
  });
  for (const h of [kicked, other]) expect(h.error).toBeNull();
  await waitFor("switched, WebSocket closed", async () => {
    const s = await page.state(kicked.id);
    return s.switched && !s.wsOpen;
  });

  await ctx.node.sfu.disconnect(channelId, { connection_ids: [kicked.connectionId!] });
  const event = await waitFor("disconnect event", async () => (await page.state(kicked.id)).disconnected);
  expect(event).toEqual({ type: "normal", title: "SHUTDOWN", code: 1000, reason: "DISCONNECTED-API" });
  const { sequence, signaling } = await page.state(kicked.id);
  expect(signaling).toContainEqual({ type: "onmessage-close", transportType: "datachannel" });
  // The close message came first, and the SDK's disconnect followed from it.
  expect(sequence.indexOf("datachannel:onmessage-close")).toBeGreaterThanOrEqual(0);
  expect(sequence.indexOf("datachannel:onmessage-close")).toBeLessThan(sequence.indexOf("disconnect"));
  await waitFor("connection.destroyed at the other", async () =>
    (await page.state(other.id)).notifies.some((n) => n.event_type === "connection.destroyed" && n.connection_id === kicked.connectionId),
  );
  expect((await page.state(other.id)).disconnected).toBeNull();
  await page.page.close();
}, 60_000);

it("GetStatsConnection answers a live sender's counters; RequestKeyFrame raises its keyFramesEncoded and pliCount", async () => {
  const channelId = channel("keyframe");
  const page = await ctx.browser.newPage();
  // No subscriber: nobody else asks this sender for keyframes.
  const sender = await page.start({ url: ctx.url, channelId, role: "sendonly", options: { videoCodecType: "VP8" } });
  expect(sender.error).toBeNull();
  await waitFor("sender encodes", async () => ((await page.outboundVideo(sender.id))[0]?.framesEncoded ?? 0) > 30);

  const stats = ctx.node.sfu.connectionStats(channelId, sender.connectionId!);
  expect(stats).toMatchObject({ channel_id: channelId, connection_id: sender.connectionId, rtp: { total_received_rtp: expect.any(Number) } });
  expect((stats as { rtp: { total_received_rtp: number } }).rtp.total_received_rtp).toBeGreaterThan(30);

  const before = (await page.outboundVideo(sender.id))[0]!;
  // As sora-python-sdk's test_key_frame_request.py does: three calls, 3 s apart.
  for (let i = 0; i < 3; i++) {
    expect(ctx.node.sfu.requestKeyFrame(channelId, sender.connectionId!)).toBe("ok");
    await sleep(3000);
  }
  const after = (await page.outboundVideo(sender.id))[0]!;
  const plis = after.pliCount - before.pliCount;
  const keyFrames = after.keyFramesEncoded - before.keyFramesEncoded;
  console.log(`RequestKeyFrame ×3: ${plis} PLIs, ${keyFrames} keyframes encoded`);
  expect(plis).toBeGreaterThanOrEqual(3);
  // The node stops asking once the keyframe arrives: no flood (at most 5 PLIs per call).
  expect(plis).toBeLessThanOrEqual(15);
  expect(keyFrames).toBeGreaterThanOrEqual(3);
  expect(keyFrames).toBeGreaterThanOrEqual(0.7 * plis);
  await page.page.close();
}, 60_000);
