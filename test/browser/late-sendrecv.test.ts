import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { turnConfig } from "../../media-node/src/config.js";
import { MediaNode } from "../../media-node/src/media-node.js";
import { BrowserHarness, freePort, waitFor, type ClientHandle, type SoraPage } from "./harness.js";

// Late sendrecv joiners must decode every other sender. A sendrecv client's PLIs carry its own
// upload SSRC as sender SSRC; werift routed them to the receiver of that upload, so no keyframe
// request reached the publisher, and a joiner whose DTLS came up after the publisher's last
// keyframe (packets before that are dropped) decoded nothing, for good. Fixed by routing RTCP
// feedback by media SSRC and by subscriptions asking for a keyframe until one is forwarded.
// Two senders first, two sendrecv joiners later: directly, and relayed over TURN/TCP (coturn).

const SECRET = "late-sendrecv-turn-secret-0123456789";

let node: MediaNode;
let browser: BrowserHarness;
let url: string;

beforeAll(async () => {
  node = new MediaNode({
    port: 0,
    turn: turnConfig({ sharedSecret: SECRET, listenIp: "127.0.0.1", listenPort: await freePort(), minPort: 49_600, maxPort: 49_699, allowLoopbackPeers: true }),
  });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
  browser = await BrowserHarness.start();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

const VIDEO = { width: 320, height: 180 };

/** Starts a sendrecv client; if it does not come up in 70 s (the SDK's own timeout is 60 s), says what the node saw. */
async function start(page: SoraPage, channelId: string, relayTcp: boolean): Promise<ClientHandle> {
  const args = { url, channelId, role: "sendrecv", video: VIDEO, rtcConfig: relayTcp ? { iceTransportPolicy: "relay", turnTransport: "tcp" } : null };
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const conns = [...(node.sfu.channels.get(channelId)?.connections.values() ?? [])].map((c) => ({
        id: c.id,
        connected: c.connected,
        pc: c.peer?.pc.connectionState,
        ice: c.peer?.pc.iceConnectionState,
        dtls: c.peer?.pc.dtlsTransports.map((t) => t.state),
      }));
      reject(new Error(`client did not start within 70 s; node connections: ${JSON.stringify(conns)}`));
    }, 70_000);
  });
  try {
    return await Promise.race([page.page.evaluate((a) => (window as unknown as { startClient(a: unknown): Promise<ClientHandle> }).startClient(a), args), stuck]);
  } finally {
    clearTimeout(timer);
  }
}

async function decodesAll(page: SoraPage, id: number, from: string[]): Promise<boolean> {
  const stats = await page.inbound(id);
  return from.every((cid) => (stats[cid]?.framesDecoded ?? 0) >= 10);
}

describe.each([
  { name: "directly", relayTcp: false },
  { name: "over TURN/TCP", relayTcp: true },
])("sendrecv clients joining late, $name", ({ relayTcp }) => {
  it("decode every other sender, and are decoded by them", async () => {
    const channelId = `late-${relayTcp ? "tcp" : "direct"}-${Math.random().toString(36).slice(2)}`;
    const page = await browser.newPage();
    const a = await start(page, channelId, false);
    const b = await start(page, channelId, false);
    for (const h of [a, b]) expect(h.error).toBeNull();
    await waitFor("the first two decode each other", async () => (await decodesAll(page, a.id, [b.connectionId!])) && decodesAll(page, b.id, [a.connectionId!]));
    // Let the senders' start-up keyframes pass: a joiner then depends on asking for one.
    await new Promise((r) => setTimeout(r, 2000));
    const c = await start(page, channelId, relayTcp);
    const d = await start(page, channelId, relayTcp);
    for (const h of [c, d]) expect(h.error).toBeNull();
    if (relayTcp) {
      const pair = await page.page.evaluate((i) => (window as unknown as { selectedCandidatePair(i: number): Promise<{ localType: string; relayProtocol: string | null } | null> }).selectedCandidatePair(i), c.id);
      expect(pair).toMatchObject({ localType: "relay", relayProtocol: "tcp" });
    }
    const all = [a, b, c, d];
    for (const h of all) {
      const others = all.filter((o) => o !== h).map((o) => o.connectionId!);
      await waitFor(`client ${h.id} decodes ${others.join(", ")}`, () => decodesAll(page, h.id, others), 20_000).catch(async (err: Error) => {
        const conn = node.sfu.findConnection(channelId, h.connectionId!);
        const subs = conn ? [...conn.subscriptions.values()].map((s) => ({ from: s.publication.connectionId, kind: s.publication.kind, sent: s.packetsSent })) : "gone";
        throw new Error(`${err.message}; inbound ${JSON.stringify(await page.inbound(h.id))}; node subscriptions ${JSON.stringify(subs)}`);
      });
    }
    await page.page.close();
  }, 180_000);
});
