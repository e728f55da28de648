import { describe, expect, it } from "vitest";
import { nodeAndBrowser, waitFor } from "./harness.js";

// Acceptance of the media node with the real sora-js-sdk in Chromium: multistream media both
// ways, late joiners, leavers' notifies and removetrack, and DataChannel signaling.

const ctx = nodeAndBrowser();

describe.each([
  { name: "WebSocket signaling", options: {} },
  { name: "DataChannel signaling, WebSocket closed after switched", options: { dataChannelSignaling: true, ignoreDisconnectWebSocket: true } },
])("multistream with $name", ({ options }) => {
  it("exchanges audio and video, serves late joiners and announces leavers", async () => {
    const channelId = `ms-${Math.random().toString(36).slice(2)}`;
    const page = await ctx.browser.newPage();
    const a = await page.start({ url: ctx.url, channelId, role: "sendrecv", options });
    const b = await page.start({ url: ctx.url, channelId, role: "sendrecv", options });
    const c = await page.start({ url: ctx.url, channelId, role: "recvonly", options });
    for (const h of [a, b, c]) expect(h.error).toBeNull();
    const A = a.connectionId!;
    const B = b.connectionId!;
    await waitFor("A decodes B", () => page.decodes(a.id, [B]));
    await waitFor("B decodes A", () => page.decodes(b.id, [A]));
    await waitFor("C decodes A and B", () => page.decodes(c.id, [A, B]));

    if (options.dataChannelSignaling) {
      for (const h of [a, b, c]) {
        const s = await page.state(h.id);
        expect(s.switched).toBe(true);
        expect(s.wsOpen).toBe(false);
      }
    }

    const d = await page.start({ url: ctx.url, channelId, role: "recvonly", options });
    expect(d.error).toBeNull();
    await waitFor("late joiner D decodes A and B", () => page.decodes(d.id, [A, B]));
    const dState = await page.state(d.id);
    const selfCreated = dState.notifies.find((n) => n.event_type === "connection.created" && n.connection_id === d.connectionId);
    expect(selfCreated?.channel_connections).toBe(4);
    expect((selfCreated?.data ?? []).length).toBe(3);

    await page.disconnect(b.id);
    for (const h of [a, c, d]) {
      await waitFor(`connection.destroyed and removetrack for B at client ${h.id}`, async () => {
        const s = await page.state(h.id);
        const destroyed = s.notifies.some((n) => n.event_type === "connection.destroyed" && n.connection_id === B);
        const removed = s.removed.filter((r) => r.streamId === B).length;
        return destroyed && removed >= 2;
      });
    }
    // Media from A keeps flowing to the others after B left.
    const before = (await page.inbound(d.id))[A]!.framesDecoded;
    await waitFor("D keeps decoding A", async () => ((await page.inbound(d.id))[A]?.framesDecoded ?? 0) > before + 20);
    await page.page.close();
  });
});

it("connects a receiver that is alone in its channel and gives it the sender that comes later", async () => {
  const channelId = `first-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  const viewer = await page.start({ url: ctx.url, channelId, role: "recvonly", options: { connectionTimeout: 10_000 } });
  expect(viewer.error).toBeNull();
  const sender = await page.start({ url: ctx.url, channelId, role: "sendonly" });
  expect(sender.error).toBeNull();
  await waitFor("the early viewer decodes the late sender", () => page.decodes(viewer.id, [sender.connectionId!]));
  // The anchor m-line that let it connect alone never shows up as a track.
  const tracks = Object.values((await page.state(viewer.id)).tracks);
  expect(tracks.every((t) => t.streamId === sender.connectionId)).toBe(true);
  await page.page.close();
});
