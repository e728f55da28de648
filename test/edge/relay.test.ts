import { SELF, env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { NodeCommand } from "../../shared/control-protocol.js";
import { load } from "./support/load.js";
import { api, fails, ok } from "./support/api.js";
import { NodePeer, channel, connection, defaultAnswer, until } from "./support/node-peer.js";

// A channel that spans media nodes (cluster relay, docs/relay.md), edge side: two simulated nodes
// serve one channel. Placement (affinity, max_connections, the live session_id), the serving set
// told to every node with `set_channel_nodes`, channel-wide commands to every serving node,
// connection commands to the node hosting the connection, the cluster-wide lists counting each
// connection once, and a channel stored before the relay. One store per file: steps build on
// each other.

const CH = "relay-room";
const SESSION = `session-${CH}`;
const A1 = "ALPHA0000000000000000000A1"; // on a
const B1 = "BRAVO0000000000000000000B1"; // on b

const channelObject = (id: string) => env.CHANNEL.get(env.CHANNEL.idFromName(id));

/** ChannelObject reads CHANNEL_AFFINITY from its env at each `place`; the test flips it on the live object. */
async function setAffinity(channelId: string, on: boolean): Promise<void> {
  await runInDurableObject(channelObject(channelId), (instance) => {
    (instance as unknown as { env: Record<string, string> }).env.CHANNEL_AFFINITY = on ? "true" : "false";
  });
}

type SetChannelNodes = Extract<NodeCommand, { name: "set_channel_nodes" }>;
const nodesOf = (c: SetChannelNodes | undefined) => c?.nodes.map((n) => n.node_name);

/** `GET /signaling` at the edge: where the client of `channelId` is redirected. */
async function signalingRedirect(channelId: string): Promise<string> {
  const res = await SELF.fetch("http://edge.test/signaling", { headers: { upgrade: "websocket" } });
  const ws = res.webSocket!;
  ws.accept();
  const answer = new Promise<string>((resolve) => ws.addEventListener("message", (e) => resolve(JSON.parse(e.data as string).location)));
  ws.send(JSON.stringify({ type: "connect", role: "sendrecv", channel_id: channelId }));
  return answer;
}

let a: NodePeer;
let b: NodePeer;

/** Commands of `peer` after `mark` (a length of peer.commands taken before the call). */
const since = (peer: NodePeer, mark: number) => peer.commands.slice(mark);

describe("two nodes serving one channel", () => {
  it("affinity on: a client reaching b goes to a, which serves the channel and has room", async () => {
    a = await NodePeer.connect("a@relay");
    b = await NodePeer.connect("b@relay");
    expect(await a.place(CH)).toMatchObject({ owner: "a@relay" });
    a.send({ type: "session.created", channel: channel(CH, [connection(A1)]) });
    await until("session on a", async () => (await ok("ListChannels")).length === 1);
    a.send({ type: "load", load: load(1, 2) });
    b.send({ type: "load", load: load(0, 10) });
    // a (1 of 2) is more loaded than b (0 of 10), yet keeps the channel while it has room.
    const answer = await b.place(CH);
    expect(answer).toMatchObject({ owner: "a@relay", redirect_url: a.signalingUrl });
    expect(answer.session_id).toBeUndefined();
    expect(await signalingRedirect(CH)).toBe(a.signalingUrl);
    // A session of one node tells nobody anything.
    expect(a.commandsNamed("set_channel_nodes")).toEqual([]);
  });

  it("affinity off: b serves the client itself and joins a's live session", async () => {
    await setAffinity(CH, false);
    try {
      expect(await b.place(CH)).toMatchObject({ owner: "b@relay", session_id: SESSION });
      expect((await b.place(CH)).redirect_url).toBeUndefined();
    } finally {
      await setAffinity(CH, true);
    }
  });

  it("a full node that asks (before its load report says so) sends the client on, and is not chosen again meanwhile", async () => {
    // a's last report: 1 of 2. It reached its cap since and says so when it asks.
    expect(await a.place(CH, true)).toMatchObject({ owner: "b@relay", redirect_url: b.signalingUrl });
    // b's client is not sent back to a on a's stale report: b serves it, joining the session.
    expect(await b.place(CH)).toMatchObject({ owner: "b@relay", session_id: SESSION });
    expect(await signalingRedirect(CH)).toBe(b.signalingUrl);
  });

  it("affinity on and a at its max_connections: b serves the client, joining the session", async () => {
    // Channel-wide state from before b joins: b is given it when it joins.
    await ok("PauseRtpStream", { channel_id: CH, recv_connection_id: A1, send_connection_id: A1 });
    a.send({ type: "load", load: load(2, 2) });
    await until("a full", async () => (await b.place(CH)).owner === "b@relay");
    expect(await b.place(CH)).toMatchObject({ owner: "b@relay", session_id: SESSION });
    // a itself (full) asks too: it is sent to b; so is a client of the edge's GET /signaling.
    expect(await a.place(CH)).toMatchObject({ owner: "b@relay", redirect_url: b.signalingUrl });
    expect(await signalingRedirect(CH)).toBe(b.signalingUrl);
  });

  it("tells both nodes the set with the same token when b's session.created comes, and gives b the channel's state", async () => {
    b.send({ type: "session.created", channel: channel(CH, [connection(B1)]) });
    const toA = await until("a told", () => a.commandsNamed("set_channel_nodes").at(-1));
    const toB = await until("b told", () => b.commandsNamed("set_channel_nodes").at(-1));
    expect(toA).toEqual({
      name: "set_channel_nodes",
      channel_id: CH,
      session_id: SESSION,
      relay_token: toA.relay_token,
      nodes: [
        { node_name: "a@relay", signaling_url: a.signalingUrl },
        { node_name: "b@relay", signaling_url: b.signalingUrl },
      ],
    });
    expect(toB).toEqual(toA);
    expect(toA.relay_token).toMatch(/^[0-9a-f]{48}$/);
    await until("b primed", () => b.commandsNamed("set_paused_streams").at(-1));
    expect(b.commandsNamed("set_paused_streams").at(-1)).toEqual({
      name: "set_paused_streams",
      channel_id: CH,
      paused: [{ recv_connection_id: A1, send_connection_id: A1 }],
    });
    // set_channel_nodes comes before the state it primes.
    expect(b.commands.findIndex((c) => c.name === "set_channel_nodes")).toBeLessThan(b.commands.findIndex((c) => c.name === "set_paused_streams"));
  });

  it("lists both nodes as owners, and each connection once", async () => {
    await until("b's connection known", async () => (await ok("ListConnections")).length === 2);
    expect(await ok("ListClusterChannels")).toEqual([
      {
        channel_id: CH,
        owners: [
          { node_name: "a@relay", epoch: 1, epoch_latest: 1, connected: true },
          { node_name: "b@relay", epoch: 1, epoch_latest: 1, connected: true },
        ],
      },
    ]);
    expect(await ok("ListChannels")).toEqual([{ channel_id: CH, multistream: true, spotlight: false }]);
    expect((await ok("ListConnections")).map((c: any) => c.connection_id).sort()).toEqual([A1, B1]);
    expect((await ok("ListChannelConnections", { channel_id: CH })).length).toBe(2);
    const stats = await ok("GetStatsAllConnections");
    expect(stats.map((s: any) => s.connection_id).sort()).toEqual([A1, B1]);
  });

  it("channel-wide commands reach both nodes", async () => {
    const ma = a.commands.length;
    const mb = b.commands.length;
    await ok("ResumeRtpStream", { channel_id: CH, recv_connection_id: A1, send_connection_id: A1 });
    await ok("PauseRtpStream", { channel_id: CH, recv_connection_id: B1, send_connection_id: A1 });
    await ok("PushChannel", { channel_id: CH, data: { hello: 1 } });
    await ok("DisconnectChannelByRole", { channel_id: CH, role: "recvonly" });
    const expected = [
      { name: "set_paused_streams", channel_id: CH, paused: [] },
      { name: "set_paused_streams", channel_id: CH, paused: [{ recv_connection_id: B1, send_connection_id: A1 }] },
      { name: "push", channel_id: CH, data: { hello: 1 } },
      { name: "disconnect", channel_id: CH, role: "recvonly" },
    ];
    expect(since(a, ma)).toEqual(expected);
    expect(since(b, mb)).toEqual(expected);
  });

  it("a connection's commands reach the node hosting it; a metadata push reaches every node", async () => {
    const ma = a.commands.length;
    const mb = b.commands.length;
    await ok("RequestKeyFrame", { channel_id: CH, connection_id: A1 });
    expect((await ok("GetStatsConnection", { channel_id: CH, connection_id: B1 })).connection_id).toBe(B1);
    await ok("ChangeUpstreamVideoBitRate", { channel_id: CH, connection_id: B1, bit_rate: 500 });
    await ok("PushConnection", { channel_id: CH, connection_id: A1, data: { only: "a" } });
    await ok("DisconnectClient", { channel_id: CH, client_id: `client-${B1}` });
    expect(since(a, ma)).toEqual([
      { name: "request_key_frame", channel_id: CH, connection_id: A1 },
      { name: "push", channel_id: CH, connection_ids: [A1], data: { only: "a" } },
    ]);
    expect(since(b, mb)).toEqual([
      { name: "get_connection_stats", channel_id: CH, connection_id: B1 },
      { name: "change_upstream_video_bit_rate", channel_id: CH, connection_id: B1, bit_rate: 500 },
      { name: "disconnect", channel_id: CH, client_id: `client-${B1}` },
    ]);
    const ma2 = a.commands.length;
    const mb2 = b.commands.length;
    expect(await ok("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: B1, metadata: { m: 1 }, push: true })).toEqual({ m: 1 });
    const push = { type: "signaling_notify_metadata_ext", action: "PutMetadata", connection_id: B1, metadata: { m: 1 } };
    expect(since(b, mb2)).toEqual([{ name: "set_notify_metadata", channel_id: CH, connection_id: B1, metadata: { m: 1 }, push }]);
    expect(since(a, ma2)).toEqual([{ name: "push", channel_id: CH, data: push }]);
    // Without push, only the connection's node hears of it.
    await ok("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: B1, metadata: { m: 2 } });
    expect(since(a, ma2).length).toBe(1);
  });

  it("a node that does not ack fails the call with its name, within the command timeout, and nothing is stored", async () => {
    a.answer = () => null;
    try {
      const started = Date.now();
      const body = await fails("PauseRtpStream", { channel_id: CH, recv_connection_id: A1, send_connection_id: B1 }, "NODE-UNREACHABLE");
      expect(body.error_reason).toMatchObject({ node_name: "a@relay" });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      a.answer = defaultAnswer;
    }
    expect(await ok("ListPauseRtpStreams", { channel_id: CH })).toEqual([{ channel_id: CH, recv_connection_id: B1, send_connection_id: A1, role: "sendrecv" }]);
  });

  it("b's session.destroyed: a is told it is alone; b's connections and its pause pair are gone", async () => {
    const ma = a.commandsNamed("set_channel_nodes").length;
    const token = a.commandsNamed("set_channel_nodes").at(-1)!.relay_token;
    b.send({ type: "session.destroyed", channel_id: CH, session_id: SESSION });
    const toA = await until("a told", () => a.commandsNamed("set_channel_nodes")[ma]);
    expect(toA).toMatchObject({ session_id: SESSION, relay_token: token, nodes: [{ node_name: "a@relay" }] });
    await until("b gone", async () => (await ok("ListClusterChannels"))[0]?.owners.length === 1);
    expect((await ok("ListClusterChannels"))[0].owners[0].node_name).toBe("a@relay");
    expect((await ok("ListConnections")).map((c: any) => c.connection_id)).toEqual([A1]);
    expect(await ok("ListPauseRtpStreams", { channel_id: CH })).toEqual([]);
  });

  it("b joins again (same token), then its link drops: a is told it is alone, the channel lives on", async () => {
    const token = a.commandsNamed("set_channel_nodes").at(-1)!.relay_token;
    expect(await b.place(CH)).toMatchObject({ owner: "b@relay", session_id: SESSION });
    const ma = a.commandsNamed("set_channel_nodes").length;
    b.send({ type: "session.created", channel: channel(CH, [connection(B1)]) });
    expect(nodesOf(await until("a told of b", () => a.commandsNamed("set_channel_nodes")[ma]))).toEqual(["a@relay", "b@relay"]);
    expect(a.commandsNamed("set_channel_nodes").at(-1)!.relay_token).toBe(token);
    await until("owners a and b", async () => (await ok("ListClusterChannels"))[0]?.owners.length === 2);
    await b.close();
    expect(nodesOf(await until("a told b left", () => a.commandsNamed("set_channel_nodes")[ma + 1]))).toEqual(["a@relay"]);
    await until("b dropped", async () => (await ok("ListClusterChannels"))[0]?.owners.length === 1);
    expect((await ok("ListConnections")).map((c: any) => c.connection_id)).toEqual([A1]);
    expect((await api("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: B1 })).status).toBe(400);
  });

  it("b comes back with the session in its hello snapshot: it serves again, a and b are told", async () => {
    const ma = a.commandsNamed("set_channel_nodes").length;
    b = await NodePeer.connect("b@relay", { channels: [channel(CH, [connection(B1)])] });
    expect(nodesOf(await until("a told of b", () => a.commandsNamed("set_channel_nodes")[ma]))).toEqual(["a@relay", "b@relay"]);
    expect(nodesOf(await until("b told", () => b.commandsNamed("set_channel_nodes").at(-1)))).toEqual(["a@relay", "b@relay"]);
    await until("owners a and b", async () => (await ok("ListClusterChannels"))[0]?.owners.length === 2);
    expect((await ok("ListClusterChannels"))[0].owners[1]).toMatchObject({ node_name: "b@relay", epoch: 2, epoch_latest: 2 });
    expect((await ok("ListConnections")).map((c: any) => c.connection_id).sort()).toEqual([A1, B1]);
    await b.close();
    await until("b dropped", async () => (await ok("ListClusterChannels"))[0]?.owners.length === 1);
  });

  it("the last node's session.destroyed ends the channel", async () => {
    a.send({ type: "session.destroyed", channel_id: CH, session_id: SESSION });
    await until("channel gone", async () => (await ok("ListClusterChannels")).length === 0);
    await fails("ListChannelConnections", { channel_id: CH }, "CHANNEL-NOT-FOUND");
    await a.close();
  });
});

describe("a channel stored before the relay", () => {
  it("keeps working and spans a second node", async () => {
    const OLD = "old-room";
    const c = await NodePeer.connect("c@relay");
    const d = await NodePeer.connect("d@relay");
    await ok("InitCluster", { node_name_list: ["c@relay", "d@relay"] });
    // What the edge stored before: a session with its owner only, no serving list, no token; the cluster's single owner.
    await runInDurableObject(channelObject(OLD), async (_o, state) => {
      await state.storage.put({
        session: { channel_id: OLD, session_id: `session-${OLD}`, node_name: "c@relay", multistream: true, spotlight: false, simulcast: false, created_at: 1 },
        control: { paused: [], rid_requests: [], forwards: [], audio_streaming: false, audio_subscribers: [] },
        "conn:C1": { ...connection("C1"), node_name: "c@relay" },
      });
    });
    await runInDurableObject(env.CLUSTER.get(env.CLUSTER.idFromName("cluster")), async (_o, state) => {
      await state.storage.put(`owner:${OLD}`, {
        channel_id: OLD,
        node_name: "c@relay",
        epoch: 1,
        session_id: `session-${OLD}`,
        multistream: true,
        spotlight: false,
        simulcast: false,
        claimed_at: 1,
      });
    });
    expect(await ok("ListClusterChannels")).toEqual([{ channel_id: OLD, owners: [{ node_name: "c@relay", epoch: 1, epoch_latest: 1, connected: true }] }]);
    await ok("RequestKeyFrame", { channel_id: OLD, connection_id: "C1" });
    expect(c.commands.at(-1)).toEqual({ name: "request_key_frame", channel_id: OLD, connection_id: "C1" });
    // c full: d joins the old session.
    c.send({ type: "load", load: load(5, 5) });
    await until("c full", async () => (await d.place(OLD)).owner === "d@relay");
    expect(await d.place(OLD)).toMatchObject({ owner: "d@relay", session_id: `session-${OLD}` });
    d.send({ type: "session.created", channel: channel(OLD, [connection("D1")]) });
    const toC = await until("c told", () => c.commandsNamed("set_channel_nodes").at(-1));
    const toD = await until("d told", () => d.commandsNamed("set_channel_nodes").at(-1));
    expect(toD).toEqual(toC);
    // The old owner's signaling URL was not stored: it comes from the cluster's table.
    expect(toC.nodes).toEqual([
      { node_name: "c@relay", signaling_url: c.signalingUrl },
      { node_name: "d@relay", signaling_url: d.signalingUrl },
    ]);
    await until("owners c and d", async () => (await ok("ListClusterChannels"))[0]?.owners.length === 2);
    expect((await ok("ListConnections")).map((x: any) => x.connection_id).sort()).toEqual(["C1", "D1"]);
    await ok("PushChannel", { channel_id: OLD, data: { n: 1 } });
    expect(c.commands.at(-1)).toMatchObject({ name: "push" });
    expect(d.commands.at(-1)).toMatchObject({ name: "push" });
    await c.close();
    await d.close();
  });
});
