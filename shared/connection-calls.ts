import { ApiError } from "./api/errors.js";
import type { ConnectionCall, RidRequest, SpotlightRidRequest } from "./control-protocol.js";
import { applyMetadataChange } from "./notify-metadata.js";
import { withRidRequest } from "./rid-requests.js";

// A connection's own RPC (shared/control-protocol.ts ConnectionCall) applied to a channel's
// state, as a pure function: the same checks and the same new state whether the edge applies it
// (it holds the channel state when the node is linked) or a standalone node does. Results are
// the JSON-RPC `result`s of Sora 2025.2 (sora-ios-sdk Sora/RPCTypes.swift: RequestSimulcastRid
// answers receiver/sender_connection_id, the spotlight ones recv_connection_id, the metadata
// ones the metadata after). Invalid references throw ApiError (the API's vocabulary).

/** What the call may read of the channel. */
export interface CallContext {
  channelId: string;
  /** The calling connection: the receiver, or the metadata owner. */
  callerId: string;
  spotlight: boolean;
  /** Session-level simulcast (the connect that created the session asked it). */
  simulcast: boolean;
  /** The connections of the channel by id: whether each sends simulcast. */
  connections: ReadonlyMap<string, { simulcast: boolean }>;
  ridRequests: readonly RidRequest[];
  spotlightRidRequests: readonly SpotlightRidRequest[];
  /** The caller's current signaling notify metadata (undefined = none). */
  metadata: unknown;
}

/** What changed; absent fields did not. */
export interface CallOutcome {
  result: unknown;
  ridRequests?: RidRequest[];
  spotlightRidRequests?: SpotlightRidRequest[];
  /** The caller's new metadata and, with `push: true`, the push the whole channel gets. */
  metadata?: { after: unknown; push?: Record<string, unknown> };
}

export function applyConnectionCall(ctx: CallContext, call: ConnectionCall): CallOutcome {
  const recv = ctx.callerId;
  switch (call.method) {
    case "RequestSimulcastRid": {
      requireSimulcast(ctx, call.sender_connection_id);
      const wanted: RidRequest = { recv_connection_id: recv, rid: call.rid };
      if (call.sender_connection_id !== undefined) wanted.send_connection_id = call.sender_connection_id;
      const result: Record<string, unknown> = { channel_id: ctx.channelId, receiver_connection_id: recv, rid: call.rid };
      if (call.sender_connection_id !== undefined) result.sender_connection_id = call.sender_connection_id;
      return { result, ridRequests: withRidRequest(ctx.ridRequests, wanted) };
    }
    case "RequestSpotlightRid": {
      requireSpotlight(ctx, call.send_connection_id);
      const wanted: SpotlightRidRequest = {
        recv_connection_id: recv,
        spotlight_focus_rid: call.spotlight_focus_rid,
        spotlight_unfocus_rid: call.spotlight_unfocus_rid,
      };
      if (call.send_connection_id !== undefined) wanted.send_connection_id = call.send_connection_id;
      return {
        result: {
          channel_id: ctx.channelId,
          recv_connection_id: recv,
          spotlight_focus_rid: call.spotlight_focus_rid,
          spotlight_unfocus_rid: call.spotlight_unfocus_rid,
        },
        spotlightRidRequests: [...ctx.spotlightRidRequests.filter((r) => !sameTarget(r, wanted)), wanted],
      };
    }
    case "ResetSpotlightRid": {
      requireSpotlight(ctx, call.send_connection_id);
      // Without a sender, every spotlight request of the caller goes (as ResetRtpStream does).
      const kept = ctx.spotlightRidRequests.filter(
        (r) => r.recv_connection_id !== recv || (call.send_connection_id !== undefined && r.send_connection_id !== call.send_connection_id),
      );
      return { result: { channel_id: ctx.channelId, recv_connection_id: recv }, spotlightRidRequests: kept };
    }
    case "PutSignalingNotifyMetadata":
    case "PutSignalingNotifyMetadataItem": {
      const outcome =
        call.method === "PutSignalingNotifyMetadata"
          ? applyMetadataChange(recv, ctx.metadata, { action: "PutMetadata", metadata: call.metadata })
          : applyMetadataChange(recv, ctx.metadata, { action: "PutMetadataItem", key: call.key, value: call.value });
      return { result: outcome.answer, metadata: call.push ? { after: outcome.after, push: outcome.push } : { after: outcome.after } };
    }
  }
}

function requireSender(ctx: CallContext, sender: string): { simulcast: boolean } {
  const conn = ctx.connections.get(sender);
  if (!conn) throw new ApiError("CONNECTION-NOT-FOUND", { channel_id: ctx.channelId, connection_id: sender });
  return conn;
}

/** As RequestRtpStream: the sender (or else some connection of the channel) sends simulcast. */
function requireSimulcast(ctx: CallContext, sender: string | undefined): void {
  if (sender !== undefined) {
    if (!requireSender(ctx, sender).simulcast && !ctx.simulcast) {
      throw new ApiError("SIMULCAST-NOT-ENABLED", { channel_id: ctx.channelId, connection_id: sender });
    }
  } else if (!ctx.simulcast && ![...ctx.connections.values()].some((c) => c.simulcast)) {
    throw new ApiError("SIMULCAST-NOT-ENABLED", { channel_id: ctx.channelId });
  }
}

function requireSpotlight(ctx: CallContext, sender: string | undefined): void {
  if (!ctx.spotlight) throw new ApiError("SPOTLIGHT-NOT-ENABLED", { channel_id: ctx.channelId });
  if (sender !== undefined) requireSender(ctx, sender);
}

const sameTarget = (a: { recv_connection_id: string; send_connection_id?: string }, b: { recv_connection_id: string; send_connection_id?: string }) =>
  a.recv_connection_id === b.recv_connection_id && a.send_connection_id === b.send_connection_id;
