import { beforeAll, describe, expect, it } from "vitest";
import { api, fails, ok } from "./support/api.js";
import { NodePeer, channel, connection, connectionStats, defaultAnswer, until } from "./support/node-peer.js";

// Connection and channel management (Sora's Disconnect*, Push*, List(Channel)Connections,
// GetStatsConnection, RequestKeyFrame, spotlight focus): the edge checks the call against what
// the owner node reported, then commands the node; the simulated node records each command.

const CH = "room";
const SPOT = "stage";
const S = "SENDER0000000000000000000A"; // sendrecv, client "alice"
const R = "RECEIVER00000000000000000B"; // recvonly, client "alice" too (a second device)
const T = "TALKER0000000000000000000C"; // sendonly in the spotlight channel

let node: NodePeer;
const lastCommand = () => node.commands.at(-1);

beforeAll(async () => {
  node = await NodePeer.connect("mgmt@host", {
    channels: [
      channel(CH, [
        connection(S, { client_id: "alice", created_at: 1_700_000_000_123, audio: true, video: true }),
        connection(R, { client_id: "alice", role: "recvonly", created_at: 1_700_000_001_000, audio: true, video: false }),
      ]),
      channel(SPOT, [connection(T, { role: "sendonly", spotlight: true, simulcast: true })], { spotlight: true, simulcast: true }),
    ],
  });
});

describe("listing connections", () => {
  it("lists one channel's connections in Sora's shape", async () => {
    expect(await ok("ListChannelConnections", { channel_id: CH })).toEqual([
      {
        channel_id: CH,
        client_id: "alice",
        bundle_id: `bundle-${S}`,
        connection_id: S,
        role: "sendrecv",
        audio: true,
        video: true,
        simulcast: false,
        spotlight: false,
        multistream: true,
        created_time: 1_700_000_000,
      },
      {
        channel_id: CH,
        client_id: "alice",
        bundle_id: `bundle-${R}`,
        connection_id: R,
        role: "recvonly",
        audio: true,
        video: false,
        simulcast: false,
        spotlight: false,
        multistream: true,
        created_time: 1_700_000_001,
      },
    ]);
    await fails("ListChannelConnections", { channel_id: "nowhere" }, "CHANNEL-NOT-FOUND");
  });

  it("lists every channel's connections; a connection reported without audio/video counts as having both", async () => {
    const all = await ok("ListConnections");
    expect(all.map((c: { connection_id: string }) => c.connection_id).sort()).toEqual([R, S, T].sort());
    expect(all.find((c: { connection_id: string }) => c.connection_id === T)).toMatchObject({ channel_id: SPOT, spotlight: true, audio: true, video: true });
  });
});

describe("disconnect", () => {
  it("commands the node with the target and the API's reason", async () => {
    expect(await ok("DisconnectConnection", { channel_id: CH, connection_id: S, reason: { why: "kick" } })).toEqual({ channel_id: CH, connection_id: S });
    expect(lastCommand()).toEqual({ name: "disconnect", channel_id: CH, connection_id: S, reason: { why: "kick" } });
    expect(await ok("DisconnectClient", { channel_id: CH, client_id: "alice" })).toEqual({ channel_id: CH, client_id: "alice" });
    expect(lastCommand()).toEqual({ name: "disconnect", channel_id: CH, client_id: "alice" });
    expect(await ok("DisconnectChannelByRole", { channel_id: CH, role: "sendonly" })).toEqual({ channel_id: CH, role: "sendonly" });
    expect(lastCommand()).toEqual({ name: "disconnect", channel_id: CH, role: "sendonly" });
    expect(await ok("DisconnectChannel", { channel_id: CH, reason: { type: "normal" } })).toEqual({ channel_id: CH });
    expect(lastCommand()).toEqual({ name: "disconnect", channel_id: CH, reason: { type: "normal" } });
  });

  it("answers Sora's errors for an unknown channel, connection or client without bothering the node", async () => {
    const before = node.commands.length;
    expect((await fails("DisconnectConnection", { channel_id: CH, connection_id: "NOPE" }, "CONNECTION-NOT-FOUND")).error_reason).toEqual({
      channel_id: CH,
      connection_id: "NOPE",
    });
    await fails("DisconnectConnection", { channel_id: "nowhere", connection_id: S }, "CHANNEL-NOT-FOUND");
    await fails("DisconnectChannel", { channel_id: "nowhere" }, "CHANNEL-NOT-FOUND");
    await fails("DisconnectChannelByRole", { channel_id: "nowhere", role: "sendrecv" }, "CHANNEL-NOT-FOUND");
    expect((await fails("DisconnectClient", { channel_id: CH, client_id: "bob" }, "CLIENT-NOT-FOUND")).error_reason).toEqual({
      channel_id: CH,
      client_id: "bob",
    });
    expect(node.commands.length).toBe(before);
  });

  it("passes the node's own not-found through (a connection that left meanwhile) as a 400", async () => {
    node.answer = (command) => (command.name === "disconnect" ? { ok: false, error_type: "CONNECTION-NOT-FOUND", error_reason: { connection_id: S } } : defaultAnswer(command));
    await fails("DisconnectConnection", { channel_id: CH, connection_id: S }, "CONNECTION-NOT-FOUND");
    node.answer = defaultAnswer;
  });

  it("a connection the node reports destroyed leaves the lists", async () => {
    node.send({ type: "connection.destroyed", channel_id: CH, session_id: `session-${CH}`, connection_id: R });
    await until("R gone", async () => (await ok("ListChannelConnections", { channel_id: CH })).length === 1);
    await fails("DisconnectConnection", { channel_id: CH, connection_id: R }, "CONNECTION-NOT-FOUND");
    node.send({ type: "connection.created", channel_id: CH, session_id: `session-${CH}`, connection: connection(R, { client_id: "alice", role: "recvonly" }) });
    await until("R back", async () => (await ok("ListChannelConnections", { channel_id: CH })).length === 2);
  });
});

