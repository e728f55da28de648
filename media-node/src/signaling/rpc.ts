import { z } from "zod";
import { ridOrNoneSchema, type ConnectionCall } from "../../../shared/control-protocol.js";

// DataChannel RPC (Sora 2025.2, experimental): JSON-RPC 2.0 requests on the `rpc` label, for
// the methods the connection was granted (offer `rpc_methods`). Pure: text in, a decision out.
//
// Wire format from the SDKs: sora-js-sdk 2026.1 `rpc()` sends `{"jsonrpc":"2.0","method",
// "params"?, "id"?}` with integer ids counting from 1 (no id = notification), as text, or
// deflated when the offer's `rpc` entry says `compress`; `handleRPCResponse` settles the
// request of `id` with `result`, or rejects with `error` (dist/sora.js). sora-ios-sdk
// Sora/RPC.swift requires `jsonrpc: "2.0"` and an integer id. Method names and params:
// Sora/RPCTypes.swift and Sora's RPC doc (params = the HTTP API's body without channel_id and
// the caller's own connection id, which Sora fills in; unknown params are an error).
//
// Error codes: Sora's own are not published, so JSON-RPC 2.0's (jsonrpc.org/specification §5.1):
// -32700 parse error, -32600 invalid request, -32601 method not found — also for a method the
// connection may not call ("not available" to it), -32602 invalid params — also when the call
// names a connection that does not exist or a feature the channel lacks (`data.error_type` says
// which, in the HTTP API's vocabulary), -32603 internal error (the control plane did not answer).

export const JSONRPC_ERROR = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
} as const;

const connectionId = z.string().min(1).max(255);
const push = z.boolean().optional();

/** The methods this node implements, by their versioned name; params are strict (unknown keys refused). */
const METHODS = {
  "2025.2.0/RequestSimulcastRid": z.strictObject({ rid: ridOrNoneSchema, sender_connection_id: connectionId.optional() }),
  "2025.2.0/RequestSpotlightRid": z.strictObject({
    spotlight_focus_rid: ridOrNoneSchema,
    spotlight_unfocus_rid: ridOrNoneSchema,
    send_connection_id: connectionId.optional(),
  }),
  "2025.2.0/ResetSpotlightRid": z.strictObject({ send_connection_id: connectionId.optional() }),
  "2025.2.0/PutSignalingNotifyMetadata": z.strictObject({ metadata: z.record(z.string(), z.unknown()), push }),
  "2025.2.0/PutSignalingNotifyMetadataItem": z.strictObject({ key: z.string().min(1).max(255), value: z.unknown(), push }),
} as const;

export type RpcMethodName = keyof typeof METHODS;
export const RPC_METHOD_NAMES = Object.keys(METHODS) as RpcMethodName[];

export const isRpcMethodName = (name: string): name is RpcMethodName => Object.hasOwn(METHODS, name);

/** Keys that name the caller itself: Sora fills them in; given, they must be the caller's own. */
const SELF_KEYS = { channel_id: "channel", connection_id: "connection", receiver_connection_id: "connection", recv_connection_id: "connection" } as const;

export type RpcId = string | number | null;

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export type RpcResponse = { jsonrpc: "2.0"; id: RpcId; result: unknown } | { jsonrpc: "2.0"; id: RpcId; error: RpcErrorObject };

export type RpcDecision =
  /** Run `call`; answer `id` with its result (no answer for a notification: id undefined). */
  | { kind: "call"; id: RpcId | undefined; call: ConnectionCall }
  /** Send this error at once. */
  | { kind: "reply"; response: RpcResponse }
  /** A notification that cannot run: JSON-RPC sends nothing back. */
  | { kind: "ignore" };

export const rpcResult = (id: RpcId, result: unknown): RpcResponse => ({ jsonrpc: "2.0", id, result });

export const rpcError = (id: RpcId, code: number, message: string, data?: unknown): RpcResponse => ({
  jsonrpc: "2.0",
  id,
  error: data === undefined ? { code, message } : { code, message, data },
});

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Reads one message of the `rpc` label (already decompressed). `allowed` = the connection's
 * rpc_methods; `self` = the caller's channel and connection ids.
 */
