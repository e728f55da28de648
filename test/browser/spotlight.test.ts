import { expect, it } from "vitest";
import { nodeAndBrowser, waitFor, type SoraPage } from "./harness.js";

// Spotlight with the real sora-js-sdk: four simulcast senders, spotlight_number 2. The
// subscriber gets the focus rid (r2, full width) for the two focused senders and the unfocus
// rid (r0) for the others; when a muted sender starts talking and a talker goes quiet, focus
// moves and the spotlight notifies arrive.

const ctx = nodeAndBrowser();

async function widths(page: SoraPage, id: number): Promise<Record<string, number>> {
  const per = await page.inbound(id);
  return Object.fromEntries(Object.entries(per).map(([k, v]) => [k, v.framesDecoded > 0 ? v.frameWidth : 0]));
}

it("focuses the speakers at the focus rid and moves focus when someone else talks", async () => {
  const channelId = `spot-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  const spotlight = { spotlight: true, spotlightNumber: 2, videoCodecType: "VP8" };
  const video = { width: 1280, height: 720, frameRate: 15 };
  const senders = [];
  for (let i = 0; i < 4; i++) {
    const h = await page.start({ url: ctx.url, channelId, role: "sendonly", options: spotlight, video });
    expect(h.error).toBeNull();
    senders.push(h);
  }
  // Senders 0 and 1 talk (Chrome's fake microphone beeps); 2 and 3 are muted.
  await page.setAudioEnabled(senders[2]!.id, false);
  await page.setAudioEnabled(senders[3]!.id, false);
  const sub = await page.start({
    url: ctx.url,
    channelId,
    role: "recvonly",
    options: { spotlight: true, spotlightNumber: 2, spotlightFocusRid: "r2", spotlightUnfocusRid: "r0" },
  });
  expect(sub.error).toBeNull();
  const [s0, s1, s2, s3] = senders.map((s) => s.connectionId!) as [string, string, string, string];

  const expectFocus = async (focused: string[], unfocused: string[], what: string) =>
    waitFor(what, async () => {
      const w = await widths(page, sub.id);
      return focused.every((id) => w[id] === 1280) && unfocused.every((id) => w[id] === 320) ? w : false;
    }, 30_000);
  await expectFocus([s0, s1], [s2, s3], "talkers at r2, muted at r0");

  // Sender 0 goes quiet, sender 2 starts talking.
  await page.setAudioEnabled(senders[0]!.id, false);
  await page.setAudioEnabled(senders[2]!.id, true);
  const movedAt = Date.now();
  await expectFocus([s1, s2], [s0, s3], "focus moved from sender 0 to sender 2");
  console.log(`spotlight moved ${Date.now() - movedAt} ms after the speaker change`);

  const notifies = (await page.state(sub.id)).notifies;
  const focusedEvents = notifies.filter((n) => n.event_type === "spotlight.focused").map((n) => n.connection_id);
  const unfocusedEvents = notifies.filter((n) => n.event_type === "spotlight.unfocused").map((n) => n.connection_id);
  expect(focusedEvents).toContain(s2);
  expect(unfocusedEvents).toContain(s0);
  expect(notifies.some((n) => n.event_type === "spotlight.changed" && n.connection_id === s2)).toBe(true);
  await page.page.close();
}, 120_000);
