import WebSocket from "ws";
import { afterAll, beforeAll, expect, it } from "vitest";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { startEdge, startNode, until, type EdgeProcess, type NodeProcess } from "./processes.js";

// Load-aware placement end to end: wrangler dev (one NodeObject per node) and three real nodes
// with different `max_connections`. New channels go to the node with the lowest connections /
// max_connections (as the nodes report it every 2 s); a full node sends new sessions elsewhere
// and refuses joins; a SIGKILLed node is shown disconnected within 10 s; an edge restart keeps it all.

let edge: EdgeProcess;
let small: NodeProcess; // max 2
let medium: NodeProcess; // max 4
let large: NodeProcess; // max 100
const clients: WeriftSoraClient[] = [];

beforeAll(async () => {
  edge = await startEdge();
  small = await startNode(edge, { args: ["--max-connections", "2"] });
  medium = await startNode(edge, { args: ["--max-connections", "4"] });
  large = await startNode(edge, { args: ["--max-connections", "100"] });
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const n of [small, medium, large]) await n?.stop();
  await edge?.stop();
}, 60_000);

/** Where the edge's /signaling sends a new channel now (no claim is made). */
async function edgeChoice(channelId: string): Promise<string | null> {
  const ws = new WebSocket(`ws://127.0.0.1:${edge.port}/signaling`);
  await new Promise((r, j) => ws.once("open", r).once("error", j));
  let location: string | null = null;
  ws.on("message", (d) => {
    location = (JSON.parse(d.toString()) as { location?: string }).location ?? null;
  });
  const closed = new Promise((r) => ws.once("close", r));
  ws.send(JSON.stringify({ type: "connect", role: "recvonly", channel_id: channelId }));
  await closed;
  return location;
}

/** A raw connect for a new channel at `node`: the redirect location, or null when the node took it (then closed). */
async function nodeChoice(node: NodeProcess, channelId: string): Promise<string | null> {
  const ws = new WebSocket(node.signalingUrl);
  await new Promise((r, j) => ws.once("open", r).once("error", j));
  const first = new Promise<{ type?: string; location?: string }>((r) => ws.once("message", (d) => r(JSON.parse(d.toString()))));
  ws.send(JSON.stringify({ type: "connect", role: "recvonly", channel_id: channelId }));
  const message = await first;
  ws.close();
  return message.type === "redirect" ? (message.location ?? null) : null;
}

async function connect(url: string, channelId: string, role: "sendrecv" | "recvonly" = "sendrecv"): Promise<WeriftSoraClient> {
  const client = new WeriftSoraClient({ url, channelId, role });
  clients.push(client);
  await client.connect();
  return client;
}

it("shows each node's max_connections as its license_max_connections", async () => {
  const nodes = await edge.ok("Sora_20211215.ListClusterNodes");
  const cap = (n: NodeProcess) => nodes.find((e: any) => e.node_name === n.nodeName)?.license_max_connections;
  expect([cap(small), cap(medium), cap(large)]).toEqual([2, 4, 100]);
});

it("spreads new channels by load: a node with a connection sends the next new channel to an idle one", async () => {
  const first = await connect(small.signalingUrl, "spread-1");
  expect(first.redirects).toEqual([]); // all idle: the node the client reached keeps it
  // small now reports 1 of 2 (0.5): once its report is in, a new channel reaching small goes elsewhere.
  let probe = 0;
  await until("small redirects new channels", async () => (await nodeChoice(small, `probe-${probe++}`)) !== null, 15_000, 250);
  const second = await connect(small.signalingUrl, "spread-2");
  expect(second.redirects).toHaveLength(1);
  expect(second.redirects[0]).not.toBe(small.signalingUrl);
}, 60_000);

it("a full node redirects new sessions, and joins past its max_connections to a node with room (relay)", async () => {
  await connect(small.signalingUrl, "spread-1", "recvonly"); // small: 2 of 2
  // The channel's node is full: the join is placed on a node with room, which joins the session
  // and relays it (docs/relay.md), instead of being refused as before the relay.
  const relayed = await connect(small.signalingUrl, "spread-1", "recvonly");
  expect(relayed.redirects).toHaveLength(1);
  expect(relayed.redirects[0]).not.toBe(small.signalingUrl);
  const owners = await until("spread-1 on two nodes", async () => {
    const o = (await edge.ok("Sora_20211215.ListClusterChannels")).find((c: any) => c.channel_id === "spread-1")?.owners ?? [];
    return o.length === 2 ? o : undefined;
  }, 10_000, 100);
  expect(owners.map((o: any) => o.node_name)).toContain(small.nodeName);
  const elsewhere = await connect(small.signalingUrl, "after-full");
  expect(elsewhere.redirects).toHaveLength(1);
  expect(elsewhere.redirects[0]).not.toBe(small.signalingUrl);
}, 60_000);

it("shows a SIGKILLed node as disconnected within 10 s", async () => {
  const killedAt = Date.now();
  large.signal("SIGKILL");
  await until(
    "connected: false",
    async () => (await edge.ok("Sora_20211215.ListClusterNodes", { include_all_known_nodes: true })).some((n: any) => n.node_name === large.nodeName && n.connected === false),
    10_000,
    200,
  );
  console.log(`killed node shown disconnected after ${Date.now() - killedAt} ms`);
}, 30_000);

it("keeps membership, caps and channels across an edge restart", async () => {
  const channelsBefore = (await edge.ok("Sora_20211215.ListClusterChannels")).map((c: any) => c.channel_id).sort();
  const { port, persistDir } = edge;
  await edge.stop();
  edge = await startEdge({ port, persistDir });
  await until(
    "small and medium linked again",
    async () => {
      const nodes = await edge.ok("Sora_20211215.ListClusterNodes", { include_all_known_nodes: true });
      return [small, medium].every((n) => nodes.some((e: any) => e.node_name === n.nodeName && e.connected));
    },
    20_000,
    250,
  );
  const nodes = await edge.ok("Sora_20211215.ListClusterNodes", { include_all_known_nodes: true });
  expect(nodes.find((n: any) => n.node_name === large.nodeName)).toMatchObject({ connected: false });
  const channelsAfter = (await edge.ok("Sora_20211215.ListClusterChannels")).map((c: any) => c.channel_id).sort();
  expect(channelsAfter).toEqual(channelsBefore);
  // Placement still knows small is full (its hello carries its load).
  const elsewhere = await connect(small.signalingUrl, "after-restart");
  expect(elsewhere.redirects).toEqual([medium.signalingUrl]);
}, 90_000);
