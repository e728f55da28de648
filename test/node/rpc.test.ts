import { describe, expect, it } from "vitest";
import { ApiError } from "../../shared/api/errors.js";
import { applyConnectionCall, type CallContext } from "../../shared/connection-calls.js";
import { RPC_METHOD_NAMES, decideRpc, rpcErrorFor } from "../../media-node/src/signaling/rpc.js";

// DataChannel RPC, pure parts: reading a JSON-RPC 2.0 request (signaling/rpc.ts) and applying a
// connection's call to channel state (shared/connection-calls.ts, used by the edge and by a
// standalone node alike).

const self = { channelId: "room", connectionId: "ME000000000000000000000001" };
const all = new Set<string>(RPC_METHOD_NAMES);
const req = (body: Record<string, unknown>) => JSON.stringify({ jsonrpc: "2.0", id: 1, ...body });

describe("decideRpc", () => {
  it("turns a request the SDK sends into a call (method without its version)", () => {
    expect(decideRpc(req({ method: "2025.2.0/RequestSimulcastRid", params: { rid: "r0" } }), all, self)).toEqual({
      kind: "call",
      id: 1,
      call: { method: "RequestSimulcastRid", rid: "r0" },
    });
    expect(decideRpc(req({ method: "2025.2.0/ResetSpotlightRid" }), all, self)).toEqual({ kind: "call", id: 1, call: { method: "ResetSpotlightRid" } });
    expect(decideRpc(req({ method: "2025.2.0/PutSignalingNotifyMetadataItem", params: { key: "k", value: null, push: true } }), all, self)).toEqual({
      kind: "call",
      id: 1,
      call: { method: "PutSignalingNotifyMetadataItem", key: "k", value: null, push: true },
    });
  });

  it("accepts the caller's own ids (Sora fills them in; sora-js-sdk's e2e passes receiver_connection_id) and refuses others'", () => {
    const own = decideRpc(req({ method: "2025.2.0/RequestSimulcastRid", params: { rid: "r1", receiver_connection_id: self.connectionId, channel_id: "room" } }), all, self);
    expect(own).toEqual({ kind: "call", id: 1, call: { method: "RequestSimulcastRid", rid: "r1" } });
    const other = decideRpc(req({ method: "2025.2.0/RequestSimulcastRid", params: { rid: "r1", receiver_connection_id: "SOMEONEELSE" } }), all, self);
    expect(other).toMatchObject({ kind: "reply", response: { id: 1, error: { code: -32602 } } });
  });

  it("answers JSON-RPC 2.0 errors: parse, invalid request, unknown method, not allowed, bad params", () => {
    expect(decideRpc("{nope", all, self)).toEqual({ kind: "reply", response: { jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } } });
    for (const bad of ["[]", "42", JSON.stringify({ id: 3, method: "x" }), JSON.stringify({ jsonrpc: "2.0", id: 3 }), JSON.stringify({ jsonrpc: "2.0", id: {}, method: "x" })]) {
      expect(decideRpc(bad, all, self)).toMatchObject({ kind: "reply", response: { error: { code: -32600 } } });
    }
    expect(decideRpc(JSON.stringify({ id: 3, method: "x" }), all, self)).toMatchObject({ response: { id: 3 } });
    expect(decideRpc(req({ method: "2025.2.0/NoSuchMethod" }), all, self)).toMatchObject({ response: { id: 1, error: { code: -32601, message: "Method not found" } } });
    const narrow = new Set(["2025.2.0/PutSignalingNotifyMetadata"]);
    expect(decideRpc(req({ method: "2025.2.0/RequestSimulcastRid", params: { rid: "r0" } }), narrow, self)).toMatchObject({
      response: { id: 1, error: { code: -32601, message: "Method not allowed", data: { method: "2025.2.0/RequestSimulcastRid" } } },
    });
    const badParams = [
      { rid: "r3" },
      {},
      { rid: "r0", extra: 1 },
    ];
    for (const params of badParams) {
      expect(decideRpc(req({ method: "2025.2.0/RequestSimulcastRid", params }), all, self)).toMatchObject({ response: { id: 1, error: { code: -32602 } } });
    }
    expect(decideRpc(req({ method: "2025.2.0/RequestSimulcastRid", params: ["r0"] }), all, self)).toMatchObject({ response: { error: { code: -32602 } } });
    expect(decideRpc(req({ method: "2025.2.0/PutSignalingNotifyMetadataItem", params: { key: "k" } }), all, self)).toMatchObject({ response: { error: { code: -32602 } } });
    expect(decideRpc(req({ method: "2025.2.0/PutSignalingNotifyMetadata", params: { metadata: [1] } }), all, self)).toMatchObject({ response: { error: { code: -32602 } } });
  });

  it("simulcast_rpc_rids (auth webhook) bounds the rids RequestSimulcastRid may ask: -32602 outside it", () => {
    const bounded = { ...self, simulcastRpcRids: ["r0", "r1"] };
    expect(decideRpc(req({ method: "2025.2.0/RequestSimulcastRid", params: { rid: "r1" } }), all, bounded)).toEqual({
      kind: "call",
      id: 1,
      call: { method: "RequestSimulcastRid", rid: "r1" },
    });
    for (const rid of ["r2", "none"]) {
      expect(decideRpc(req({ method: "2025.2.0/RequestSimulcastRid", params: { rid } }), all, bounded)).toEqual({
        kind: "reply",
        response: {
          jsonrpc: "2.0",
          id: 1,
          error: { code: -32602, message: "Invalid params", data: { reason: "rid is not in simulcast_rpc_rids", rid, simulcast_rpc_rids: ["r0", "r1"] } },
        },
      });
    }
    // Other methods are not bound by it.
    expect(decideRpc(req({ method: "2025.2.0/RequestSpotlightRid", params: { spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" } }), all, bounded)).toMatchObject({ kind: "call" });
  });

  it("a notification (no id) never gets an answer, even when it cannot run", () => {
    const note = (body: Record<string, unknown>) => JSON.stringify({ jsonrpc: "2.0", ...body });
    expect(decideRpc(note({ method: "2025.2.0/RequestSimulcastRid", params: { rid: "r2" } }), all, self)).toEqual({
      kind: "call",
      id: undefined,
      call: { method: "RequestSimulcastRid", rid: "r2" },
    });
    expect(decideRpc(note({ method: "2025.2.0/Nope" }), all, self)).toEqual({ kind: "ignore" });
    expect(decideRpc(note({ method: "2025.2.0/RequestSimulcastRid", params: { rid: 1 } }), all, self)).toEqual({ kind: "ignore" });
  });

  it("maps the API's error types: references → invalid params, control plane → internal error", () => {
    expect(rpcErrorFor(5, "CONNECTION-NOT-FOUND", { connection_id: "X" })).toEqual({
      jsonrpc: "2.0",
      id: 5,
      error: { code: -32602, message: "Invalid params", data: { error_type: "CONNECTION-NOT-FOUND", error_reason: { connection_id: "X" } } },
    });
    expect(rpcErrorFor(5, "EDGE-UNREACHABLE", undefined)).toEqual({ jsonrpc: "2.0", id: 5, error: { code: -32603, message: "Internal error", data: { error_type: "EDGE-UNREACHABLE" } } });
  });
});

describe("applyConnectionCall", () => {
  const ME = self.connectionId;
  const SENDER = "SENDER0000000000000000000A";
  const ctx = (extra: Partial<CallContext> = {}): CallContext => ({
    channelId: "room",
    callerId: ME,
    spotlight: false,
    simulcast: false,
    connections: new Map([
      [ME, { simulcast: false }],
      [SENDER, { simulcast: true }],
    ]),
    ridRequests: [],
    spotlightRidRequests: [],
    metadata: undefined,
    ...extra,
  });
  const errorType = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err instanceof ApiError ? err.body.error_type : String(err);
    }
    return "no error";
  };

  it("RequestSimulcastRid replaces the caller's request for that sender, and one for every sender supersedes them (latest covering request wins, as RequestRtpStream); result as Sora 2025.2 names it", () => {
    const first = applyConnectionCall(ctx(), { method: "RequestSimulcastRid", rid: "r0", sender_connection_id: SENDER });
    expect(first.result).toEqual({ channel_id: "room", receiver_connection_id: ME, rid: "r0", sender_connection_id: SENDER });
    const second = applyConnectionCall(ctx({ ridRequests: first.ridRequests! }), { method: "RequestSimulcastRid", rid: "none", sender_connection_id: SENDER });
    expect(second.ridRequests).toEqual([{ recv_connection_id: ME, send_connection_id: SENDER, rid: "none" }]);
    const toAll = applyConnectionCall(ctx({ ridRequests: second.ridRequests! }), { method: "RequestSimulcastRid", rid: "r2" });
    expect(toAll.result).toEqual({ channel_id: "room", receiver_connection_id: ME, rid: "r2" });
    expect(toAll.ridRequests).toEqual([{ recv_connection_id: ME, rid: "r2" }]);
    expect(errorType(() => applyConnectionCall(ctx(), { method: "RequestSimulcastRid", rid: "r0", sender_connection_id: "GONE" }))).toBe("CONNECTION-NOT-FOUND");
    expect(errorType(() => applyConnectionCall(ctx(), { method: "RequestSimulcastRid", rid: "r0", sender_connection_id: ME }))).toBe("SIMULCAST-NOT-ENABLED");
    expect(errorType(() => applyConnectionCall(ctx({ connections: new Map([[ME, { simulcast: false }]]) }), { method: "RequestSimulcastRid", rid: "r0" }))).toBe(
      "SIMULCAST-NOT-ENABLED",
    );
  });

  it("RequestSpotlightRid / ResetSpotlightRid need a spotlight channel", () => {
    const call = { method: "RequestSpotlightRid", spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" } as const;
    expect(errorType(() => applyConnectionCall(ctx(), call))).toBe("SPOTLIGHT-NOT-ENABLED");
    const set = applyConnectionCall(ctx({ spotlight: true }), { ...call, send_connection_id: SENDER });
    expect(set.result).toEqual({ channel_id: "room", recv_connection_id: ME, spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" });
    const both = applyConnectionCall(ctx({ spotlight: true, spotlightRidRequests: set.spotlightRidRequests! }), call);
    expect(both.spotlightRidRequests).toHaveLength(2);
    const resetOne = applyConnectionCall(ctx({ spotlight: true, spotlightRidRequests: both.spotlightRidRequests! }), {
      method: "ResetSpotlightRid",
      send_connection_id: SENDER,
    });
    expect(resetOne.spotlightRidRequests).toEqual([{ recv_connection_id: ME, spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" }]);
    expect(resetOne.result).toEqual({ channel_id: "room", recv_connection_id: ME });
    const resetAll = applyConnectionCall(ctx({ spotlight: true, spotlightRidRequests: both.spotlightRidRequests! }), { method: "ResetSpotlightRid" });
    expect(resetAll.spotlightRidRequests).toEqual([]);
  });

  it("PutSignalingNotifyMetadata(Item): the metadata after, and the push with push: true", () => {
    const put = applyConnectionCall(ctx(), { method: "PutSignalingNotifyMetadata", metadata: { a: 1 } });
    expect(put).toEqual({ result: { a: 1 }, metadata: { after: { a: 1 } } });
    const item = applyConnectionCall(ctx({ metadata: { a: 1 } }), { method: "PutSignalingNotifyMetadataItem", key: "b", value: 2, push: true });
    expect(item.result).toEqual({ a: 1, b: 2 });
    expect(item.metadata?.push).toEqual({ type: "signaling_notify_metadata_ext", action: "PutMetadataItem", connection_id: ME, key: "b", value: 2 });
    expect(errorType(() => applyConnectionCall(ctx({ metadata: "text" }), { method: "PutSignalingNotifyMetadataItem", key: "b", value: 2 }))).toBe(
      "METADATA-NOT-OBJECT",
    );
  });
});
