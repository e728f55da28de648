import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrowserHarness, waitFor, type SoraPage } from "../browser/harness.js";

type Widths = Record<string, { frameWidth: number; framesDecoded: number }>;
const widthsOf = (page: SoraPage, id: number) => page.page.evaluate((i) => (window as unknown as { widthsByStream(i: number): Promise<Widths> }).widthsByStream(i), id);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// 960×540 is the smallest size at which Chromium sends three layers: r0 240, r1 480, r2 960 wide.
const WIDTH = { r0: 240, r1: 480, r2: 960 } as const;
import { startEdge, startNode, until, type EdgeProcess, type NodeProcess } from "./processes.js";

// Cluster relay end to end (issue 15, docs/relay.md): wrangler dev with CHANNEL_AFFINITY=false and
// three real media nodes. Real sora-js-sdk clients in Chromium reach three different nodes'
// signaling URLs for one channel; each is served where it connected (no redirect), the channel
// lists all three nodes as owners, and every client decodes every sender over the relay. Killing
// one node leaves the others' clients decoding and announces its clients' departure.

let edge: EdgeProcess;
let a: NodeProcess;
let b: NodeProcess;
let c: NodeProcess;
let browser: BrowserHarness;

beforeAll(async () => {
  edge = await startEdge({ vars: { CHANNEL_AFFINITY: "false" } });
  [a, b, c] = [await startNode(edge), await startNode(edge), await startNode(edge)];
  browser = await BrowserHarness.start();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const n of [a, b, c]) await n?.stop();
  await edge?.stop();
}, 60_000);

const owners = (channelId: string) => edge.channelOwners(channelId);

/**
 * The two nodes that do not serve the channel's first client. That client may be placed by load
 * (the nodes still report an earlier test's connections for up to 2 s), so tests see where it
 * went and reach the other two.
 */
async function otherNodes(channelId: string): Promise<[NodeProcess, NodeProcess]> {
  const first = await until("first owner", async () => {
    const o = await owners(channelId);
    return o.length === 1 ? o[0] : undefined;
  }, 15_000, 100);
  return [a, b, c].filter((n) => n.nodeName !== first) as [NodeProcess, NodeProcess];
}

