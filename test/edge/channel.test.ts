import { describe, expect, it } from "vitest";
import { api, fails, ok } from "./support/api.js";
import { NodePeer, channel, connection, defaultAnswer, until } from "./support/node-peer.js";

// Per-channel API calls: the edge checks them against what the owner node reported, commands the
// node with the channel's full new state, and stores it once the node has acked. The simulated
// node records each command, so the tests see exactly what a real node would be told.

const CH = "room";
const S = "SENDER0000000000000000000A"; // sendrecv, carries metadata
const R = "RECEIVER00000000000000000B"; // recvonly
const X = "LATE000000000000000000000C"; // joins later

let node: NodePeer;

const lastCommand = () => node.commands.at(-1);

describe("session and connections from the node's reports", () => {
  it("learns a session and its connections", async () => {
    node = await NodePeer.connect("n@host");
    await fails("ListSignalingNotifyMetadata", { channel_id: CH }, "CHANNEL-NOT-FOUND");
    node.send({
      type: "session.created",
      channel: channel(CH, [connection(S, { signaling_notify_metadata: { n: 1 } }), connection(R, { role: "recvonly" })]),
    });
    node.send({ type: "connection.created", channel_id: CH, session_id: `session-${CH}`, connection: connection(X) });
    // Reports are asynchronous: poll until the edge has applied them.
    await until("three connections", async () => {
      const res = await api("ListSignalingNotifyMetadata", { channel_id: CH });
      return res.status === 200 && res.body.length === 3;
    });
    const list = await ok("ListSignalingNotifyMetadata", { channel_id: CH });
    expect(list).toContainEqual({ connection_id: S, client_id: `client-${S}`, bundle_id: `bundle-${S}`, metadata: { n: 1 } });
    expect(list).toContainEqual({ connection_id: R, client_id: `client-${R}`, bundle_id: `bundle-${R}`, metadata: {} });
    expect(await ok("ListChannels")).toEqual([{ channel_id: CH, multistream: true, spotlight: false }]);
    expect(await ok("ListClusterChannels")).toEqual([
      { channel_id: CH, owners: [{ node_name: "n@host", epoch: 1, epoch_latest: 1, connected: true }] },
    ]);
  });

  it("answers CONNECTION-NOT-FOUND without bothering the node", async () => {
    const before = node.commands.length;
    const body = await fails("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: "NOPE" }, "CONNECTION-NOT-FOUND");
    expect(body.error_reason).toEqual({ channel_id: CH, connection_id: "NOPE" });
    await fails("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: "NOPE", metadata: {} }, "CONNECTION-NOT-FOUND");
    await fails("PauseRtpStream", { channel_id: CH, recv_connection_id: R, send_connection_id: "NOPE" }, "CONNECTION-NOT-FOUND");
    await fails("ChangeUpstreamVideoBitRate", { channel_id: "other", connection_id: S, bit_rate: 100 }, "CHANNEL-NOT-FOUND");
    expect(node.commands.length).toBe(before);
  });
});

describe("signaling notify metadata", () => {
  it("Put with push: the node gets the full metadata and the push; the answer is the metadata after", async () => {
    expect(await ok("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: S, metadata: { a: 1 }, push: true })).toEqual({ a: 1 });
    expect(lastCommand()).toEqual({
      name: "set_notify_metadata",
      channel_id: CH,
      connection_id: S,
      metadata: { a: 1 },
      push: { type: "signaling_notify_metadata_ext", action: "PutMetadata", connection_id: S, metadata: { a: 1 } },
    });
  });

  it("items: put (no push unless asked), get, delete (absent key is no error)", async () => {
    expect(await ok("PutSignalingNotifyMetadataItem", { channel_id: CH, connection_id: S, key: "b", value: [2] })).toEqual({ a: 1, b: [2] });
    expect(lastCommand()).toEqual({ name: "set_notify_metadata", channel_id: CH, connection_id: S, metadata: { a: 1, b: [2] } });
    expect(await ok("PutSignalingNotifyMetadataItem", { channel_id: CH, connection_id: S, key: "nul", value: null, push: true })).toEqual({
      a: 1,
      b: [2],
      nul: null,
    });
    expect(lastCommand()).toMatchObject({
      push: { type: "signaling_notify_metadata_ext", action: "PutMetadataItem", connection_id: S, key: "nul", value: null },
    });
    expect(await ok("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: S })).toEqual({ a: 1, b: [2], nul: null });
    expect(await ok("DeleteSignalingNotifyMetadataItem", { channel_id: CH, connection_id: S, key: "a", push: true })).toEqual({ b: [2], nul: null });
    expect(lastCommand()).toMatchObject({ push: { action: "DeleteMetadataItem", connection_id: S, key: "a" } });
    expect(await ok("DeleteSignalingNotifyMetadataItem", { channel_id: CH, connection_id: S, key: "absent" })).toEqual({ b: [2], nul: null });
    expect(await ok("ListSignalingNotifyMetadata", { channel_id: CH })).toContainEqual({
      connection_id: S,
      client_id: `client-${S}`,
      bundle_id: `bundle-${S}`,
      metadata: { b: [2], nul: null },
    });
  });

  it("Delete answers the metadata before and leaves none", async () => {
    expect(await ok("DeleteSignalingNotifyMetadata", { channel_id: CH, connection_id: S, push: true })).toEqual({ b: [2], nul: null });
    expect(lastCommand()).toEqual({
      name: "set_notify_metadata",
      channel_id: CH,
      connection_id: S,
      push: { type: "signaling_notify_metadata_ext", action: "DeleteMetadata", connection_id: S },
    });
    expect(await ok("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: S })).toEqual({});
    expect(await ok("DeleteSignalingNotifyMetadata", { channel_id: CH, connection_id: S })).toEqual({});
  });

  it("stores nothing when the node refuses, and passes its error type on", async () => {
    node.answer = () => ({ ok: false, error_type: "CONNECTION-NOT-FOUND", error_reason: { connection_id: S } });
    const body = await fails("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: S, metadata: { lost: true } }, "CONNECTION-NOT-FOUND");
    expect(body.error_reason).toEqual({ connection_id: S, node_name: "n@host" });
    node.answer = () => ({ ok: false, error_type: "SOMETHING-ODD" });
    const odd = await fails("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: S, metadata: { lost: true } }, "NODE-COMMAND-FAILED");
    expect(odd.error_reason).toEqual({ node_name: "n@host", node_error_type: "SOMETHING-ODD" });
    node.answer = () => ({ ok: true });
    expect(await ok("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: S })).toEqual({});
  });

  it("refuses item calls on metadata that is not an object", async () => {
    node.send({ type: "connection.created", channel_id: CH, session_id: `session-${CH}`, connection: connection("STRINGMETA", { signaling_notify_metadata: "hello" }) });
    await until("STRINGMETA known", async () => (await ok("ListSignalingNotifyMetadata", { channel_id: CH })).length === 4);
    expect(await ok("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: "STRINGMETA" })).toBe("hello");
    await fails("PutSignalingNotifyMetadataItem", { channel_id: CH, connection_id: "STRINGMETA", key: "k", value: 1 }, "METADATA-NOT-OBJECT");
  });
});

describe("pause / resume", () => {
  it("commands the full pause set and lists pairs with the receiver's role", async () => {
    const pair = { channel_id: CH, recv_connection_id: R, send_connection_id: S };
    expect(await ok("PauseRtpStream", pair)).toEqual(pair);
    expect(lastCommand()).toEqual({ name: "set_paused_streams", channel_id: CH, paused: [{ recv_connection_id: R, send_connection_id: S }] });
    const second = { channel_id: CH, recv_connection_id: X, send_connection_id: S };
    await ok("PauseRtpStream", second);
    expect(lastCommand()).toMatchObject({ paused: [{ recv_connection_id: R }, { recv_connection_id: X }] });
    expect(await ok("ListPauseRtpStreams", { channel_id: CH })).toEqual([
      { ...pair, role: "recvonly" },
      { ...second, role: "sendrecv" },
    ]);
    expect(await ok("ResumeRtpStream", pair)).toEqual(pair);
    expect(lastCommand()).toEqual({ name: "set_paused_streams", channel_id: CH, paused: [{ recv_connection_id: X, send_connection_id: S }] });
  });

  it("drops pairs whose connection left", async () => {
    node.send({ type: "connection.destroyed", channel_id: CH, session_id: `session-${CH}`, connection_id: X });
    await until("X gone", async () => (await ok("ListPauseRtpStreams", { channel_id: CH })).length === 0);
    await fails("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: X }, "CONNECTION-NOT-FOUND");
  });

  it("a leave reported while a pause awaits the node's ack still drops the pair", async () => {
    const Y = "LEAVER0000000000000000000D";
    node.send({ type: "connection.created", channel_id: CH, session_id: `session-${CH}`, connection: connection(Y) });
    await until("Y known", async () => (await api("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: Y })).status === 200);
    node.answer = () => null; // hold the ack
    const before = node.received.length;
    const pausing = api("PauseRtpStream", { channel_id: CH, recv_connection_id: Y, send_connection_id: S });
    const held = await until("the pause command", () =>
      node.received.slice(before).find((m): m is Extract<typeof m, { type: "command" }> => m.type === "command"),
    );
    // The node reports Y's leave before it acks the pause (both orders happen on a real node).
    node.send({ type: "connection.destroyed", channel_id: CH, session_id: `session-${CH}`, connection_id: Y });
    await new Promise((r) => setTimeout(r, 100));
    node.send({ type: "ack", id: held.id, ok: true });
    node.answer = defaultAnswer;
    expect((await pausing).status).toBe(200);
    await until("Y gone", async () => (await api("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: Y })).status === 400);
    expect(await ok("ListPauseRtpStreams", { channel_id: CH })).toEqual([]);
  });
});

describe("simulcast rid requests", () => {
  it("refuses a channel without simulcast", async () => {
    await fails("RequestRtpStream", { channel_id: CH, recv_connection_id: R, send_connection_id: S, rid: "r1" }, "SIMULCAST-NOT-ENABLED");
    await fails("RequestRtpStream", { channel_id: CH, recv_connection_id: R, rid: "r1" }, "SIMULCAST-NOT-ENABLED");
  });

  it("commands the full request set on a simulcast channel: the latest call covering a pair decides it", async () => {
    node.send({ type: "session.created", channel: channel("sim", [connection("SS", { simulcast: true }), connection("ST", { simulcast: true }), connection("SR", { simulcast: true })], { simulcast: true }) });
    await until("sim known", async () => (await ok("ListChannels")).length === 2);
    const one = { channel_id: "sim", recv_connection_id: "SR", send_connection_id: "SS", rid: "r2" as const };
    expect(await ok("RequestRtpStream", one)).toEqual(one);
    expect(lastCommand()).toEqual({ name: "set_rid_requests", channel_id: "sim", requests: [{ recv_connection_id: "SR", send_connection_id: "SS", rid: "r2" }] });
    // A later request without a sender covers SS too: the per-sender one is superseded.
    expect(await ok("RequestRtpStream", { channel_id: "sim", recv_connection_id: "SR", rid: "r0" })).toEqual({
      channel_id: "sim",
      recv_connection_id: "SR",
      rid: "r0",
    });
    expect(lastCommand()).toEqual({ name: "set_rid_requests", channel_id: "sim", requests: [{ recv_connection_id: "SR", rid: "r0" }] });
    await ok("RequestRtpStream", { channel_id: "sim", recv_connection_id: "SR", send_connection_id: "ST", rid: "r1" });
    expect(lastCommand()).toEqual({
      name: "set_rid_requests",
      channel_id: "sim",
      requests: [
        { recv_connection_id: "SR", rid: "r0" },
        { recv_connection_id: "SR", send_connection_id: "ST", rid: "r1" },
      ],
    });
    // Resetting a pair that the all-senders request covers returns it to its connect-time rid
    // (an entry without rid), while the other senders stay at r0.
    expect(await ok("ResetRtpStream", { channel_id: "sim", recv_connection_id: "SR", send_connection_id: "SS" })).toEqual({
      channel_id: "sim",
      recv_connection_id: "SR",
      send_connection_id: "SS",
    });
    expect(lastCommand()).toEqual({
      name: "set_rid_requests",
      channel_id: "sim",
      requests: [
        { recv_connection_id: "SR", rid: "r0" },
        { recv_connection_id: "SR", send_connection_id: "ST", rid: "r1" },
        { recv_connection_id: "SR", send_connection_id: "SS" },
      ],
    });
    // The stored state carries on: the next call starts from it.
    await ok("ResetRtpStream", { channel_id: "sim", recv_connection_id: "SR", send_connection_id: "ST" });
    expect(lastCommand()).toEqual({
      name: "set_rid_requests",
      channel_id: "sim",
      requests: [
        { recv_connection_id: "SR", rid: "r0" },
        { recv_connection_id: "SR", send_connection_id: "SS" },
        { recv_connection_id: "SR", send_connection_id: "ST" },
      ],
    });
    await ok("ResetRtpStream", { channel_id: "sim", recv_connection_id: "SR" });
    expect(lastCommand()).toEqual({ name: "set_rid_requests", channel_id: "sim", requests: [] });
  });
});

describe("user-agent stats", () => {
  it("keeps the latest stats per connection", async () => {
    await fails("GetUserAgentStats", { channel_id: CH, connection_id: S }, "USER-AGENT-STATS-NOT-FOUND");
    node.send({ type: "user_agent_stats", channel_id: CH, connection_id: S, timestamp: "2026-01-01T00:00:00Z", stats: [{ type: "old" }] });
    node.send({ type: "user_agent_stats", channel_id: CH, connection_id: S, timestamp: "2026-01-01T00:00:05Z", stats: [{ type: "peer-connection" }] });
    node.send({ type: "user_agent_stats", channel_id: "sim", connection_id: "SS", timestamp: "2026-01-01T00:00:06Z", stats: [] });
    const one = await until("latest stats", async () => {
      const res = await ok("ListUserAgentStats");
      return res.length === 2 && res.some((e: any) => e.timestamp === "2026-01-01T00:00:05Z") ? res : false;
    });
    expect(one).toContainEqual({ channel_id: CH, connection_id: S, timestamp: "2026-01-01T00:00:05Z", user_agent_stats: [{ type: "peer-connection" }] });
    expect(await ok("ListChannelUserAgentStats", { channel_id: CH })).toEqual([
      { channel_id: CH, connection_id: S, timestamp: "2026-01-01T00:00:05Z", user_agent_stats: [{ type: "peer-connection" }] },
    ]);
    expect(await ok("GetUserAgentStats", { channel_id: CH, connection_id: S })).toEqual({
      channel_id: CH,
      connection_id: S,
      stats: [{ type: "peer-connection" }],
      timestamp: "2026-01-01T00:00:05Z",
    });
  });
});

describe("audio streaming", () => {
  it("keeps the subscriber list on the node at every change, streaming or not; start and stop once each", async () => {
    const sub = { channel_id: CH, connection_id: R };
    expect(await ok("SubscribeAudioStreamingResultPush", sub)).toEqual(sub);
    expect(lastCommand()).toEqual({ name: "set_audio_streaming_subscribers", channel_id: CH, connection_ids: [R] });
    await fails("SubscribeAudioStreamingResultPush", { channel_id: CH, connection_id: "NOBODY" }, "CONNECTION-NOT-FOUND");
    await fails("StopAudioStreaming", { channel_id: CH }, "NOT-STARTED");
    expect(await ok("StartAudioStreaming", { channel_id: CH })).toEqual({ session_id: `session-${CH}` });
    expect(lastCommand()).toEqual({ name: "start_audio_streaming", channel_id: CH });
    await fails("StartAudioStreaming", { channel_id: CH }, "ALREADY-STARTED");
    expect(await ok("UnsubscribeAudioStreamingResultPush", sub)).toEqual(sub);
    expect(lastCommand()).toEqual({ name: "set_audio_streaming_subscribers", channel_id: CH, connection_ids: [] });
    expect(await ok("StopAudioStreaming", { channel_id: CH })).toEqual({ session_id: `session-${CH}` });
    expect(lastCommand()).toEqual({ name: "stop_audio_streaming", channel_id: CH });
  });

  it("adopts what the node reports of its streaming (started on its own after the session webhook, or ended)", async () => {
    const members = [connection(S, { signaling_notify_metadata: { n: 1 } }), connection(R, { role: "recvonly" })];
    // Reports are applied in order: a later stats report marks when the snapshot has been applied.
    let mark = 0;
    const applied = async (label: string) => {
      const timestamp = new Date(Date.UTC(2026, 0, 2, 0, 0, ++mark)).toISOString();
      node.send({ type: "user_agent_stats", channel_id: CH, connection_id: R, timestamp, stats: [] });
      await until(label, async () => (await api("GetUserAgentStats", { channel_id: CH, connection_id: R })).body?.timestamp === timestamp);
    };
    node.send({ type: "session.updated", channel: channel(CH, members, { audio_streaming: true }) });
    await applied("streaming snapshot applied");
    await fails("StartAudioStreaming", { channel_id: CH }, "ALREADY-STARTED");
    expect(await ok("StopAudioStreaming", { channel_id: CH })).toEqual({ session_id: `session-${CH}` });
    expect(lastCommand()).toEqual({ name: "stop_audio_streaming", channel_id: CH });

    expect(await ok("StartAudioStreaming", { channel_id: CH })).toEqual({ session_id: `session-${CH}` });
    node.send({ type: "session.updated", channel: channel(CH, members, { audio_streaming: false }) });
    await applied("not-streaming snapshot applied");
    await fails("StopAudioStreaming", { channel_id: CH }, "NOT-STARTED");
    // A snapshot without the field (an older node) leaves the stored state alone.
    expect(await ok("StartAudioStreaming", { channel_id: CH })).toEqual({ session_id: `session-${CH}` });
    node.send({ type: "session.updated", channel: channel(CH, members) });
    await applied("snapshot without the field applied");
    expect(await ok("StopAudioStreaming", { channel_id: CH })).toEqual({ session_id: `session-${CH}` });
  });

  it("answers the node's FEATURE-NOT-AVAILABLE as a 400", async () => {
    node.answer = (c) => (c.name === "start_audio_streaming" ? { ok: false, error_type: "FEATURE-NOT-AVAILABLE", error_reason: { feature: c.name } } : { ok: true });
    const body = await fails("StartAudioStreaming", { channel_id: CH }, "FEATURE-NOT-AVAILABLE");
    expect(body.error_reason).toEqual({ feature: "start_audio_streaming", node_name: "n@host" });
    node.answer = () => ({ ok: true });
    await fails("StopAudioStreaming", { channel_id: CH }, "NOT-STARTED"); // nothing was stored
  });
});

describe("RTP forwarding and bitrate", () => {
  it("starts forwarding with the node's SDP, passes the node's refusals through, stops", async () => {
    const forwarding = new Set<string>();
    node.answer = (c) => {
      if (c.name === "start_forwarding_rtp") {
        const key = c.connection_id ?? "";
        if (forwarding.has(key)) return { ok: false, error_type: "ALREADY-STARTED" };
        forwarding.add(key);
        return { ok: true, result: { sdp: "v=0\r\n" } };
      }
      if (c.name === "stop_forwarding_rtp") {
        if (!forwarding.delete(c.connection_id ?? "")) return { ok: false, error_type: "NOT-STARTED" };
      }
      return { ok: true };
    };
    const start = { channel_id: CH, connection_id: S, ip_address: "2001:db8::1", audio_port: 5004, video_port: 5006 };
    expect(await ok("StartForwardingRtp", start)).toEqual({ sdp: "v=0\r\n" });
    expect(lastCommand()).toEqual({ name: "start_forwarding_rtp", ...start });
    await fails("StartForwardingRtp", start, "ALREADY-STARTED");
    await fails("StopForwardingRtp", { channel_id: CH }, "NOT-STARTED"); // the channel-wide one never started
    expect(await ok("StopForwardingRtp", { channel_id: CH, connection_id: S })).toEqual({ channel_id: CH, connection_id: S });
    expect(lastCommand()).toEqual({ name: "stop_forwarding_rtp", channel_id: CH, connection_id: S });
    node.answer = () => ({ ok: true });
  });

  it("changes a sender's bitrate", async () => {
    const body = { channel_id: CH, connection_id: S, bit_rate: 30000 };
    expect(await ok("ChangeUpstreamVideoBitRate", body)).toEqual(body);
    expect(lastCommand()).toEqual({ name: "change_upstream_video_bit_rate", ...body });
  });
});

describe("node link changes", () => {
  it("answers NODE-UNREACHABLE within the command timeout when the owner does not ack", async () => {
    node.answer = () => null;
    const started = Date.now();
    const body = await fails("PauseRtpStream", { channel_id: CH, recv_connection_id: R, send_connection_id: S }, "NODE-UNREACHABLE");
    expect(body.error_reason).toEqual({ node_name: "n@host" });
    expect(Date.now() - started).toBeLessThan(2_000);
    node.answer = () => ({ ok: true });
  });

  it("keeps the channel's API state across a reconnect with the same session, drops channels the node no longer has", async () => {
    await ok("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: S, metadata: { kept: true } });
    await ok("PauseRtpStream", { channel_id: CH, recv_connection_id: R, send_connection_id: S });
    await node.close();
    await fails("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: S, metadata: {} }, "NODE-UNREACHABLE");
    node = await NodePeer.connect("n@host", {
      channels: [channel(CH, [connection(S, { signaling_notify_metadata: { kept: true } }), connection(R, { role: "recvonly" })])],
    });
    expect(node.welcome).toMatchObject({ member: true, epoch: 2 });
    expect(await ok("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: S })).toEqual({ kept: true });
    expect(await ok("ListPauseRtpStreams", { channel_id: CH })).toHaveLength(1);
    expect((await ok("ListChannels")).map((c: any) => c.channel_id)).toEqual([CH]);
    await fails("ListSignalingNotifyMetadata", { channel_id: "sim" }, "CHANNEL-NOT-FOUND");
    expect((await ok("ListClusterChannels"))[0].owners[0]).toEqual({ node_name: "n@host", epoch: 2, epoch_latest: 2, connected: true });
  });

  it("forgets everything of a channel when its session ends", async () => {
    node.send({ type: "session.destroyed", channel_id: CH, session_id: `session-${CH}` });
    await until("channel gone", async () => (await ok("ListChannels")).length === 0);
    await fails("ListPauseRtpStreams", { channel_id: CH }, "CHANNEL-NOT-FOUND");
    expect(await ok("ListUserAgentStats")).toEqual([]);
    // A new session of the same channel starts clean.
    node.send({ type: "session.created", channel: channel(CH, [connection(S)], { session_id: "second" }) });
    await until("second session", async () => (await ok("ListChannels")).length === 1);
    expect(await ok("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: S })).toEqual({});
    expect(await ok("ListPauseRtpStreams", { channel_id: CH })).toEqual([]);
  });
});
