// `npm run devtools:screenshot`: writes docs/devtools.png (the README's picture of the devtools
// page). Starts its own edge and media node on free ports, connects two tabs to one channel
// (client ids alice and bob, Chromium's fake camera) and photographs alice's tab once the charts
// have some history.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connect, framesDecodedFrom, launchChromium, openDevtools } from "../test/integration/devtools-driver.js";
import { startEdge, startNode, until } from "../test/integration/processes.js";

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../docs/devtools.png");
const CHART_HISTORY_MS = 15_000;

const edge = await startEdge();
const node = await startNode(edge).catch(async (err) => {
  await edge.stop();
  throw err;
});
const browser = await launchChromium();
try {
  const channelId = "my-channel";
  const alice = await openDevtools(browser, edge.url, { width: 1440, height: 640 });
  const bob = await openDevtools(browser, edge.url);
  const aliceId = await connect(alice, { channelId, clientId: "alice" });
  const bobId = await connect(bob, { channelId, clientId: "bob" });
  await until("alice decodes bob", async () => (await framesDecodedFrom(alice, bobId)) > 30, 30_000, 250);
  await until("bob decodes alice", async () => (await framesDecodedFrom(bob, aliceId)) > 30, 30_000, 250);
  await new Promise((r) => setTimeout(r, CHART_HISTORY_MS));
  await alice.screenshot({ path: OUT });
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
} finally {
  await browser.close().catch(() => undefined);
  await node.stop();
  await edge.stop();
}
