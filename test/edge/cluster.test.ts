import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { fails, ok } from "./support/api.js";
import { NodePeer, channel, connection, counters, until } from "./support/node-peer.js";

// The cluster as media nodes and operators see it: simulated nodes open real control links,
// the tests drive the cluster API and check what the nodes are told. One cluster store per
// file, so the steps below build on each other in order.

const MEMBER_KEYS = [
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
];

async function nodes(all = false): Promise<any[]> {
  return ok("ListClusterNodes", all ? { include_all_known_nodes: true } : {});
}

async function connectedOf(name: string): Promise<boolean | undefined> {
  return (await nodes(true)).find((n) => n.node_name === name)?.connected;
}

/** A signaling client at the edge: sends `first`, collects messages until the close. */
async function signaling(first: string): Promise<{ messages: any[]; code: number; reason: string }> {
  const res = await SELF.fetch("http://edge.test/signaling", { headers: { upgrade: "websocket" } });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  ws.accept();
  const messages: any[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })),
  );
  ws.addEventListener("message", (e) => {
    messages.push(JSON.parse(e.data as string));
  });
  ws.send(first);
  const { code, reason } = await closed;
  return { messages, code, reason };
}

const connect = (channel_id: string) => JSON.stringify({ type: "connect", role: "sendrecv", channel_id, sdp: "v=0" });

let a: NodePeer;
let b: NodePeer;
let k: NodePeer;

describe("with no media node", () => {
  it("closes /signaling with 4503 and a reason", async () => {
    const { messages, code, reason } = await signaling(connect("early"));
    expect(messages).toEqual([]);
    expect(code).toBe(4503);
    expect(reason).toMatch(/NO-MEDIA-NODE/);
  });

  it("answers GetMode `initial`, refuses ChangeMode and GenerateCrashLog", async () => {
    expect(await ok("GetMode")).toEqual({ mode: "initial" });
    await fails("ChangeMode", { mode: "normal" }, "NO-CLUSTER-MEMBER");
    await fails("GenerateCrashLog", {}, "NO-CONNECTED-NODE");
  });
});

describe("membership", () => {
  it("forms a one-node cluster with the first node, and admits the next by majority", async () => {
    a = await NodePeer.connect("a@host");
    expect(a.welcome).toEqual({ type: "welcome", node_name: "a@host", member: true, epoch: 1, mode: "normal", batches: true });
    b = await NodePeer.connect("b@host", { mode: "block_new_connection" });
    // A new node keeps its own mode (nothing stored for it yet).
    expect(b.welcome).toEqual({ type: "welcome", node_name: "b@host", member: true, epoch: 1, mode: "block_new_connection", batches: true });
    const list = await nodes();
    expect(list.map((n) => n.node_name)).toEqual(["a@host", "b@host"]);
    for (const n of list) expect(Object.keys(n).sort()).toEqual(MEMBER_KEYS);
    expect(list[0]).toEqual({
      node_name: "a@host",
      epoch: 1,
      external_signaling_url: a.signalingUrl,
      external_api_url: null,
      version: "2025.2.0",
      license_max_nodes: null,
      license_max_connections: null,
      license_serial_code: null,
      license_type: null,
      connected: true,
      mode: "normal",
    });
  });

  it("keeps a node without auto_join as known only", async () => {
    k = await NodePeer.connect("k@host", { auto_join: false });
    expect(k.welcome).toMatchObject({ member: false, epoch: 0 });
    expect((await nodes()).map((n) => n.node_name)).not.toContain("k@host");
    expect((await nodes(true)).find((n) => n.node_name === "k@host")).toEqual({ node_name: "k@host", connected: true });
  });

  it("refuses a second live link with the same node name", async () => {
    const twin = await NodePeer.connect("a@host");
    expect(twin.refused).toMatch(/already has a live link/);
    await until("twin closed", () => twin.closed);
    expect(await connectedOf("a@host")).toBe(true);
  });

  it("JoinCluster: the contact must be a connected member; the named node joins", async () => {
    await fails("JoinCluster", { contact_node_name: "nobody@host" }, "NODE-NOT-FOUND");
    await fails("JoinCluster", { contact_node_name: "k@host" }, "NOT-CLUSTER-MEMBER");
    expect(await ok("JoinCluster", { contact_node_name: "a@host", node_name: "k@host" })).toEqual({
      node_name_list: ["a@host", "b@host", "k@host"],
    });
    await until("k welcomed as member", () => k.welcome?.member);
    expect(k.welcome).toMatchObject({ member: true, epoch: 1 });
  });

  it("InitCluster forms the cluster from exactly the list; the rest become known only", async () => {
    await fails("InitCluster", { node_name_list: ["a@host", "ghost@host"] }, "NODE-NOT-FOUND");
    expect(await ok("InitCluster", { node_name_list: ["b@host", "a@host"] })).toEqual({ node_name_list: ["a@host", "b@host"] });
    expect((await nodes()).map((n) => [n.node_name, n.epoch])).toEqual([
      ["a@host", 1],
      ["b@host", 1],
    ]);
    await until("k told it is no member", () => k.welcome?.member === false);
    // JoinCluster without node_name: every connected non-member joins.
    expect(await ok("JoinCluster", { contact_node_name: "b@host" })).toEqual({ node_name_list: ["a@host", "b@host", "k@host"] });
    expect((await nodes()).find((n) => n.node_name === "k@host").epoch).toBe(2);
  });
});

