import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildDevtools, connect, framesDecodedFrom, launchChromium, openDevtools, remoteVideoWidth } from "./devtools-driver.js";
import { startEdge, startNode, until, type EdgeProcess, type NodeProcess } from "./processes.js";

// The devtools page end to end: served by the edge (wrangler dev, Workers assets), two tabs
// connect through the edge's /signaling redirect with the real sora-js-sdk, each decodes the
// other's video; the admin view (HTTP API) lists both, its Pause button stops one direction (and
// Resume restarts it), Push reaches the other tab and Disconnect ends it.

const SCREENSHOT = path.resolve(import.meta.dirname, "../../tmp/devtools-integration.png");

let edge: EdgeProcess;
let node: NodeProcess;
let browser: Browser;

beforeAll(async () => {
  buildDevtools();
  edge = await startEdge();
  node = await startNode(edge);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await node?.stop();
  await edge?.stop();
}, 60_000);

const rising = async (page: Page, senderId: string, windowMs: number): Promise<number> => {
  const before = await framesDecodedFrom(page, senderId);
  await new Promise((r) => setTimeout(r, windowMs));
  return (await framesDecodedFrom(page, senderId)) - before;
};

it("connects two tabs, shows each other's video, lists them, pauses one direction, pushes and disconnects", async () => {
  const channelId = "devtools-e2e";
  const alice = await openDevtools(browser, edge.url);
  const bob = await openDevtools(browser, edge.url);
  const aliceId = await connect(alice, { channelId, clientId: "alice" });
  const bobId = await connect(bob, { channelId, clientId: "bob" });

  // Each tab decodes the other's video (the page's getStats() numbers and its <video> element).
  await until("bob decodes alice", async () => (await framesDecodedFrom(bob, aliceId)) > 30, 30_000, 250);
  await until("alice decodes bob", async () => (await framesDecodedFrom(alice, bobId)) > 30, 30_000, 250);
  expect(await remoteVideoWidth(bob, aliceId)).toBeGreaterThan(0);
  expect(await remoteVideoWidth(alice, bobId)).toBeGreaterThan(0);

  // The admin view lists both connections with their client ids and the node.
  const channel = alice.locator(`section.channel[data-channel-id="${channelId}"]`);
  for (const [id, clientId] of [
    [aliceId, "alice"],
    [bobId, "bob"],
  ] as const) {
    const row = channel.locator(`tr[data-connection-id="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.innerText()).toContain(clientId);
    expect(await row.innerText()).toContain(node.nodeName);
  }

  // Pause alice → bob (bob receives, alice sends) from alice's admin view.
  await channel.locator("select[name=recv]").selectOption(bobId);
  await channel.locator("select[name=send]").selectOption(aliceId);
  await channel.locator("button[name=pause]").click();
  await until("the edge holds the pause", async () => {
    const paused = await edge.ok("Sora_20200401.ListPauseRtpStreams", { channel_id: channelId });
    return paused.some((p: any) => p.recv_connection_id === bobId && p.send_connection_id === aliceId);
  });
  await channel.locator(".paused .pill").waitFor({ timeout: 10_000 });
  // Frames in flight drain within a sampling period or two; then bob's count of alice stands still
  // while alice still decodes bob.
  await until("bob stops decoding alice", async () => (await rising(bob, aliceId, 2500)) === 0, 20_000, 0);
  expect(await rising(bob, aliceId, 3000)).toBe(0);
  expect(await rising(alice, bobId, 3000)).toBeGreaterThan(10);

  // Resume brings it back.
  await channel.locator("button[name=resume]").click();
  await until("bob decodes alice again", async () => (await rising(bob, aliceId, 2000)) > 10, 20_000, 0);

  mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await alice.screenshot({ path: SCREENSHOT, fullPage: true });

  // Push from the cluster view reaches bob's client (its event log).
  await channel.locator("select[name=target]").selectOption(bobId);
  await channel.locator("textarea[name=metadata]").fill('{"greeting": "hi bob"}');
  await channel.locator("button[name=push]").click();
  await until("bob logs the push", async () => (await bob.locator("article.client details.log").textContent())?.includes('push {"greeting":"hi bob"}'), 10_000);

  // DisconnectConnection ends bob's connection: his card closes and the cluster view drops him.
  await channel.locator(`tr[data-connection-id="${bobId}"] button[name=disconnect-connection]`).click();
  await bob.locator('article.client[data-state="closed"]').waitFor({ timeout: 15_000 });
  await channel.locator(`tr[data-connection-id="${bobId}"]`).waitFor({ state: "detached", timeout: 15_000 });
  expect(await channel.locator("tr[data-connection-id]").count()).toBe(1);
}, 120_000);