describe("push", () => {
  it("answers the push message and commands the node with the matching selector", async () => {
    const data = { spam: "egg" };
    expect(await ok("PushChannel", { channel_id: CH, data })).toEqual({ type: "push", data });
    expect(lastCommand()).toEqual({ name: "push", channel_id: CH, data });
    expect(await ok("PushClient", { channel_id: CH, client_id: "alice", data })).toEqual({ type: "push", data });
    expect(lastCommand()).toEqual({ name: "push", channel_id: CH, client_id: "alice", data });
    expect(await ok("PushConnection", { channel_id: CH, connection_id: R, data })).toEqual({ type: "push", data });
    expect(lastCommand()).toEqual({ name: "push", channel_id: CH, connection_ids: [R], data });
    expect(await ok("PushChannelByRole", { channel_id: CH, role: "recvonly", data })).toEqual({ type: "push", data });
    expect(lastCommand()).toEqual({ name: "push", channel_id: CH, role: "recvonly", data });
  });

  it("refuses unknown targets", async () => {
    const before = node.commands.length;
    await fails("PushChannel", { channel_id: "nowhere", data: {} }, "CHANNEL-NOT-FOUND");
    await fails("PushConnection", { channel_id: CH, connection_id: "NOPE", data: {} }, "CONNECTION-NOT-FOUND");
    await fails("PushClient", { channel_id: CH, client_id: "bob", data: {} }, "CLIENT-NOT-FOUND");
    await fails("PushChannelByRole", { channel_id: "nowhere", role: "sendonly", data: {} }, "CHANNEL-NOT-FOUND");
    expect(node.commands.length).toBe(before);
  });
});

