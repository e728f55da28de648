import { SELF, env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { load } from "./support/load.js";
import { ok } from "./support/api.js";
import { NodePeer, channel, connection, until } from "./support/node-peer.js";

// One NodeObject per media node: GET /node is routed by the name the node presents, the link
// (and its ordering, liveness, commands) lives there, connection reports go straight to the
// channel's ChannelObject, and ClusterObject only hears of membership, sessions and load changes.

const clusterCalls = async () => (await env.CLUSTER.get(env.CLUSTER.idFromName("cluster")).callCounts()).counts as Record<string, number>;
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
describe("routing by node name", () => {
  it("needs the node's name on GET /node (query or header), 400 without", async () => {
    const bare = await SELF.fetch("http://edge.test/node", { headers: { upgrade: "websocket" } });
    expect(bare.status).toBe(400);
    expect(await bare.json()).toMatchObject({ error_type: "INVALID-REQUEST" });
    const tooLong = await SELF.fetch(`http://edge.test/node?node_name=${"x".repeat(256)}`, { headers: { upgrade: "websocket" } });
    expect(tooLong.status).toBe(400);
    const byHeader = await SELF.fetch("http://edge.test/node", { headers: { upgrade: "websocket", "x-sora-node-name": "hdr@host" } });
    expect(byHeader.status).toBe(101);
    byHeader.webSocket!.accept();
    byHeader.webSocket!.close(1000);
  });

  it("refuses a hello naming another node than the one presented", async () => {
    const peer = await NodePeer.connect("real@host", { presentedName: "other@host" });
    expect(peer.refused).toMatch(/differs from the name presented/);
    await until("closed", () => peer.closed);
    expect(peer.closed?.code).toBe(4400);
  });

  it("holds the link in the node's own NodeObject, none in ClusterObject", async () => {
    const peer = await NodePeer.connect("held@host");
    const sockets = await runInDurableObject(env.NODE.get(env.NODE.idFromName("held@host")), (_o, state) => state.getWebSockets().length);
    expect(sockets).toBe(1);
    const clusterSockets = await runInDurableObject(env.CLUSTER.get(env.CLUSTER.idFromName("cluster")), (_o, state) => state.getWebSockets().length);
    expect(clusterSockets).toBe(0);
    await peer.close();
  });
});

describe("reports across the NodeObject hop", () => {
  it("applies a burst of joins and leaves in the node's order, sent swapped, without ClusterObject seeing them", async () => {
    const peer = await NodePeer.connect("burst@host");
    peer.send({ type: "session.created", channel: channel("burst", []) });
    await until("session indexed", async () => (await ok("ListChannels")).some((c: any) => c.channel_id === "burst"));
    const before = await clusterCalls();
    // 60 joins and 30 leaves, every pair of neighbours sent in swapped order.
    const reports: Parameters<NodePeer["send"]>[0][] = [];
    for (let i = 0; i < 60; i++) {
      reports.push({ type: "connection.created", channel_id: "burst", session_id: "session-burst", connection: connection(`C${i}`) });
      if (i % 2 === 1) reports.push({ type: "connection.destroyed", channel_id: "burst", session_id: "session-burst", connection_id: `C${i}` });
    }
    const numbered = reports.map((r) => ({ ...r, seq: peer.nextSeq++ }));
    for (let i = 0; i + 1 < numbered.length; i += 2) {
      peer.send(numbered[i + 1]!);
      peer.send(numbered[i]!);
    }
    if (numbered.length % 2 === 1) peer.send(numbered.at(-1)!);
    // A last join after the burst: reports apply in seq order, so once it is listed the whole burst
    // is (an intermediate state can also hold 30 connections, so a count is no end condition).
    peer.send({ type: "connection.created", channel_id: "burst", session_id: "session-burst", connection: connection("END"), seq: peer.nextSeq++ });
    const ids = async () => ((await ok("ListChannelConnections", { channel_id: "burst" })) as { connection_id: string }[]).map((c) => c.connection_id);
    await until("the burst applied", async () => (await ids()).includes("END"));
    expect((await ids()).filter((id) => id !== "END").sort()).toEqual(Array.from({ length: 30 }, (_, i) => `C${2 * i}`).sort());
    // A leave applied before its join would have left the odd ones in place; none is.
    expect(total(await clusterCalls()) - total(before)).toBe(0);
    await peer.close();
  });

  it("commands the channel's node through its NodeObject", async () => {
    const peer = await NodePeer.connect("cmd@host", { channels: [channel("cmd-room", [connection("A"), connection("B")])] });
    await ok("PauseRtpStream", { channel_id: "cmd-room", recv_connection_id: "A", send_connection_id: "B" });
    expect(peer.commandsNamed("set_paused_streams").at(-1)).toEqual({
      name: "set_paused_streams",
      channel_id: "cmd-room",
      paused: [{ recv_connection_id: "A", send_connection_id: "B" }],
    });
    const counts = (await env.NODE.get(env.NODE.idFromName("cmd@host")).callCounts()).counts;
    expect(counts.command).toBeGreaterThanOrEqual(1);
    await peer.close();
  });
});

describe("load reports and placement", () => {
  let x: NodePeer;
  let y: NodePeer;
  let z: NodePeer;

  it("places a new session on the least loaded member by its load report (connections against max_connections)", async () => {
    x = await NodePeer.connect("x@load");
    y = await NodePeer.connect("y@load");
    z = await NodePeer.connect("z@load");
    // The earlier tests' members are gone (no majority to auto-join): these three form the cluster.
    await ok("InitCluster", { node_name_list: ["x@load", "y@load", "z@load"] });
    x.send({ type: "load", load: load(10, 100) }); // 0.10
    y.send({ type: "load", load: load(40, 1000) }); // 0.04
    z.send({ type: "load", load: load(5, 50) }); // 0.10
    // Loads of other links land in their own order: probe with fresh channels (a probe claims its channel).
    let probe = 0;
    await until("y preferred", async () => (await x.place(`probe-${probe++}`)).owner === "y@load");
    expect(await x.place("l1")).toMatchObject({ owner: "y@load", redirect_url: y.signalingUrl });
    // The claim holds: y itself is told to keep it, z to go there.
    expect((await y.place("l1")).redirect_url).toBeUndefined();
    expect(await z.place("l1")).toMatchObject({ owner: "y@load" });
  });

  it("never places on a node at its max_connections; refuses when every node is full", async () => {
    y.send({ type: "load", load: load(1000, 1000) });
    // y's own load goes before its place on its link; x's and z's are probed with fresh channels.
    let probe = 0;
    await until("y full", async () => (await y.place(`full-${probe++}`)).owner !== "y@load");
    // x and z tie at 0.10; y (full) asked: the first by name.
    expect(await y.place("l2")).toMatchObject({ owner: "x@load", redirect_url: x.signalingUrl });
    x.send({ type: "load", load: load(100, 100) });
    z.send({ type: "load", load: load(50, 50) });
    await until("all full", async () => (await z.place(`full-${probe++}`)).refused !== undefined);
    const refused = await z.place("l3");
    expect(refused.refused).toBe("MAX-CONNECTIONS-EXCEEDED");
    expect(refused.redirect_url).toBeUndefined();
    // /signaling: no node has room → 4503.
    const res = await SELF.fetch("http://edge.test/signaling", { headers: { upgrade: "websocket" } });
    const ws = res.webSocket!;
    ws.accept();
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
    ws.send(JSON.stringify({ type: "connect", role: "sendrecv", channel_id: "l4" }));
    expect(await closed).toBe(4503);
    // Room again: placement follows the next report.
    z.send({ type: "load", load: load(10, 50) });
    await until("z has room", async () => (await x.place(`room-${probe++}`)).owner === "z@load");
  });

  it("forwards a load to ClusterObject only when it changed", async () => {
    const before = (await clusterCalls()).nodeLoad ?? 0;
    for (let i = 0; i < 5; i++) z.send({ type: "load", load: { ...load(10, 50), cpu_percent: i } });
    z.send({ type: "load", load: load(11, 50) });
    await until("changed load forwarded", async () => ((await clusterCalls()).nodeLoad ?? 0) > before);
    expect((await clusterCalls()).nodeLoad).toBe(before + 1);
    for (const p of [x, y, z]) await p.close();
  });
});

describe("batch frames", () => {
  const created = (room: string, id: string) => ({ type: "connection.created" as const, channel_id: room, session_id: `session-${room}`, connection: connection(id) });
  const destroyed = (room: string, id: string) => ({ type: "connection.destroyed" as const, channel_id: room, session_id: `session-${room}`, connection_id: id });
  const ids = async (room: string) => ((await ok("ListChannelConnections", { channel_id: room })) as { connection_id: string }[]).map((c) => c.connection_id).sort();
  const channelCalls = async (room: string) => (await env.CHANNEL.get(env.CHANNEL.idFromName(room)).callCounts()).counts as Record<string, number>;

  it("welcomes a node with batches: true and applies reports across batch frames in the node's order, frames sent swapped", async () => {
    const peer = await NodePeer.connect("batch@host", { channels: [channel("batch-a", []), channel("batch-b", [])] });
    expect(peer.welcome?.batches).toBe(true);
    // Four batches of 20 (joins, then the leave of every other one, on two channels); the
    // frames go out 2, 1, 4, 3: only `seq` says the order.
    const reports = [];
    for (let i = 0; i < 40; i++) {
      const room = i % 2 === 0 ? "batch-a" : "batch-b";
      reports.push(created(room, `C${i}`));
      if (i % 4 >= 2) reports.push(destroyed(room, `C${i}`));
    }
    const numbered = reports.map((r) => peer.numbered(r));
    const frames = [numbered.slice(0, 15), numbered.slice(15, 30), numbered.slice(30, 45), numbered.slice(45)];
    peer.sendBatch(frames[1]!);
    peer.sendBatch(frames[0]!);
    peer.sendBatch(frames[3]!);
    peer.sendBatch(frames[2]!);
    // place answers only after every earlier report of the link was applied.
    await peer.place("batch-a");
    const kept = (room: string, parity: number) =>
      Array.from({ length: 40 }, (_, i) => i)
        .filter((i) => i % 2 === parity && i % 4 < 2)
        .map((i) => `C${i}`)
        .sort();
    expect(await ids("batch-a")).toEqual(kept("batch-a", 0));
    expect(await ids("batch-b")).toEqual(kept("batch-b", 1));
    // The NodeObject carried each channel's reports in fewer calls than reports (CHANNEL_REPORT_HOLD_MS).
    const a = await channelCalls("batch-a");
    expect(a.applyReports).toBeGreaterThanOrEqual(1);
    expect(a.applyReports!).toBeLessThan(30);
    await peer.close();
  });

  it("skips a bad report inside a batch and applies the others, without waiting for its number", async () => {
    const peer = await NodePeer.connect("badbatch@host", { channels: [channel("badbatch", [])] });
    const good1 = peer.numbered(created("badbatch", "G1"));
    const bad = { type: "connection.created", channel_id: "badbatch", seq: peer.nextSeq++ } as unknown as Parameters<NodePeer["send"]>[0];
    const good2 = peer.numbered(created("badbatch", "G2"));
    peer.sendBatch([good1, bad, good2]);
    // A junk entry without any number is skipped too.
    peer.sendBatch([42 as unknown as Parameters<NodePeer["send"]>[0], peer.numbered(created("badbatch", "G3"))]);
    const start = Date.now();
    await peer.place("badbatch");
    // The bad entries' numbers were marked skipped at once: no gap timeout (1 s) on the way.
    expect(Date.now() - start).toBeLessThan(900);
    expect(await ids("badbatch")).toEqual(["G1", "G2", "G3"]);
    expect(peer.closed).toBeNull();
    await peer.close();
  });

  it("refuses a batch frame over the frame limit like any other frame, and ignores a malformed envelope", async () => {
    const peer = await NodePeer.connect("bigbatch@host", { channels: [channel("bigbatch", [])] });
    peer.ws.send(JSON.stringify({ type: "batch", reports: "nope" }));
    peer.sendBatch([created("bigbatch", "OK")]);
    await peer.place("bigbatch");
    expect(await ids("bigbatch")).toEqual(["OK"]);
    expect(peer.closed).toBeNull();
    const pad = "x".repeat(300 * 1024);
    peer.sendBatch(
      Array.from({ length: 4 }, (_, i) => ({ type: "user_agent_stats" as const, channel_id: "bigbatch", connection_id: "OK", timestamp: `${i}`, stats: [pad] })),
    );
    await until("closed", () => peer.closed);
    expect(peer.closed?.code).toBe(4400);
    expect(peer.refused).toMatch(/at most 1 MiB/);
  });
});

describe("a busy link", () => {
  it("keeps a link whose messages keep coming while its pings do not (pings wait behind a backlog)", async () => {
    // NODE_LIVENESS_TIMEOUT_MS is 1.5 s in the tests: 2.4 s of reports and no ping.
    const peer = await NodePeer.connect("busy@host", { pingIntervalMs: 60_000, channels: [channel("busy", [])] });
    for (let i = 0; i < 8; i++) {
      peer.send({ type: "load", load: load(i, 100) });
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(peer.closed).toBeNull();
    // Silent from here on: closed by the liveness check as before.
    await until("closed when silent", () => peer.closed, 5_000);
    expect(peer.closed?.code).toBe(4408);
  });

  it("lets GetStatsReport calls within a second share one get_counters per node", async () => {
    const peer = await NodePeer.connect("stats@host");
    await ok("GetStatsReport");
    await ok("GetStatsReport");
    await ok("GetStatsReport");
    expect(peer.commandsNamed("get_counters").length).toBe(1);
    await peer.close();
  });
});
