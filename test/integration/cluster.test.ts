import { afterAll, beforeAll, expect, it } from "vitest";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { startEdge, startNode, until, type EdgeProcess, type NodeProcess } from "./processes.js";

// The whole system as an operator runs it: the edge in workerd (`wrangler dev`, persisted
// Durable Objects) and media node processes linked to it. Cluster membership, placement with
// signaling redirects, metadata push through a node, a node killed with SIGKILL, and an edge
// restart that must keep what it stored.

let edge: EdgeProcess;
let a: NodeProcess;
let b: NodeProcess;
const clients: WeriftSoraClient[] = [];

beforeAll(async () => {
  edge = await startEdge();
  a = await startNode(edge);
  b = await startNode(edge);
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await a?.stop();
  await b?.stop();
  await edge?.stop();
}, 60_000);

const NODE_KEYS = [
  "connected",
  "epoch",
  "external_api_url",
  "external_signaling_url",
  "license_max_connections",
  "license_max_nodes",
  "license_serial_code",
  "license_type",
  "mode",
  "node_name",
  "version",
].sort();

async function clusterNodes(all = false): Promise<Record<string, any>[]> {
  return edge.ok("Sora_20211215.ListClusterNodes", all ? { include_all_known_nodes: true } : {});
}

it("lists both nodes as connected members with Sora's fields", async () => {
  const nodes = await clusterNodes();
  const byName = new Map(nodes.map((n) => [n.node_name, n]));
  for (const node of [a, b]) {
    const entry = byName.get(node.nodeName);
    expect(entry, node.nodeName).toBeDefined();
    expect(Object.keys(entry!).sort()).toEqual(NODE_KEYS);
    expect(entry).toMatchObject({ connected: true, mode: "normal", external_signaling_url: node.signalingUrl });
    expect(entry!.epoch).toBeGreaterThanOrEqual(1);
  }
});

it("redirects a connect that reaches the wrong node to the channel's owner", async () => {
  const channelId = "placed";
  const first = new WeriftSoraClient({ url: a.signalingUrl, channelId, role: "sendrecv" });
  clients.push(first);
  await first.connect();
  expect(first.redirects).toEqual([]);
  const second = new WeriftSoraClient({ url: b.signalingUrl, channelId, role: "sendrecv" });
  clients.push(second);
  await second.connect();
  expect(second.redirects).toEqual([a.signalingUrl]);
  first.startMedia(50, 300);
  await until("media across the redirected client", () => second.packetsFrom(first.connectionId, "video") > 10);

  // The edge's own /signaling sends clients to the owner too.
  const viaEdge = new WeriftSoraClient({ url: `ws://127.0.0.1:${edge.port}/signaling`, channelId, role: "recvonly" });
  clients.push(viaEdge);
  await viaEdge.connect();
  expect(viaEdge.redirects).toEqual([a.signalingUrl]);

  const channels = await edge.ok("Sora_20211215.ListClusterChannels");
  const placed = channels.find((c: { channel_id: string }) => c.channel_id === channelId);
  expect(placed.owners.map((o: { node_name: string }) => o.node_name)).toEqual([a.nodeName]);
  const listed = await edge.ok("Sora_20201013.ListChannels");
  expect(listed).toContainEqual({ channel_id: channelId, multistream: true, spotlight: false });
});

it("pushes signaling notify metadata to the channel's clients through the node", async () => {
  const [first, second] = clients as [WeriftSoraClient, WeriftSoraClient];
  const answer = await edge.ok("Sora_20201124.PutSignalingNotifyMetadataItem", {
    channel_id: "placed",
    connection_id: first.connectionId,
    key: "status",
    value: { hand: "raised" },
    push: true,
  });
  expect(answer).toEqual({ status: { hand: "raised" } });
  const push = await until("push at the other client", () => second.messages.find((m) => m.type === "push"));
  expect(push).toEqual({
    type: "push",
    data: {
      type: "signaling_notify_metadata_ext",
      action: "PutMetadataItem",
      connection_id: first.connectionId,
      key: "status",
      value: { hand: "raised" },
    },
  });
  const list = await edge.ok("Sora_20201124.ListSignalingNotifyMetadata", { channel_id: "placed" });
  expect(list).toContainEqual({
    connection_id: first.connectionId,
    client_id: first.connectionId,
    bundle_id: first.connectionId,
    metadata: { status: { hand: "raised" } },
  });
});