describe("stats and keyframes", () => {
  it("GetStatsConnection answers the node's counters", async () => {
    expect(await ok("GetStatsConnection", { channel_id: CH, connection_id: S })).toEqual(connectionStats(CH, S));
    expect(lastCommand()).toEqual({ name: "get_connection_stats", channel_id: CH, connection_id: S });
    await fails("GetStatsConnection", { channel_id: CH, connection_id: "NOPE" }, "CONNECTION-NOT-FOUND");
    await fails("GetStatsConnection", { channel_id: "nowhere", connection_id: S }, "CHANNEL-NOT-FOUND");
  });

  it("GetStatsClient answers every connection of that client_id; GetStatsAllConnections every live one", async () => {
    const alice = await ok("GetStatsClient", { channel_id: CH, client_id: "alice" });
    expect(alice).toHaveLength(2);
    expect(alice).toEqual(expect.arrayContaining([connectionStats(CH, S), connectionStats(CH, R)]));
    await fails("GetStatsClient", { channel_id: CH, client_id: "bob" }, "CLIENT-NOT-FOUND");
    await fails("GetStatsClient", { channel_id: "nowhere", client_id: "alice" }, "CHANNEL-NOT-FOUND");
    const all = await ok("GetStatsAllConnections");
    expect(all).toEqual(expect.arrayContaining([connectionStats(CH, S), connectionStats(CH, R), connectionStats(SPOT, T)]));
    // A connection that left while its node was asked is left out, not an error.
    node.answer = (command) =>
      command.name === "get_connection_stats" && command.connection_id === R
        ? { ok: false, error_type: "CONNECTION-NOT-FOUND", error_reason: { connection_id: R } }
        : defaultAnswer(command);
    expect(await ok("GetStatsClient", { channel_id: CH, client_id: "alice" })).toEqual([connectionStats(CH, S)]);
    node.answer = defaultAnswer;
  });

  it("ListRtcStats / ListChannelRtcStats / GetRtcStats are the user-agent stats calls under Sora's current names", async () => {
    node.send({ type: "user_agent_stats", channel_id: CH, connection_id: S, timestamp: "2026-01-02T03:04:05.000Z", stats: [{ type: "inbound-rtp" }] });
    const got = await until("stats stored", async () => {
      const res = await api("GetRtcStats", { channel_id: CH, connection_id: S });
      return res.status === 200 ? res.body : undefined;
    });
    expect(got).toEqual(await ok("GetUserAgentStats", { channel_id: CH, connection_id: S }));
    expect(got).toMatchObject({ channel_id: CH, connection_id: S, stats: [{ type: "inbound-rtp" }] });
    expect(await ok("ListChannelRtcStats", { channel_id: CH })).toEqual(await ok("ListChannelUserAgentStats", { channel_id: CH }));
    expect(await ok("ListRtcStats")).toEqual(await ok("ListUserAgentStats"));
    await fails("GetRtcStats", { channel_id: CH, connection_id: R }, "USER-AGENT-STATS-NOT-FOUND");
  });

  it("a malformed stats answer from a node is a 400, not a 500", async () => {
    node.answer = (command) => (command.name === "get_connection_stats" ? { ok: true, result: { rtp: "lots" } } : defaultAnswer(command));
    await fails("GetStatsConnection", { channel_id: CH, connection_id: S }, "NODE-COMMAND-FAILED");
    node.answer = defaultAnswer;
  });

  it("RequestKeyFrame commands the sender's node; a receiver is NOT-A-SENDER", async () => {
    expect(await ok("RequestKeyFrame", { channel_id: CH, connection_id: S })).toEqual({ channel_id: CH, connection_id: S });
    expect(lastCommand()).toEqual({ name: "request_key_frame", channel_id: CH, connection_id: S });
    node.answer = (command) => (command.name === "request_key_frame" ? { ok: false, error_type: "NOT-A-SENDER" } : defaultAnswer(command));
    await fails("RequestKeyFrame", { channel_id: CH, connection_id: R }, "NOT-A-SENDER");
    node.answer = defaultAnswer;
    await fails("RequestKeyFrame", { channel_id: CH, connection_id: "NOPE" }, "CONNECTION-NOT-FOUND");
    await fails("RequestKeyFrame", { channel_id: "nowhere", connection_id: S }, "CHANNEL-NOT-FOUND");
  });
});

describe("spotlight", () => {
  it("commands focus changes and the focus number on a spotlight session", async () => {
    for (const [name, focus] of [["FocusSpotlightFixed", "fixed"], ["FocusSpotlight", "focus"], ["UnfocusSpotlight", "unfocus"]] as const) {
      expect(await ok(name, { channel_id: SPOT, connection_id: T })).toEqual({ channel_id: SPOT, connection_id: T });
      expect(lastCommand()).toEqual({ name: "set_spotlight_focus", channel_id: SPOT, connection_id: T, focus });
    }
    expect(await ok("ChangeSpotlightNumber", { channel_id: SPOT, spotlight_number: 3 })).toEqual({ channel_id: SPOT, spotlight_number: 3 });
    expect(lastCommand()).toEqual({ name: "change_spotlight_number", channel_id: SPOT, spotlight_number: 3 });
  });

  it("refuses a session without spotlight, unknown connections, and passes SPOTLIGHT-NO-ROOM through", async () => {
    const before = node.commands.length;
    await fails("FocusSpotlight", { channel_id: CH, connection_id: S }, "SPOTLIGHT-NOT-ENABLED");
    await fails("ChangeSpotlightNumber", { channel_id: CH, spotlight_number: 2 }, "SPOTLIGHT-NOT-ENABLED");
    await fails("UnfocusSpotlight", { channel_id: SPOT, connection_id: "NOPE" }, "CONNECTION-NOT-FOUND");
    await fails("FocusSpotlightFixed", { channel_id: "nowhere", connection_id: T }, "CHANNEL-NOT-FOUND");
    expect(node.commands.length).toBe(before);
    node.answer = (command) => (command.name === "set_spotlight_focus" ? { ok: false, error_type: "SPOTLIGHT-NO-ROOM" } : defaultAnswer(command));
    await fails("FocusSpotlightFixed", { channel_id: SPOT, connection_id: T }, "SPOTLIGHT-NO-ROOM");
    node.answer = defaultAnswer;
  });

  it("answers NODE-UNREACHABLE when the owner does not ack a disconnect", async () => {
    node.answer = () => null;
    await fails("DisconnectChannel", { channel_id: SPOT }, "NODE-UNREACHABLE");
    node.answer = defaultAnswer;
  });
});
