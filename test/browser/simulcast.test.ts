import { expect, it } from "vitest";
import { nodeAndBrowser, waitFor, type SoraPage } from "./harness.js";

// Simulcast with the real sora-js-sdk: a 1280×720 three-layer sender, subscribers choosing
// r0 / r2 at connect, then RequestRtpStream / ResetRtpStream moving one subscriber between
// layers with frames decoded throughout (switches land on keyframes, counters stay continuous),
// each switch announced to that subscriber only by a `simulcast.switched` notify.

const ctx = nodeAndBrowser();

/** The client's `simulcast.switched` notifies (only those with that `trigger` when given). */
const switchedNotifies = async (page: SoraPage, id: number, trigger?: "receiver" | "sender") =>
  (await page.state(id)).notifies.filter((n) => n.event_type === "simulcast.switched" && (trigger === undefined || n.trigger === trigger));

async function widthAt(page: SoraPage, id: number, width: number, minFrames = 5): Promise<boolean> {
  const v = await page.inboundVideo(id);
  return v !== null && v.frameWidth === width && v.framesDecoded >= minFrames;
}

it("delivers the asked layer per subscriber and switches on RequestRtpStream/ResetRtpStream", async () => {
  const channelId = `sim-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  const sender = await page.start({
    url: ctx.url,
    channelId,
    role: "sendonly",
    options: { simulcast: true, videoCodecType: "VP8" },
    video: { width: 1280, height: 720 },
  });
  expect(sender.error).toBeNull();
  const low = await page.start({ url: ctx.url, channelId, role: "recvonly", options: { simulcast: true, simulcastRid: "r0" } });
  const high = await page.start({ url: ctx.url, channelId, role: "recvonly", options: { simulcast: true, simulcastRid: "r2" } });
  expect(low.error).toBeNull();
  expect(high.error).toBeNull();

  await waitFor("sender encodes three layers", async () => {
    const out = await page.outboundVideo(sender.id);
    if (process.env.DEBUG_SIMULCAST) console.log(JSON.stringify(out));
    return out.filter((o) => o.framesEncoded > 0).length === 3 ? out : false;
  });
  await waitFor("r0 subscriber decodes 320 wide", () => widthAt(page, low.id, 320));
  await waitFor("r2 subscriber decodes 1280 wide", () => widthAt(page, high.id, 1280), 30_000);

  // Nobody asked for another layer yet. (Sender-made switches may come at any time: the layers
  // start one after the other, and Chrome may turn one off and on under load. The
  // receiver-made ones are exactly one per request.)
  expect(await switchedNotifies(page, low.id, "receiver")).toEqual([]);
  const switchTo = async (rid: "r0" | "r1" | "r2" | null, width: number, everySender = false): Promise<number> => {
    const before = (await page.inboundVideo(low.id))!;
    const notifiesBefore = (await switchedNotifies(page, low.id, "receiver")).length;
    const started = Date.now();
    const request = everySender
      ? { recv_connection_id: low.connectionId!, rid: rid! }
      : { recv_connection_id: low.connectionId!, send_connection_id: sender.connectionId!, rid: rid! };
    const requests = rid ? [request] : [];
    expect(ctx.node.sfu.setRidRequests(channelId, requests)).toBe(true);
    await waitFor(`subscriber moves to ${width}`, async () => (await page.inboundVideo(low.id))?.frameWidth === width, 10_000, 20);
    const elapsed = Date.now() - started;
    // Announced once, with the layers it went between (what the receiver asks: the request, else r0).
    const previous = ({ 320: "r0", 640: "r1", 1280: "r2" } as Record<number, string>)[before.frameWidth];
    const current = ({ 320: "r0", 640: "r1", 1280: "r2" } as Record<number, string>)[width];
    await waitFor("simulcast.switched", async () => (await switchedNotifies(page, low.id, "receiver")).length > notifiesBefore, 5_000, 50);
    expect((await switchedNotifies(page, low.id, "receiver")).slice(notifiesBefore)).toEqual([
      {
        event_type: "simulcast.switched",
        sender_connection_id: sender.connectionId,
        priority: current! > previous! ? "higher" : "lower",
        trigger: "receiver",
        rpc_rids: [], // no RPC granted on this node
        auto_rids: [],
        request_rid: current,
        current_rid: current,
        previous_rid: previous,
      },
    ]);
    // The decoder goes on after the switch (a loaded machine decodes 1280×720 slowly, so this
    // waits for frames rather than counting them over a fixed time).
    await waitFor(
      "frames decoded after the switch",
      async () => (await page.inboundVideo(low.id))!.framesDecoded > before.framesDecoded + 5,
      5_000,
      50,
    );
    return elapsed;
  };
  const timings = {
    "r0→r2": await switchTo("r2", 1280),
    "r2→r1": await switchTo("r1", 640),
    "reset→r0": await switchTo(null, 320),
    "r0→r1 (every sender)": await switchTo("r1", 640, true),
    "reset→r0 again": await switchTo(null, 320),
  };
  console.log("simulcast switch time (ms, request → decoded width seen, polled every 20 ms):", timings);
  const final = (await page.inboundVideo(low.id))!;
  expect(final.framesDropped).toBeLessThan(final.framesDecoded / 10);
  // The other subscriber kept its layer all along; no switch of the r0 subscriber reached it.
  expect((await page.inboundVideo(high.id))!.frameWidth).toBe(1280);
  expect(await switchedNotifies(page, high.id, "receiver")).toEqual([]);

  // The sender stops its r2 layer: the r2 subscriber falls to the highest lower one (r1), and
  // moves back up when r2 returns, decoding throughout.
  const highSwitchesBefore = (await switchedNotifies(page, high.id)).length;
  await page.setLayerActive(sender.id, "r2", false);
  const fellAt = Date.now();
  await waitFor("r2 subscriber falls to r1", async () => (await page.inboundVideo(high.id))?.frameWidth === 640, 10_000, 50);
  console.log(`fell back to r1 ${Date.now() - fellAt} ms after the sender stopped r2`);
  const fellBack = { event_type: "simulcast.switched", sender_connection_id: sender.connectionId, trigger: "sender", request_rid: "r2" };
  await waitFor("fall-back notified", async () => (await switchedNotifies(page, high.id)).length > highSwitchesBefore, 5_000, 50);
  expect((await switchedNotifies(page, high.id)).slice(highSwitchesBefore)).toContainEqual(
    expect.objectContaining({ ...fellBack, priority: "lower", previous_rid: "r2", current_rid: "r1" }),
  );
  await page.setLayerActive(sender.id, "r2", true);
  await waitFor("r2 subscriber back at 1280", async () => (await page.inboundVideo(high.id))?.frameWidth === 1280, 15_000, 50);
  await waitFor("return notified", async () => (await switchedNotifies(page, high.id)).length > highSwitchesBefore + 1, 5_000, 50);
  expect((await switchedNotifies(page, high.id)).at(-1)).toEqual(expect.objectContaining({ ...fellBack, priority: "higher", previous_rid: "r1", current_rid: "r2" }));
  const highFinal = (await page.inboundVideo(high.id))!;
  expect(highFinal.framesDropped).toBeLessThan(highFinal.framesDecoded / 10);
  await page.page.close();
}, 120_000);