describe("modes", () => {
  it("changes one node's mode with node_name, commanding it; GetMode reports the difference", async () => {
    expect(await ok("ChangeMode", { mode: "block_new_session", node_name: "b@host" })).toEqual({ mode: "block_new_session" });
    expect(b.commandsNamed("change_mode").at(-1)).toEqual({ name: "change_mode", mode: "block_new_session" });
    expect(a.commandsNamed("change_mode")).toEqual([]);
    expect(await ok("GetMode", { node_name: "b@host" })).toEqual({ mode: "block_new_session" });
    expect(await ok("GetMode")).toEqual({
      mode: "block_new_session",
      modes: { "a@host": "normal", "b@host": "block_new_session", "k@host": "normal" },
    });
    await fails("GetMode", { node_name: "ghost@host" }, "NODE-NOT-FOUND");
  });

  it("re-sends the stored mode in the welcome after a reconnect (and the member rejoins: epoch + 1)", async () => {
    await b.close();
    await until("b disconnected", async () => (await connectedOf("b@host")) === false);
    b = await NodePeer.connect("b@host", { mode: "normal" });
    expect(b.welcome).toEqual({ type: "welcome", node_name: "b@host", member: true, epoch: 2, mode: "block_new_session", batches: true });
    expect((await nodes()).find((n) => n.node_name === "b@host")).toMatchObject({ mode: "block_new_session", epoch: 2, connected: true });
  });

  it("changes every member's mode without node_name", async () => {
    expect(await ok("ChangeMode", { mode: "block_new_connection" })).toEqual({ mode: "block_new_connection" });
    for (const peer of [a, b, k]) expect(peer.commandsNamed("change_mode").at(-1)).toEqual({ name: "change_mode", mode: "block_new_connection" });
    expect(await ok("GetMode")).toEqual({ mode: "block_new_connection" });
    await ok("ChangeMode", { mode: "normal" });
    expect(await ok("GetMode")).toEqual({ mode: "normal" });
  });

  it("answers NODE-UNREACHABLE (fast, no hang) when a node does not ack", async () => {
    a.answer = () => null;
    const started = Date.now();
    const body = await fails("ChangeMode", { mode: "block_new_session" }, "NODE-UNREACHABLE");
    expect(body.error_reason).toEqual({ node_name_list: ["a@host"], stored: true });
    expect(Date.now() - started).toBeLessThan(3_000);
    a.answer = (c) => ({ ok: true, result: c.name === "get_counters" ? counters() : {} });
    await ok("ChangeMode", { mode: "normal" });
  });
});

