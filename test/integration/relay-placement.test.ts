import { afterAll, beforeAll, expect, it } from "vitest";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { startEdge, startNode, until, type EdgeProcess, type NodeProcess } from "./processes.js";

// A channel that spans nodes (cluster relay, docs/relay.md), placement end to end: wrangler dev
// with CHANNEL_AFFINITY=false and two real nodes. A client that reaches node B for a channel live
// on node A is served at B (not redirected), B joins A's session (the `place` answer's
// session_id), and ListClusterChannels lists both nodes. One edge and two nodes for both steps.

let edge: EdgeProcess;
let a: NodeProcess;
let b: NodeProcess;
const clients: WeriftSoraClient[] = [];

beforeAll(async () => {
  edge = await startEdge({ vars: { CHANNEL_AFFINITY: "false" } });
  a = await startNode(edge);
  b = await startNode(edge);
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const n of [a, b]) await n?.stop();
  await edge?.stop();
}, 60_000);

async function connect(url: string, channelId: string): Promise<WeriftSoraClient> {
  const client = new WeriftSoraClient({ url, channelId, role: "sendrecv" });
  clients.push(client);
  await client.connect();
  return client;
}

it("affinity off: a client reaching B for a channel live on A is served at B, not redirected", async () => {
  const first = await connect(a.signalingUrl, "relay-1");
  expect(first.redirects).toEqual([]);
  await until("live on A", async () => (await edge.ok("Sora_20211215.ListClusterChannels")).length === 1, 10_000, 100);
  const second = await connect(b.signalingUrl, "relay-1");
  expect(second.redirects).toEqual([]);
}, 60_000);

// The node answered `session_id` by `place` joins that session instead of starting its own.
it("B joins A's session: ListClusterChannels lists both nodes, ListConnections each connection once", async () => {
  const owners = await until(
    "both nodes serve relay-1",
    async () => {
      const channels = await edge.ok("Sora_20211215.ListClusterChannels");
      const owners = channels.find((c: any) => c.channel_id === "relay-1")?.owners ?? [];
      return owners.length === 2 ? owners : undefined;
    },
    10_000,
    100,
  );
  expect(owners.map((o: any) => o.node_name).sort()).toEqual([a.nodeName, b.nodeName].sort());
  expect(owners.every((o: any) => o.connected)).toBe(true);
  expect((await edge.ok("Sora_20201013.ListChannels")).map((c: any) => c.channel_id)).toEqual(["relay-1"]);
  // Connection reports reach the ChannelObject in batches (held up to CHANNEL_REPORT_HOLD_MS).
  await until("both connections listed", async () => (await edge.ok("Sora_20201013.ListConnections")).length === 2, 5_000, 100);
  await new Promise((r) => setTimeout(r, 300));
  expect((await edge.ok("Sora_20201013.ListConnections")).length).toBe(2);
}, 60_000);
