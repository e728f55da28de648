import { expect, it } from "vitest";
import { nodeAndBrowser, waitFor, type SoraPage } from "./harness.js";

// A media node on one UDP port for all ICE (transport/udp-mux.ts), bound on 0.0.0.0 and
// announcing 127.0.0.3 (the "public" address of a 1:1 NAT; all of 127/8 reaches lo): the real
// sora-js-sdk in Chromium is offered that address only and decodes media both ways.

const ANNOUNCED = "127.0.0.3";
const ctx = nodeAndBrowser({ iceAddresses: [], udpPort: 0, announcedAddress: ANNOUNCED });

async function framesDecoded(page: SoraPage, id: number, from: string): Promise<number> {
  return (await page.inbound(id))[from]?.framesDecoded ?? 0;
}

it("Chromium sendrecv pair through the shared port and the announced address", async () => {
  const mux = ctx.node.udpMux!;
  expect(mux.socket.address().address).toBe("0.0.0.0");
  const channelId = `mux-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  const a = await page.start({ url: ctx.url, channelId, role: "sendrecv" });
  const b = await page.start({ url: ctx.url, channelId, role: "sendrecv" });
  for (const h of [a, b]) expect(h.error).toBeNull();
  for (const h of [a, b]) {
    const candidates = await page.page.evaluate((id) => (window as unknown as { offerCandidates(id: number): string[] }).offerCandidates(id), h.id);
    expect(candidates.length).toBeGreaterThan(0);
    for (const line of candidates) {
      const f = line.split(" ");
      expect([f[2]?.toLowerCase(), f[4], f[5], f[7]]).toEqual(["udp", ANNOUNCED, String(mux.port), "host"]);
    }
  }
  await waitFor("A decodes B", async () => (await framesDecoded(page, a.id, b.connectionId!)) >= 10);
  await waitFor("B decodes A", async () => (await framesDecoded(page, b.id, a.connectionId!)) >= 10);
  expect(mux.size).toBe(2);
  await page.disconnect(a.id);
  await page.disconnect(b.id);
  await waitFor("mux entries released", async () => mux.size === 0);
  expect(mux.addressCount).toBe(0);
  await page.page.close();
});
