import { afterAll, beforeAll, expect, it } from "vitest";
import { BrowserHarness, waitFor } from "../browser/harness.js";
import { startEdge, startNode, until, type EdgeProcess, type NodeProcess } from "./processes.js";

// Cluster relay with affinity on (the default, docs/relay.md): a channel stays on its node while
// that node has room; once it is at its max_connections, new clients are served by another node
// and relayed. Wrangler dev, node A capped at one connection, nodes B and C uncapped, real
// sora-js-sdk clients in Chromium.

let edge: EdgeProcess;
let a: NodeProcess;
let b: NodeProcess;
let c: NodeProcess;
let browser: BrowserHarness;

beforeAll(async () => {
  edge = await startEdge();
  a = await startNode(edge, { args: ["--max-connections", "1"] });
  b = await startNode(edge);
  c = await startNode(edge);
  browser = await BrowserHarness.start();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const n of [a, b, c]) await n?.stop();
  await edge?.stop();
}, 60_000);

const owners = (channelId: string) => edge.channelOwners(channelId);

it("keeps the channel on its node while it has room, then relays to the node that has room", async () => {
  const channelId = `affinity-${Math.random().toString(36).slice(2)}`;
  const page = await browser.newPage();
  // A (max 1) takes the channel's first client and is then full.
  const publisher = await page.start({ url: a.signalingUrl, channelId, role: "sendrecv" });
  expect(publisher.error).toBeNull();
  const P = publisher.connectionId!;
  expect(await until("A owns the channel", async () => ((await owners(channelId)).length === 1 ? owners(channelId) : undefined), 15_000, 100)).toEqual([a.nodeName]);

  // A client reaching B: the serving node is full, so a node with room serves it — B itself, or
  // (when the edge still saw A with room and sent the client to A, which then said it is full)
  // the least loaded of B and C.
  const second = await page.start({ url: b.signalingUrl, channelId, role: "recvonly" });
  expect(second.error).toBeNull();
  const both = await until("two nodes serve the channel", async () => {
    const o = await owners(channelId);
    return o.length === 2 ? o : undefined;
  }, 15_000, 250);
  expect(both!).toContain(a.nodeName);
  const relayNode = [b, c].find((n) => both!.includes(n.nodeName))!;
  const idleNode = [b, c].find((n) => n !== relayNode)!;
  await waitFor("the second client decodes A's publisher", () => page.decodes(second.id, [P]), 30_000);

  // A client reaching the idle node: affinity keeps the channel on the nodes serving it while one
  // has room, so it is redirected there and the idle node never serves the channel.
  const third = await page.start({ url: idleNode.signalingUrl, channelId, role: "recvonly" });
  expect(third.error).toBeNull();
  await waitFor("the redirected client decodes A's publisher", () => page.decodes(third.id, [P]), 30_000);
  expect(await owners(channelId)).toEqual([a.nodeName, relayNode.nodeName].sort());
  const listed: { connection_id: string }[] = await edge.ok("Sora_20201013.ListChannelConnections", { channel_id: channelId });
  expect(listed).toHaveLength(3);
  await page.page.close();
}, 180_000);
