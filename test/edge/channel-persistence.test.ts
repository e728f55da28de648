import { env, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import { ok } from "./support/api.js";
import { NodePeer, channel, connection, until } from "./support/node-peer.js";

// A ChannelObject serves connections from memory and writes the node's connection reports behind
// (channel-store.ts, CHANNEL_PERSIST_MS = 1 s here): a join and its leave within that window never
// reach storage, a join is stored once the window has passed, and an API write of a connection's
// metadata is stored before it is answered.

const CH = "persisted-room";
const session_id = `session-${CH}`;
const stored = () =>
  runInDurableObject(env.CHANNEL.get(env.CHANNEL.idFromName(CH)), async (_o, state) => [...(await state.storage.list({ prefix: "conn:" })).keys()].sort());

it("writes connection reports behind, and API metadata writes at once", async () => {
  const node = await NodePeer.connect("persist@host", { channels: [channel(CH, [connection("A")])] });
  // The hello's snapshot is written at once (it is what an edge restart rebuilds from).
  await until("A listed", async () => (await ok("ListChannelConnections", { channel_id: CH })).length === 1);
  expect(await stored()).toEqual(["conn:A"]);

  const sent = Date.now();
  node.send({ type: "connection.created", channel_id: CH, session_id, connection: connection("B") });
  node.send({ type: "connection.created", channel_id: CH, session_id, connection: connection("SHORT") });
  node.send({ type: "connection.destroyed", channel_id: CH, session_id, connection_id: "SHORT" });
  await until("B listed", async () => (await ok("ListChannelConnections", { channel_id: CH })).length === 2);
  // Served from memory at once, not yet in storage (checked when the check itself came well within the window).
  const early = await stored();
  if (Date.now() - sent < 700) expect(early).toEqual(["conn:A"]);
  await until("B stored", async () => (await stored()).includes("conn:B"), 3_000);
  // SHORT joined and left within the window: never written.
  expect(await stored()).toEqual(["conn:A", "conn:B"]);

  await ok("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: "B", metadata: { k: 1 } });
  const metadata = await runInDurableObject(env.CHANNEL.get(env.CHANNEL.idFromName(CH)), (_o, state) => state.storage.get<{ signaling_notify_metadata?: unknown }>("conn:B"));
  expect(metadata?.signaling_notify_metadata).toEqual({ k: 1 });
  await node.close();
});
