import { describe, expect, it } from "vitest";
import { api, fails, ok } from "./support/api.js";
import { NodePeer, channel, connection, until } from "./support/node-peer.js";

// A connection's DataChannel RPC, forwarded by its node: the edge applies it to the channel
// state it holds (the same checks and the same full-state command as the HTTP API), stores it
// once the node has acked, and answers the node with the JSON-RPC result or the API error.

const S = "SENDER0000000000000000000A"; // simulcast sender
const R = "RECEIVER00000000000000000B"; // the caller

describe("connection RPC through the edge", () => {
  it("RequestSimulcastRid: set_rid_requests with the full set; later API calls keep it", async () => {
    const node = await NodePeer.connect("rpc1@host");
    node.send({ type: "session.created", channel: channel("rpc-sim", [connection(S, { simulcast: true }), connection(R, { role: "recvonly" })]) });
    await until("session", async () => (await api("ListSignalingNotifyMetadata", { channel_id: "rpc-sim" })).status === 200);

    const result = await node.rpc("rpc-sim", R, { method: "RequestSimulcastRid", rid: "none", sender_connection_id: S });
    expect(result).toEqual({ type: "rpc_result", id: result.id, ok: true, result: { channel_id: "rpc-sim", receiver_connection_id: R, rid: "none", sender_connection_id: S } });
    expect(node.commandsNamed("set_rid_requests").at(-1)).toEqual({
      name: "set_rid_requests",
      channel_id: "rpc-sim",
      requests: [{ recv_connection_id: R, send_connection_id: S, rid: "none" }],
    });
    // One source of truth: an API call afterwards starts from the RPC's state.
    await ok("RequestRtpStream", { channel_id: "rpc-sim", recv_connection_id: S, rid: "r1" });
    expect(node.commandsNamed("set_rid_requests").at(-1)?.requests).toEqual([
      { recv_connection_id: R, send_connection_id: S, rid: "none" },
      { recv_connection_id: S, rid: "r1" },
    ]);

    const missing = await node.rpc("rpc-sim", R, { method: "RequestSimulcastRid", rid: "r0", sender_connection_id: "NOPE" });
    expect(missing).toMatchObject({ ok: false, error_type: "CONNECTION-NOT-FOUND" });
    const spot = await node.rpc("rpc-sim", R, { method: "ResetSpotlightRid" });
    expect(spot).toMatchObject({ ok: false, error_type: "SPOTLIGHT-NOT-ENABLED" });
    await node.close();
  });

  it("PutSignalingNotifyMetadata(Item): the node gets the metadata (and push); GetSignalingNotifyMetadata sees it", async () => {
    const node = await NodePeer.connect("rpc2@host");
    node.send({ type: "session.created", channel: channel("rpc-meta", [connection(R)]) });
    await until("session", async () => (await api("ListSignalingNotifyMetadata", { channel_id: "rpc-meta" })).status === 200);

    expect(await node.rpc("rpc-meta", R, { method: "PutSignalingNotifyMetadata", metadata: { a: 1 } })).toMatchObject({ ok: true, result: { a: 1 } });
    const item = await node.rpc("rpc-meta", R, { method: "PutSignalingNotifyMetadataItem", key: "b", value: 2, push: true });
    expect(item).toMatchObject({ ok: true, result: { a: 1, b: 2 } });
    expect(node.commandsNamed("set_notify_metadata").at(-1)).toEqual({
      name: "set_notify_metadata",
      channel_id: "rpc-meta",
      connection_id: R,
      metadata: { a: 1, b: 2 },
      push: { type: "signaling_notify_metadata_ext", action: "PutMetadataItem", connection_id: R, key: "b", value: 2 },
    });
    expect(await ok("GetSignalingNotifyMetadata", { channel_id: "rpc-meta", connection_id: R })).toEqual({ a: 1, b: 2 });
    await node.close();
  });

  it("RequestSpotlightRid in a spotlight channel: set_spotlight_rid_requests; a leaver's requests go", async () => {
    const node = await NodePeer.connect("rpc3@host");
    node.send({ type: "session.created", channel: channel("rpc-spot", [connection(S, { simulcast: true }), connection(R)], { spotlight: true }) });
    await until("session", async () => (await api("ListSignalingNotifyMetadata", { channel_id: "rpc-spot" })).status === 200);
    const set = await node.rpc("rpc-spot", R, { method: "RequestSpotlightRid", spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" });
    expect(set).toMatchObject({ ok: true, result: { channel_id: "rpc-spot", recv_connection_id: R, spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" } });
    expect(node.commandsNamed("set_spotlight_rid_requests").at(-1)?.requests).toEqual([
      { recv_connection_id: R, spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" },
    ]);
    node.send({ type: "connection.destroyed", channel_id: "rpc-spot", session_id: "session-rpc-spot", connection_id: R });
    await until("R gone", async () => (await api("GetSignalingNotifyMetadata", { channel_id: "rpc-spot", connection_id: R })).status === 400);
    // The next change starts from a set without R's request.
    expect(await node.rpc("rpc-spot", S, { method: "RequestSpotlightRid", spotlight_focus_rid: "r1", spotlight_unfocus_rid: "r0" })).toMatchObject({ ok: true });
    expect(node.commandsNamed("set_spotlight_rid_requests").at(-1)?.requests).toEqual([
      { recv_connection_id: S, spotlight_focus_rid: "r1", spotlight_unfocus_rid: "r0" },
    ]);
    await node.close();
  });

  it("a node that refuses the command: the RPC fails with that error, nothing stored", async () => {
    const node = await NodePeer.connect("rpc4@host");
    node.send({ type: "session.created", channel: channel("rpc-refused", [connection(R)]) });
    await until("session", async () => (await api("ListSignalingNotifyMetadata", { channel_id: "rpc-refused" })).status === 200);
    node.answer = () => ({ ok: false, error_type: "CONNECTION-NOT-FOUND", error_reason: { connection_id: R } });
    expect(await node.rpc("rpc-refused", R, { method: "PutSignalingNotifyMetadata", metadata: { x: 1 } })).toMatchObject({ ok: false, error_type: "CONNECTION-NOT-FOUND" });
    expect(await ok("GetSignalingNotifyMetadata", { channel_id: "rpc-refused", connection_id: R })).toEqual({});
    await node.close();
  });
});

// The HTTP twins of the RPCs (Sora_20251217.RequestSimulcastRid, Sora_20211215.RequestSpotlightRid /
// ResetSpotlightRid): the receiver is named, not the caller; same decision and state as the RPC.
describe("HTTP twins of the RPCs", () => {
  it("RequestSimulcastRid: echo, set_rid_requests as RequestRtpStream, one state with the RPC", async () => {
    const node = await NodePeer.connect("twin1@host");
    node.send({ type: "session.created", channel: channel("twin-sim", [connection(S, { simulcast: true }), connection(R, { role: "recvonly" })]) });
    await until("session", async () => (await api("ListSignalingNotifyMetadata", { channel_id: "twin-sim" })).status === 200);

    const body = { channel_id: "twin-sim", receiver_connection_id: R, rid: "none", sender_connection_id: S };
    expect(await ok("RequestSimulcastRid", body)).toEqual(body);
    expect(node.commandsNamed("set_rid_requests").at(-1)?.requests).toEqual([{ recv_connection_id: R, send_connection_id: S, rid: "none" }]);
    // For every sender: the latest covering request, so the per-sender one goes (shared/rid-requests.ts).
    expect(await ok("RequestSimulcastRid", { channel_id: "twin-sim", receiver_connection_id: R, rid: "r2" })).toEqual({
      channel_id: "twin-sim",
      receiver_connection_id: R,
      rid: "r2",
    });
    expect(node.commandsNamed("set_rid_requests").at(-1)?.requests).toEqual([{ recv_connection_id: R, rid: "r2" }]);
    // The receiver's own RPC continues from that state, and RequestRtpStream from the RPC's.
    await node.rpc("twin-sim", R, { method: "RequestSimulcastRid", rid: "r0", sender_connection_id: S });
    expect(node.commandsNamed("set_rid_requests").at(-1)?.requests).toEqual([
      { recv_connection_id: R, rid: "r2" },
      { recv_connection_id: R, send_connection_id: S, rid: "r0" },
    ]);

    const commands = node.commands.length;
    await fails("RequestSimulcastRid", { channel_id: "twin-sim", receiver_connection_id: "NOPE", rid: "r0" }, "CONNECTION-NOT-FOUND");
    await fails("RequestSimulcastRid", { channel_id: "twin-sim", receiver_connection_id: R, rid: "r0", sender_connection_id: "NOPE" }, "CONNECTION-NOT-FOUND");
    await fails("RequestSimulcastRid", { channel_id: "twin-sim", receiver_connection_id: R, rid: "r3" }, "INVALID-REQUEST");
    await fails("RequestSimulcastRid", { channel_id: "nowhere", receiver_connection_id: R, rid: "r0" }, "CHANNEL-NOT-FOUND");
    expect(node.commands.length).toBe(commands);
    await node.close();
  });

  it("RequestSimulcastRid where nobody sends simulcast: SIMULCAST-NOT-ENABLED", async () => {
    const node = await NodePeer.connect("twin2@host");
    node.send({ type: "session.created", channel: channel("twin-plain", [connection(S), connection(R, { role: "recvonly" })]) });
    await until("session", async () => (await api("ListSignalingNotifyMetadata", { channel_id: "twin-plain" })).status === 200);
    await fails("RequestSimulcastRid", { channel_id: "twin-plain", receiver_connection_id: R, rid: "r1", sender_connection_id: S }, "SIMULCAST-NOT-ENABLED");
    await fails("RequestSpotlightRid", { channel_id: "twin-plain", recv_connection_id: R, spotlight_focus_rid: "r1", spotlight_unfocus_rid: "r0" }, "SPOTLIGHT-NOT-ENABLED");
    await fails("ResetSpotlightRid", { channel_id: "twin-plain", recv_connection_id: R }, "SPOTLIGHT-NOT-ENABLED");
    expect(node.commandsNamed("set_rid_requests")).toEqual([]);
    await node.close();
  });

  it("RequestSpotlightRid / ResetSpotlightRid: echo (with send_connection_id), set_spotlight_rid_requests", async () => {
    const node = await NodePeer.connect("twin3@host");
    node.send({ type: "session.created", channel: channel("twin-spot", [connection(S, { simulcast: true }), connection(R)], { spotlight: true }) });
    await until("session", async () => (await api("ListSignalingNotifyMetadata", { channel_id: "twin-spot" })).status === 200);

    const forAll = { channel_id: "twin-spot", recv_connection_id: R, spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" };
    expect(await ok("RequestSpotlightRid", forAll)).toEqual(forAll);
    const forS = { channel_id: "twin-spot", recv_connection_id: R, spotlight_focus_rid: "r1", spotlight_unfocus_rid: "r0", send_connection_id: S };
    expect(await ok("RequestSpotlightRid", forS)).toEqual(forS);
    expect(node.commandsNamed("set_spotlight_rid_requests").at(-1)?.requests).toEqual([
      { recv_connection_id: R, spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" },
      { recv_connection_id: R, send_connection_id: S, spotlight_focus_rid: "r1", spotlight_unfocus_rid: "r0" },
    ]);
    expect(await ok("ResetSpotlightRid", { channel_id: "twin-spot", recv_connection_id: R, send_connection_id: S })).toEqual({
      channel_id: "twin-spot",
      recv_connection_id: R,
      send_connection_id: S,
    });
    expect(node.commandsNamed("set_spotlight_rid_requests").at(-1)?.requests).toEqual([
      { recv_connection_id: R, spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" },
    ]);
    // The receiver's RPC reset (no sender) clears what the API set.
    expect(await node.rpc("twin-spot", R, { method: "ResetSpotlightRid" })).toMatchObject({ ok: true, result: { channel_id: "twin-spot", recv_connection_id: R } });
    expect(node.commandsNamed("set_spotlight_rid_requests").at(-1)?.requests).toEqual([]);
    await fails("RequestSpotlightRid", { ...forS, send_connection_id: "NOPE" }, "CONNECTION-NOT-FOUND");
    await fails("RequestSpotlightRid", { ...forAll, spotlight_focus_rid: "r9" }, "INVALID-REQUEST");
    await node.close();
  });
});