it("shows a SIGKILLed node as disconnected within 10 s, then purges it", async () => {
  const doomed = await startNode(edge);
  expect((await clusterNodes()).some((n) => n.node_name === doomed.nodeName && n.connected)).toBe(true);
  const orphan = new WeriftSoraClient({ url: doomed.signalingUrl, channelId: "orphaned", role: "sendrecv" });
  await orphan.connect();
  const killedAt = Date.now();
  doomed.signal("SIGKILL");
  await until(
    "connected: false",
    async () => (await clusterNodes(true)).some((n) => n.node_name === doomed.nodeName && n.connected === false),
    10_000,
    200,
  );
  console.log(`killed node shown disconnected after ${Date.now() - killedAt} ms`);
  await orphan.close();

  // Its channel can move: a client of that channel is served by a live node, not sent to the dead
  // one — the least loaded member: b (a serves the three clients of "placed").
  const mover = new WeriftSoraClient({ url: a.signalingUrl, channelId: "orphaned", role: "sendrecv" });
  clients.push(mover);
  await mover.connect();
  expect(mover.redirects).toEqual([b.signalingUrl]);
  const moved = (await edge.ok("Sora_20211215.ListClusterChannels")).find((c: { channel_id: string }) => c.channel_id === "orphaned");
  expect(moved.owners.map((o: { node_name: string }) => o.node_name)).toEqual([b.nodeName]);

  const alive = await edge.api("Sora_20220629.PurgeClusterNode", { target_node_name: a.nodeName });
  expect(alive).toEqual({ status: 400, body: { error_type: "NODE-IS-ALIVE", error_reason: { target_node: a.nodeName } } });
  expect(await edge.ok("Sora_20220629.PurgeClusterNode", { target_node_name: doomed.nodeName })).toEqual({
    target_node_name: doomed.nodeName,
  });
  expect((await clusterNodes(true)).some((n) => n.node_name === doomed.nodeName)).toBe(false);
}, 60_000);

it("keeps metadata, modes and membership across an edge restart", async () => {
  const [first] = clients as [WeriftSoraClient];
  expect(await edge.ok("Sora_20211215.ChangeMode", { mode: "block_new_session" })).toEqual({ mode: "block_new_session" });
  const epochsBefore = new Map((await clusterNodes()).map((n) => [n.node_name, n.epoch]));

  const { port, persistDir } = edge;
  await edge.stop();
  edge = await startEdge({ port, persistDir });
  await until(
    "both nodes linked again",
    async () => {
      const nodes = await clusterNodes();
      return [a, b].every((n) => nodes.some((e) => e.node_name === n.nodeName && e.connected));
    },
    20_000,
    250,
  );
  const nodes = await clusterNodes();
  for (const n of nodes) expect(n.epoch).toBeGreaterThanOrEqual(epochsBefore.get(n.node_name) ?? 1);
  expect(await edge.ok("Sora_20211215.GetMode")).toEqual({ mode: "block_new_session" });
  expect(
    await edge.ok("Sora_20201124.GetSignalingNotifyMetadata", { channel_id: "placed", connection_id: first.connectionId }),
  ).toEqual({ status: { hand: "raised" } });

  // The restored mode is enforced by the nodes: a new session is refused, a live one still admits.
  const refused = new WeriftSoraClient({ url: a.signalingUrl, channelId: "fresh-after-restart", role: "recvonly" });
  await expect(refused.connect()).rejects.toThrow(/BLOCK-NEW-SESSION/);
  const joiner = new WeriftSoraClient({ url: a.signalingUrl, channelId: "placed", role: "recvonly" });
  clients.push(joiner);
  await joiner.connect();
  await edge.ok("Sora_20211215.ChangeMode", { mode: "normal" });
}, 90_000);
