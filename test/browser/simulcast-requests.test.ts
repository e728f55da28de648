import { expect, it } from "vitest";
import type { RidRequest } from "../../shared/control-protocol.js";
import { withRidRequest, withRidReset } from "../../shared/rid-requests.js";
import { nodeAndBrowser, waitFor, type SoraPage } from "./harness.js";

// Simulcast as Sora sets it, with the real sora-js-sdk in Chromium:
// - the default encodings make every layer L1T1 (Sora e2e simulcast.test.ts reads
//   scalabilityMode "L1T1" on r0, r1 and r2; Chromium would otherwise encode VP8 as L1T3);
// - RequestRtpStream / ResetRtpStream sequences over two senders: the latest call covering a
//   (receiver, sender) pair decides its layer, a pair reset returns it to the connect-time rid,
//   a reset without a sender returns all. The state is built as the edge builds it
//   (shared/rid-requests.ts) and given to the node as `set_rid_requests` would; the decoded
//   width per sender at the receiver shows the layer.

const ctx = nodeAndBrowser();

type Widths = Record<string, { frameWidth: number; framesDecoded: number }>;
const widthsOf = (page: SoraPage, id: number) => page.page.evaluate((i) => (window as unknown as { widthsByStream(i: number): Promise<Widths> }).widthsByStream(i), id);
const scalabilityOf = (page: SoraPage, id: number) =>
  page.page.evaluate(
    (i) => (window as unknown as { outboundScalability(i: number): Promise<{ rid: string | null; scalabilityMode: string | null; framesEncoded: number }[]> }).outboundScalability(i),
    id,
  );

// 960×540 is the smallest size at which Chromium sends three layers: r0 240, r1 480, r2 960 wide.
const WIDTH = { r0: 240, r1: 480, r2: 960 } as const;

it("encodes every default layer as L1T1 and applies rid requests latest-first per pair", async () => {
  const channelId = `simreq-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  const senderOptions = { options: { simulcast: true, videoCodecType: "VP8" }, video: { width: 960, height: 540 }, audio: false };
  const a = await page.start({ url: ctx.url, channelId, role: "sendonly", ...senderOptions });
  const b = await page.start({ url: ctx.url, channelId, role: "sendonly", ...senderOptions });
  const receiver = await page.start({ url: ctx.url, channelId, role: "recvonly", options: { simulcast: true, simulcastRid: "r0" } });
  expect([a.error, b.error, receiver.error]).toEqual([null, null, null]);
  const A = a.connectionId!;
  const B = b.connectionId!;
  const R = receiver.connectionId!;

  for (const sender of [a, b]) {
    const layers = await waitFor("three layers encoded", async () => {
      const out = await scalabilityOf(page, sender.id);
      return out.filter((o) => o.framesEncoded > 0).length === 3 ? out : false;
    });
    if (!layers) throw new Error("no layers");
    expect(layers.map((l) => [l.rid, l.scalabilityMode]).sort()).toEqual([
      ["r0", "L1T1"],
      ["r1", "L1T1"],
      ["r2", "L1T1"],
    ]);
  }

  let state: RidRequest[] = [];
  const expectWidths = async (step: string, wanted: Record<string, number>) => {
    expect(ctx.node.sfu.setRidRequests(channelId, state)).toBe(true);
    const before = await widthsOf(page, receiver.id);
    await waitFor(
      `${step}: ${JSON.stringify(wanted)}`,
      async () => {
        const now = await widthsOf(page, receiver.id);
        // The wanted width, with frames decoded since the call.
        return Object.entries(wanted).every(([id, w]) => now[id]?.frameWidth === w && now[id]!.framesDecoded > (before[id]?.framesDecoded ?? 0) + 3) ? now : false;
      },
      15_000,
      100,
    );
  };

  await expectWidths("connect-time r0", { [A]: WIDTH.r0, [B]: WIDTH.r0 });
  state = withRidRequest(state, { recv_connection_id: R, send_connection_id: A, rid: "r2" });
  await expectWidths("A at r2", { [A]: WIDTH.r2, [B]: WIDTH.r0 });
  // A later request without a sender moves every sender, A included.
  state = withRidRequest(state, { recv_connection_id: R, rid: "r1" });
  await expectWidths("everyone at r1", { [A]: WIDTH.r1, [B]: WIDTH.r1 });
  // Resetting A returns it to its connect-time rid although the all-senders request covered it.
  state = withRidReset(state, R, A);
  await expectWidths("A reset", { [A]: WIDTH.r0, [B]: WIDTH.r1 });
  state = withRidRequest(state, { recv_connection_id: R, send_connection_id: B, rid: "r2" });
  await expectWidths("B at r2", { [A]: WIDTH.r0, [B]: WIDTH.r2 });
  state = withRidReset(state, R);
  await expectWidths("all reset", { [A]: WIDTH.r0, [B]: WIDTH.r0 });
  expect(state).toEqual([]);
  await page.page.close();
}, 150_000);
