import type { RidOrNone, RidRequest } from "./control-protocol.js";

// RequestRtpStream / ResetRtpStream as one channel's state (pure; the edge's ChannelObject keeps
// it and sends it whole to the node with `set_rid_requests`, the node's Connection reads it).
//
// Semantics (Sora does not document how the two forms combine; this is what an application
// expects from "request" and "reset"): the latest call that covers a (receiver, sender) pair
// decides that pair's layer. A request without `send_connection_id` covers all of the receiver's
// senders, present and future; ResetRtpStream of one pair returns it to its connect-time rid
// (simulcast_request_rid / simulcast_rid / spotlight rids) even when an all-senders request
// covered it; ResetRtpStream without a sender returns every pair of the receiver.
//
// The state stays normalized so it needs no timestamps: an entry naming a sender exists only
// when it is newer than the receiver's all-senders entry (a new all-senders request drops the
// receiver's per-sender entries), and an entry without `rid` records a per-pair reset made
// while an all-senders request was in force. So a pair's own entry, when present, always wins.

/** RequestRtpStream: `send_connection_id` absent = every sender of the receiver. */
export function withRidRequest(requests: readonly RidRequest[], request: RidRequest): RidRequest[] {
  const recv = request.recv_connection_id;
  if (request.send_connection_id === undefined) {
    return [...requests.filter((r) => r.recv_connection_id !== recv), request];
  }
  return [...requests.filter((r) => !(r.recv_connection_id === recv && r.send_connection_id === request.send_connection_id)), request];
}

/** ResetRtpStream: one pair back to its connect-time rid, or (no sender) every pair of the receiver. */
export function withRidReset(requests: readonly RidRequest[], recvConnectionId: string, sendConnectionId?: string): RidRequest[] {
  if (sendConnectionId === undefined) return requests.filter((r) => r.recv_connection_id !== recvConnectionId);
  const rest = requests.filter((r) => !(r.recv_connection_id === recvConnectionId && r.send_connection_id === sendConnectionId));
  const everySender = rest.some((r) => r.recv_connection_id === recvConnectionId && r.send_connection_id === undefined);
  // Only an all-senders request can still cover the pair: mark the pair as reset past it.
  return everySender ? [...rest, { recv_connection_id: recvConnectionId, send_connection_id: sendConnectionId }] : rest;
}

/** The rid requested for the pair, or undefined: the receiver's connect-time choice applies. */
export function requestedRid(requests: readonly RidRequest[], recvConnectionId: string, sendConnectionId: string): RidOrNone | undefined {
  let everySender: RidRequest | undefined;
  for (const r of requests) {
    if (r.recv_connection_id !== recvConnectionId) continue;
    if (r.send_connection_id === sendConnectionId) return r.rid;
    if (r.send_connection_id === undefined) everySender = r;
  }
  return everySender?.rid;
}