describe("a channel spanning three nodes (affinity off)", () => {
  it("applies the edge's calls across nodes: rid requests, pause/resume, metadata push, messaging", async () => {
    const channelId = `relay-calls-${Math.random().toString(36).slice(2)}`;
    const label = "#relay";
    const page = await browser.newPage();
    const sender = await page.start({
      url: a.signalingUrl,
      channelId,
      role: "sendrecv",
      options: { simulcast: true, videoCodecType: "VP8", dataChannelSignaling: true, dataChannels: [{ label, direction: "sendrecv" }] },
      video: { width: 960, height: 540 },
    });
    expect(sender.error).toBeNull();
    const [other] = await otherNodes(channelId);
    const viewer = await page.start({
      url: other.signalingUrl,
      channelId,
      role: "recvonly",
      options: { simulcast: true, simulcastRid: "r0", dataChannelSignaling: true, dataChannels: [{ label, direction: "sendrecv" }] },
    });
    expect(viewer.error).toBeNull();
    const S = sender.connectionId!;
    const V = viewer.connectionId!;
    await until("two owners", async () => (await owners(channelId)).length === 2, 15_000, 250);
    // The edge learns of a connection from its node's report, which may wait out the node's batch
    // window and the edge's per-channel hold (docs/edge.md): the API calls below name both, so
    // wait until the edge lists both, and say what it listed if it never does.
    let listed: string[] = [];
    try {
      await until("the edge lists both connections", async () => {
        listed = ((await edge.ok("Sora_20201013.ListChannelConnections", { channel_id: channelId })) as { connection_id: string }[]).map((c) => c.connection_id);
        return listed.includes(S) && listed.includes(V);
      }, 15_000, 100);
    } catch (err) {
      console.log(`edge lists ${JSON.stringify(listed)}; sender ${S}, viewer ${V}`);
      throw err;
    }

    // Simulcast: the viewer on B starts at r0 of A's sender, then RequestRtpStream (edge → every
    // serving node) moves it to r2, served from the relayed r2 layer.
    const width = async (step: string, wanted: number) => {
      const before = await widthsOf(page, viewer.id);
      await waitFor(`${step}: width ${wanted}`, async () => {
        const now = (await widthsOf(page, viewer.id))[S];
        return now?.frameWidth === wanted && now.framesDecoded > (before[S]?.framesDecoded ?? 0) + 3;
      }, 20_000, 100);
    };
    await width("connect-time r0", WIDTH.r0);
    await edge.ok("Sora_20201005.RequestRtpStream", { channel_id: channelId, recv_connection_id: V, send_connection_id: S, rid: "r2" });
    await width("after RequestRtpStream r2", WIDTH.r2);

    // Pause on B's viewer of A's sender, then resume.
    const pair = { channel_id: channelId, recv_connection_id: V, send_connection_id: S };
    await edge.ok("Sora_20200401.PauseRtpStream", pair);
    await sleep(500);
    const pausedAt = (await page.inboundVideo(viewer.id))?.packetsReceived ?? 0;
    await sleep(1500);
    expect((await page.inboundVideo(viewer.id))?.packetsReceived ?? 0).toBe(pausedAt);
    await edge.ok("Sora_20200401.ResumeRtpStream", pair);
    const framesAt = (await page.inboundVideo(viewer.id))?.framesDecoded ?? 0;
    await waitFor("frames after resume", async () => ((await page.inboundVideo(viewer.id))?.framesDecoded ?? 0) > framesAt + 5, 10_000, 100);

    // Metadata push of A's connection reaches B's client once.
    await edge.ok("Sora_20201124.PutSignalingNotifyMetadata", { channel_id: channelId, connection_id: S, metadata: { hand: "up" }, push: true });
    await waitFor("push at the viewer", async () => (await page.state(viewer.id)).pushes.length > 0, 10_000, 100);
    await sleep(500);
    const pushes = (await page.state(viewer.id)).pushes as { data?: { metadata?: unknown } }[];
    expect(pushes).toHaveLength(1);
    expect(JSON.stringify(pushes[0])).toContain('"hand":"up"');

    // Messaging both ways between a client on A and one on B.
    // sora-js-sdk raises `datachannel` for the `#` labels when `switched` arrives. A clean-clone
    // run had the viewer take `switched` while still applying a re-offer (B's relayed tracks),
    // before Chrome had handed it its DataChannels: the node now holds `switched` until the
    // re-offer is answered (signaling/switch-readiness.ts). If it ever times out, the error says
    // what each client had.
    try {
      await waitFor(
        "datachannels",
        async () => (await page.messaging(sender.id)).dataChannels.includes(label) && (await page.messaging(viewer.id)).dataChannels.includes(label),
        40_000,
      );
    } catch (err) {
      // In the error itself: CI shows the failure summary, not always the test's output.
      const states: string[] = [];
      for (const [name, h] of [["sender", sender], ["viewer", viewer]] as const) {
        const st = await page.state(h.id);
        states.push(`${name}: switched ${st.switched}, ws open ${st.wsOpen}, datachannels ${JSON.stringify((await page.messaging(h.id)).dataChannels)}, signaling ${JSON.stringify(st.sequence.slice(-12))}`);
      }
      throw new Error(`${(err as Error).message}\n${states.join("\n")}`);
    }
    await page.sendMessage(sender.id, label, "from A");
    await waitFor("B's client gets A's message", async () => (await page.messaging(viewer.id)).messages.some((m) => m.text === "from A"));
    await page.sendMessage(viewer.id, label, "from B");
    await waitFor("A's client gets B's message", async () => (await page.messaging(sender.id)).messages.some((m) => m.text === "from B"));
    await page.page.close();
  }, 180_000);

  it("spotlight across nodes: the viewer's node ranks senders of other nodes by their relayed audio level", async () => {
    const channelId = `relay-spot-${Math.random().toString(36).slice(2)}`;
    const page = await browser.newPage();
    const spotlight = { spotlight: true, spotlightNumber: 1, videoCodecType: "VP8" };
    const video = { width: 1280, height: 720, frameRate: 15 };
    // One sender on A, one on B; the viewer on C sees both only through the relay.
    const onA = await page.start({ url: a.signalingUrl, channelId, role: "sendonly", options: spotlight, video });
    expect(onA.error).toBeNull();
    const [second, third] = await otherNodes(channelId);
    const onB = await page.start({ url: second.signalingUrl, channelId, role: "sendonly", options: spotlight, video });
    expect(onB.error).toBeNull();
    await page.setAudioEnabled(onB.id, false); // A's sender talks (Chrome's fake microphone beeps), B's is muted
    const viewer = await page.start({
      url: third.signalingUrl,
      channelId,
      role: "recvonly",
      options: { spotlight: true, spotlightNumber: 1, spotlightFocusRid: "r2", spotlightUnfocusRid: "r0" },
    });
    expect(viewer.error).toBeNull();
    await until("three owners", async () => (await owners(channelId)).length === 3, 15_000, 250);
    const A = onA.connectionId!;
    const B = onB.connectionId!;
    const widths = async () => {
      const per = await page.inbound(viewer.id);
      return Object.fromEntries(Object.entries(per).map(([k, v]) => [k, v.framesDecoded > 0 ? v.frameWidth : 0]));
    };
    const expectFocus = (focused: string, unfocused: string, what: string) =>
      waitFor(what, async () => {
        const w = await widths();
        return w[focused] === 1280 && w[unfocused] === 320 ? w : false;
      }, 30_000);
    await expectFocus(A, B, "A's talking sender at r2, B's muted one at r0");
    // The talker changes: focus follows the audio level B's relay leg carries to C.
    await page.setAudioEnabled(onA.id, false);
    await page.setAudioEnabled(onB.id, true);
    await expectFocus(B, A, "focus moved to B's sender");
    const notifies = (await page.state(viewer.id)).notifies;
    expect(notifies.some((n) => n.event_type === "spotlight.focused" && n.connection_id === B)).toBe(true);
    await page.page.close();
  }, 180_000);

  it("serves each client at the node it reached, and every client decodes every sender across nodes", async () => {
    const channelId = `relay-${Math.random().toString(36).slice(2)}`;
    const page = await browser.newPage();
    const onA = await page.start({ url: a.signalingUrl, channelId, role: "sendrecv" });
    expect(onA.error).toBeNull();
    const [nodeB, nodeC] = await otherNodes(channelId);
    const nodeA = [a, b, c].find((n) => n !== nodeB && n !== nodeC)!;
    const onB = await page.start({ url: nodeB.signalingUrl, channelId, role: "sendrecv" });
    expect(onB.error).toBeNull();
    const onC = await page.start({ url: nodeC.signalingUrl, channelId, role: "recvonly" });
    expect(onC.error).toBeNull();
    const A = onA.connectionId!;
    const B = onB.connectionId!;

    // Not redirected: each of B and C is served by the node it reached (affinity off), so the
    // channel lists all three nodes.
    await until("three owners", async () => (await owners(channelId)).length === 3, 15_000, 250);
    expect(await owners(channelId)).toEqual([a.nodeName, b.nodeName, c.nodeName].sort());

    await waitFor("A decodes B (B → relay → A)", () => page.decodes(onA.id, [B]), 30_000);
    await waitFor("B decodes A (A → relay → B)", () => page.decodes(onB.id, [A]), 30_000);
    await waitFor("C decodes A and B", () => page.decodes(onC.id, [A, B]), 30_000);

    // Notifies cross nodes: C's node joined a session live on A's and B's nodes and learnt their
    // connections over the relay before offering C, so C's own connection.created counts and lists them.
    const cState = await page.state(onC.id);
    const self = cState.notifies.find((n) => n.event_type === "connection.created" && n.connection_id === onC.connectionId);
    expect(self?.channel_connections).toBe(3);
    expect((self?.data as { connection_id: string }[]).map((d) => d.connection_id).sort()).toEqual([A, B].sort());

    // Each connection is counted once, on its own node.
    const connections: { connection_id: string }[] = await edge.ok("Sora_20201013.ListChannelConnections", { channel_id: channelId });
    expect(connections.map((x) => x.connection_id).sort()).toEqual([A, B, onC.connectionId!].sort());

    // Killing C's node (it only relays to its own client) leaves A and B decoding each other.
    await nodeC.stop("SIGKILL");
    const before = (await page.inbound(onB.id))[A]?.framesDecoded ?? 0;
    await waitFor("B keeps decoding A after C's node died", async () => ((await page.inbound(onB.id))[A]?.framesDecoded ?? 0) > before + 30, 20_000);
    await until("C's node is no longer an owner", async () => !(await owners(channelId)).includes(nodeC.nodeName), 20_000, 250);

    // Killing A's node (the publisher's) tells B's client that A's connection is gone.
    await nodeA.stop("SIGKILL");
    await waitFor("B sees connection.destroyed for A", async () => {
      const s = await page.state(onB.id);
      return s.notifies.some((n) => n.event_type === "connection.destroyed" && n.connection_id === A);
    }, 20_000);
    await page.page.close();
  }, 180_000);
});
