import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import { ok } from "./support/api.js";
import { NodePeer, channel, connection, counters, until } from "./support/node-peer.js";

// State stored by the v1 edge (one ClusterObject holding every link, counters and `place`
// claims) is served by the v2 edge (NodeObject per node, wrangler.toml migration "v2"), and a
// link that did not survive an edge restart ends in the cluster's view. One store per file: the
// steps build on each other.

const cluster = () => env.CLUSTER.get(env.CLUSTER.idFromName("cluster"));

const v1Node = (node_name: string) => ({
  node_name,
  member: true,
  epoch: 2,
  external_signaling_url: `ws://${node_name.replace(/@.*/, "")}.test/signaling`,
  external_api_url: null,
  version: "2025.2.0",
  license_max_nodes: null,
  license_max_connections: null,
  license_serial_code: null,
  license_type: null,
  mode: "normal",
  last_seen: 1,
});

const owner = (channel_id: string, node_name: string, session_id: string | null) => ({
  channel_id,
  node_name,
  epoch: 2,
  session_id,
  multistream: true,
  spotlight: false,
  simulcast: false,
  claimed_at: 1,
});

it("serves what a v1 ClusterObject stored: nodes, channel owners and last counters", async () => {
  await runInDurableObject(cluster(), async (_o, state) => {
    await state.storage.put({
      "node:old@host": v1Node("old@host"),
      "counters:old@host": counters({ total_connection_created: 12, total_ongoing_connections: 4, total_duration_msec: 6_000 }),
      "owner:legacy-room": owner("legacy-room", "old@host", "session-legacy-room"),
      // A v1 `place` claim never confirmed by a session: not a channel.
      "owner:claim-only": owner("claim-only", "old@host", null),
    });
  });
  const nodes = await ok("ListClusterNodes", { include_all_known_nodes: true });
  expect(nodes).toEqual([expect.objectContaining({ node_name: "old@host", epoch: 2, connected: false })]);
  expect(await ok("ListClusterChannels")).toEqual([
    { channel_id: "legacy-room", owners: [{ node_name: "old@host", epoch: 2, epoch_latest: 2, connected: false }] },
  ]);
  const report = await ok("GetStatsReport");
  // The v1 counters count; a node without a link has no ongoing connections.
  expect(report).toMatchObject({ total_connection_created: 12, total_ongoing_connections: 0 });
  expect(report.cluster).toMatchObject({ members: 1, connected_members: 0, known_nodes: 1, channels: 1, nodes_answered: 0 });
});

it("takes the v1 node back through its NodeObject: it rejoins (epoch + 1) and its channel works", async () => {
  const peer = await NodePeer.connect("old@host", { channels: [channel("legacy-room", [connection("L1")])] });
  expect(peer.welcome).toMatchObject({ member: true, epoch: 3 });
  expect((await ok("ListClusterNodes")).find((n: any) => n.node_name === "old@host")).toMatchObject({ connected: true, epoch: 3 });
  await ok("PutSignalingNotifyMetadata", { channel_id: "legacy-room", connection_id: "L1", metadata: { k: 1 } });
  expect(peer.commandsNamed("set_notify_metadata").at(-1)).toMatchObject({ connection_id: "L1", metadata: { k: 1 } });
  // Counters now come from the node (its NodeObject), not from the v1 key.
  peer.answer = (cmd) => (cmd.name === "get_counters" ? { ok: true, result: counters({ total_connection_created: 1, total_ongoing_connections: 1 }) } : { ok: true, result: {} });
  expect(await ok("GetStatsReport")).toMatchObject({ total_connection_created: 1, total_ongoing_connections: 1 });
  await peer.close();
  await until("old down", async () => (await ok("ListClusterNodes"))[0].connected === false);
});

it("after an edge restart, a node whose link did not come back shows connected: false (its NodeObject's alarm)", async () => {
  // What a restart leaves: the cluster and the NodeObject both remember a link; no socket survived.
  const nodeObject = env.NODE.get(env.NODE.idFromName("gone@host"));
  await runInDurableObject(cluster(), async (_o, state) => {
    await state.storage.put({ "node:gone@host": v1Node("gone@host"), "link:gone@host": { link_id: "before-restart", since: 1 } });
  });
  await runInDurableObject(nodeObject, async (_o, state) => {
    await state.storage.put("linked", { node_name: "gone@host", link_id: "before-restart" });
    await state.storage.setAlarm(Date.now() + 60_000);
  });
  expect((await ok("ListClusterNodes")).find((n: any) => n.node_name === "gone@host")).toMatchObject({ connected: true });
  expect(await runDurableObjectAlarm(nodeObject)).toBe(true);
  expect((await ok("ListClusterNodes")).find((n: any) => n.node_name === "gone@host")).toMatchObject({ connected: false });
});