describe("liveness and purge", () => {
  it("PurgeClusterNode refuses a live node with NODE-IS-ALIVE and an unknown one with NODE-NOT-FOUND", async () => {
    expect(await fails("PurgeClusterNode", { target_node_name: "a@host" }, "NODE-IS-ALIVE")).toEqual({
      error_type: "NODE-IS-ALIVE",
      error_reason: { target_node: "a@host" },
    });
    await fails("PurgeClusterNode", { target_node_name: "ghost@host" }, "NODE-NOT-FOUND");
  });

  it("shows a node that stopped pinging as disconnected, then purges it with its channels", async () => {
    const c = await NodePeer.connect("c@host", {
      channels: [channel("on-c", [connection("C1")])],
      counters: { total_connection_created: 3, total_ongoing_connections: 7 },
    });
    expect((await ok("ListClusterChannels")).find((ch: any) => ch.channel_id === "on-c").owners[0]).toEqual({
      node_name: "c@host",
      epoch: 1,
      epoch_latest: 1,
      connected: true,
    });
    c.stopPinging(); // a SIGKILLed process: no close frame, just silence
    const silentSince = Date.now();
    await until("c disconnected", async () => (await connectedOf("c@host")) === false, 6_000);
    expect(Date.now() - silentSince).toBeGreaterThan(1_000); // the test liveness timeout is 1.5 s
    await until("c's socket closed by the edge", () => c.closed);
    expect(c.closed?.code).toBe(4408);

    // Counters of a dead node keep their history but count no ongoing connection.
    a.answer = (cmd) =>
      cmd.name === "get_counters"
        ? {
            ok: true,
            result: counters({
              total_connection_created: 5,
              total_connection_destroyed: 2,
              total_successful_connections: 4,
              total_ongoing_connections: 2,
              total_duration_msec: 10_000,
              total_setup_time_msec: 400,
            }),
          }
        : { ok: true, result: {} };
    const report = await ok("GetStatsReport");
    expect(report).toMatchObject({
      version: "2025.2.0",
      total_connection_created: 8,
      total_ongoing_connections: 2,
      total_duration_sec: 10,
      average_duration_sec: 5,
      average_setup_time_msec: 100,
    });
    expect(report.cluster).toMatchObject({ store: "durable-object", members: 4, connected_members: 3, known_nodes: 4, epoch_max: 2 });
    expect(report.cluster.nodes_answered).toBe(3);

    expect(await ok("PurgeClusterNode", { target_node_name: "c@host" })).toEqual({ target_node_name: "c@host" });
    expect((await nodes(true)).map((n) => n.node_name)).not.toContain("c@host");
    expect((await ok("ListClusterChannels")).map((ch: any) => ch.channel_id)).not.toContain("on-c");
    await fails("ListSignalingNotifyMetadata", { channel_id: "on-c" }, "CHANNEL-NOT-FOUND");
  });

  it("purges a node whose socket closed", async () => {
    const d = await NodePeer.connect("d@host");
    await d.close();
    await until("d disconnected", async () => (await connectedOf("d@host")) === false);
    expect(await ok("PurgeClusterNode", { target_node_name: "d@host" })).toEqual({ target_node_name: "d@host" });
  });

  it("refuses a purge without a majority of the remaining members", async () => {
    // Members a, b, k, e; with b and k gone, purging e leaves a alone among {a, b, k}: 1 of 3.
    const e = await NodePeer.connect("e@host");
    await e.close();
    await b.close();
    await k.close();
    await until("b, k down", async () => (await connectedOf("b@host")) === false && (await connectedOf("k@host")) === false);
    await fails("PurgeClusterNode", { target_node_name: "e@host" }, "NO-QUORUM");
    b = await NodePeer.connect("b@host");
    k = await NodePeer.connect("k@host");
    expect(await ok("PurgeClusterNode", { target_node_name: "e@host" })).toEqual({ target_node_name: "e@host" });
  });
});

describe("crash logs", () => {
  it("commands every connected node, or the one named", async () => {
    expect(await ok("GenerateCrashLog", { info: { why: "test" } })).toEqual({});
    for (const peer of [a, b, k]) expect(peer.commandsNamed("generate_crash_log").at(-1)).toEqual({ name: "generate_crash_log", info: { why: "test" } });
    expect(await ok("GenerateCrashLog", { node_name: "b@host" })).toEqual({});
    expect(b.commandsNamed("generate_crash_log")).toHaveLength(2);
    expect(a.commandsNamed("generate_crash_log")).toHaveLength(1);
    await fails("GenerateCrashLog", { node_name: "ghost@host" }, "NODE-NOT-FOUND");
  });
});