export function decideRpc(
  text: string,
  allowed: ReadonlySet<string>,
  self: { channelId: string; connectionId: string; simulcastRpcRids?: readonly string[] },
): RpcDecision {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { kind: "reply", response: rpcError(null, JSONRPC_ERROR.parseError, "Parse error") };
  }
  // Batches (arrays) are not sent by any SDK; refused as one invalid request.
  if (!isRecord(message)) return { kind: "reply", response: rpcError(null, JSONRPC_ERROR.invalidRequest, "Invalid Request") };
  const hasId = Object.hasOwn(message, "id");
  const id = message.id;
  const validId = !hasId || id === null || typeof id === "string" || (typeof id === "number" && Number.isFinite(id));
  if (message.jsonrpc !== "2.0" || typeof message.method !== "string" || !validId) {
    return { kind: "reply", response: rpcError(validId && hasId ? (id as RpcId) : null, JSONRPC_ERROR.invalidRequest, "Invalid Request") };
  }
  const replyId: RpcId | undefined = hasId ? (id as RpcId) : undefined;
  const fail = (code: number, text: string, data?: unknown): RpcDecision =>
    replyId === undefined ? { kind: "ignore" } : { kind: "reply", response: rpcError(replyId, code, text, data) };
  const method = message.method;
  if (!isRpcMethodName(method)) return fail(JSONRPC_ERROR.methodNotFound, "Method not found");
  if (!allowed.has(method)) return fail(JSONRPC_ERROR.methodNotFound, "Method not allowed", { method });
  const rawParams = message.params ?? {};
  if (!isRecord(rawParams)) return fail(JSONRPC_ERROR.invalidParams, "Invalid params", { reason: "params must be an object" });
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rawParams)) {
    const self_ = (SELF_KEYS as Record<string, "channel" | "connection">)[key];
    if (!self_) {
      params[key] = value;
      continue;
    }
    const own = self_ === "channel" ? self.channelId : self.connectionId;
    if (value !== own) return fail(JSONRPC_ERROR.invalidParams, "Invalid params", { reason: `${key} must be the caller's own` });
  }
  const parsed = METHODS[method].safeParse(params);
  if (!parsed.success) {
    return fail(JSONRPC_ERROR.invalidParams, "Invalid params", {
      issues: parsed.error.issues.slice(0, 3).map((i) => ({ path: i.path.join("."), message: i.message })),
    });
  }
  if (method === "2025.2.0/PutSignalingNotifyMetadataItem" && !Object.hasOwn(params, "value")) {
    return fail(JSONRPC_ERROR.invalidParams, "Invalid params", { issues: [{ path: "value", message: "required" }] });
  }
  const call = { method: method.slice(method.indexOf("/") + 1), ...parsed.data } as ConnectionCall;
  // The auth webhook's `simulcast_rpc_rids` bounds what RequestSimulcastRid may ask (Sora's RPC
  // e2e grants it beside rpc_methods); the HTTP API is not bound by it.
  if (call.method === "RequestSimulcastRid" && self.simulcastRpcRids && !self.simulcastRpcRids.includes(call.rid)) {
    return fail(JSONRPC_ERROR.invalidParams, "Invalid params", { reason: "rid is not in simulcast_rpc_rids", rid: call.rid, simulcast_rpc_rids: self.simulcastRpcRids });
  }
  return { kind: "call", id: replyId, call };
}

/** A failed call (the API's error vocabulary) as a JSON-RPC error. */
export function rpcErrorFor(id: RpcId, errorType: string | undefined, errorReason: unknown): RpcResponse {
  const data: Record<string, unknown> = { error_type: errorType ?? "INTERNAL-ERROR" };
  if (errorReason !== undefined) data.error_reason = errorReason;
  if (errorType === undefined || INTERNAL_ERROR_TYPES.has(errorType)) return rpcError(id, JSONRPC_ERROR.internalError, "Internal error", data);
  return rpcError(id, JSONRPC_ERROR.invalidParams, "Invalid params", data);
}

/** Failures of the control plane rather than of the call's params. */
const INTERNAL_ERROR_TYPES = new Set(["INTERNAL-ERROR", "NODE-UNREACHABLE", "EDGE-UNREACHABLE", "NODE-COMMAND-FAILED", "COMMAND-FAILED", "TOO-MANY-REQUESTS"]);
