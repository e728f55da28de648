import { expect, it } from "vitest";
import { MediaNode } from "../../media-node/src/media-node.js";
import { nodeAndBrowser, waitFor, type SoraPage } from "./harness.js";

// A media node on one UDP port for all ICE (transport/udp-mux.ts), bound on 0.0.0.0 and
// announcing 127.0.0.3 (the "public" address of a 1:1 NAT; all of 127/8 reaches lo): the real
// sora-js-sdk in Chromium is offered that address only and decodes media both ways.

const ANNOUNCED = "127.0.0.3";
// Full ICE: on loopback nothing rewrites the replies of a socket bound on 0.0.0.0 (they leave from
// 127.0.0.1) to the announced 127.0.0.3, so a lite node's answers to Chrome's checks would come
// from an address Chrome did not send to and be ignored; a full node gets through with its own
// checks (peer-reflexive). Behind a real 1:1 NAT the NAT rewrites them (ICE-lite below).
const ctx = nodeAndBrowser({ iceAddresses: [], udpPort: 0, announcedAddress: ANNOUNCED, iceLite: false });

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

it("Chromium sendrecv pair through an ICE-lite node's shared port", async () => {
  const node = new MediaNode({ port: 0, iceAddresses: ["127.0.0.1"], udpPort: 0 });
  await node.start();
  const page = await ctx.browser.newPage();
  try {
    const url = `ws://127.0.0.1:${node.port}/signaling`;
    const channelId = `mux-lite-${Math.random().toString(36).slice(2)}`;
    const a = await page.start({ url, channelId, role: "sendrecv" });
    const b = await page.start({ url, channelId, role: "sendrecv" });
    for (const h of [a, b]) expect(h.error).toBeNull();
    await waitFor("A decodes B", async () => (await framesDecoded(page, a.id, b.connectionId!)) >= 10);
    await waitFor("B decodes A", async () => (await framesDecoded(page, b.id, a.connectionId!)) >= 10);
    // Lite: the node answered Chrome's checks and sent none of its own.
    for (const conn of node.sfu.channels.get(channelId)!.connections.values()) {
      const ice = (conn.peer.pc as unknown as { iceTransports: { connection: { iceLite: boolean; checkList: { requestsSent: number }[] } }[] }).iceTransports[0]!.connection;
      expect(ice.iceLite).toBe(true);
      expect(ice.checkList.reduce((n, p) => n + p.requestsSent, 0)).toBe(0);
    }
    await page.disconnect(a.id);
    await page.disconnect(b.id);
    await waitFor("mux entries released", async () => node.udpMux!.size === 0);
  } finally {
    await page.page.close();
    await node.stop();
  }
});