describe("placement and the signaling redirect", () => {
  it("places a new channel on the asking node, and redirects another node to the owner", async () => {
    expect(await a.place("room")).toEqual({ type: "response", id: 1, owner: "a@host" });
    expect(await b.place("room")).toMatchObject({ owner: "a@host", redirect_url: a.signalingUrl });
    // The owner asking again keeps it.
    expect(await a.place("room")).toMatchObject({ owner: "a@host" });
    expect((await a.place("room")).redirect_url).toBeUndefined();
  });

  it("redirects /signaling to the channel's owner", async () => {
    a.send({ type: "session.created", channel: channel("room", [connection("R1")]) });
    await until("room listed", async () => (await ok("ListChannels")).length > 0);
    const { messages, code } = await signaling(connect("room"));
    expect(messages).toEqual([{ type: "redirect", location: a.signalingUrl }]);
    expect(code).toBe(1000);
  });

  it("sends a new channel to the least loaded connected member in normal mode", async () => {
    a.send({ type: "counters", counters: counters({ total_ongoing_connections: 9 }) });
    b.send({ type: "counters", counters: counters({ total_ongoing_connections: 1 }) });
    k.send({ type: "counters", counters: counters({ total_ongoing_connections: 0 }) });
    await ok("ChangeMode", { mode: "block_new_session", node_name: "k@host" });
    await until("counters stored", async () => (await signaling(connect("fresh"))).messages[0]?.location === b.signalingUrl);
    await ok("ChangeMode", { mode: "normal", node_name: "k@host" });
    expect((await signaling(connect("fresh"))).messages).toEqual([{ type: "redirect", location: k.signalingUrl }]);
  });

  it("places a channel whose owner is gone afresh: on the least loaded member, which the asker is sent to", async () => {
    await a.close();
    await until("a down", async () => (await connectedOf("a@host")) === false);
    // Loads: b 1 connection, k none (a is gone) — k takes the channel, b's client is redirected.
    expect(await b.place("room")).toMatchObject({ owner: "k@host", redirect_url: k.signalingUrl });
    expect(await k.place("room")).toMatchObject({ owner: "k@host" });
    expect((await k.place("room")).redirect_url).toBeUndefined();
    // The claim holds for the other nodes too.
    expect(await b.place("room")).toMatchObject({ owner: "k@host", redirect_url: k.signalingUrl });
  });

  it("closes /signaling with 4400 on a malformed first message", async () => {
    for (const first of ["not json", JSON.stringify({ type: "offer" }), JSON.stringify({ type: "connect", channel_id: "" })]) {
      const { messages, code, reason } = await signaling(first);
      expect(messages).toEqual([]);
      expect(code).toBe(4400);
      expect(reason).toMatch(/INVALID-MESSAGE/);
    }
  });
});

describe("control link hygiene", () => {
  it("refuses a link whose first message is not a valid hello", async () => {
    for (const first of ["garbage", JSON.stringify({ type: "counters", counters: {} }), JSON.stringify({ type: "hello", protocol_version: 99 })]) {
      const res = await SELF.fetch("http://edge.test/node?node_name=garbage%40host", { headers: { upgrade: "websocket" } });
      const ws = res.webSocket!;
      ws.accept();
      const messages: string[] = [];
      ws.addEventListener("message", (e) => {
        messages.push(e.data as string);
      });
      const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
      ws.send(first);
      expect(await closed, first).toBe(4400);
      expect(JSON.parse(messages[0]!)).toMatchObject({ type: "refused" });
    }
  });

  it("ignores a linked node's malformed frame and keeps the link", async () => {
    const peer = await NodePeer.connect("hygiene@host");
    peer.ws.send("{not json");
    peer.ws.send(JSON.stringify({ type: "no-such-report" }));
    expect(await peer.place("hygiene-room")).toMatchObject({ owner: "hygiene@host" });
    expect(peer.closed).toBeNull();
    await peer.close();
  });

  it("applies a node's reports in the node's order (seq) when they arrive swapped, and does not stall on a lost number", async () => {
    const peer = await NodePeer.connect("order@host");
    const first = peer.nextSeq;
    peer.nextSeq += 2;
    peer.send({ type: "connection.created", seq: first + 1, channel_id: "ordered", session_id: "session-ordered", connection: connection("LATE") });
    peer.send({ type: "session.created", seq: first, channel: channel("ordered", [connection("EARLY")]) });
    const list = await until("both connections", async () => {
      const res = await ok("ListSignalingNotifyMetadata", { channel_id: "ordered" }).catch(() => []);
      return res.length === 2 ? res : null;
    });
    expect(list.map((c: any) => c.connection_id).sort()).toEqual(["EARLY", "LATE"]);

    // A frame that fails validation still frees its number; one that is not even JSON holds the
    // line only until the gap timeout.
    peer.ws.send(JSON.stringify({ type: "no-such-report", seq: peer.nextSeq++ }));
    expect(await peer.place("ordered")).toMatchObject({ owner: "order@host" });
    peer.nextSeq++; // the number of the unparseable frame below
    peer.ws.send("{lost");
    const started = Date.now();
    expect(await peer.place("ordered")).toMatchObject({ owner: "order@host" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(peer.closed).toBeNull();
    await peer.close();
  });
});
