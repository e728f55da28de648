import { z } from "zod";
import { jsonDepth, MAX_JSON_DEPTH } from "../../../shared/json-limits.js";

// Messages on a cluster relay WebSocket (docs/relay.md). Node B dials node A's `/relay` to pull
// channel X; A (the serving side) sends its own connections of X and offers the media; B (the
// pulling side) answers and sends its own clients' `#` messages for A's clients. The peer is
// another node, but its messages are still validated (zod, size and depth bounds like
// signaling): a malformed one closes that link only.

/** ws refuses larger frames (close 1009) before any parsing; an offer with 256 connections × 5 m-lines fits. */
export const MAX_RELAY_MESSAGE_BYTES = 1024 * 1024;
/** Notify fields carry client metadata (MAX_JSON_DEPTH deep at most) a few levels down. */
export const MAX_RELAY_MESSAGE_DEPTH = MAX_JSON_DEPTH + 4;

/** Close codes of a relay WebSocket. */
export const RELAY_CLOSE = {
  /** The link is no longer wanted (set_channel_nodes dropped the node, channel closed, node stopping). */
  normal: 1000,
  /** A message that is not JSON, too deep, or not in this protocol. */
  badMessage: 4400,
} as const;

const id = z.string().min(1).max(255);

/** One of the serving node's own connections, as its notifies describe it. */
export const relayMemberSchema = z.object({
  connection_id: id,
  client_id: z.string().max(255),
  bundle_id: z.string().max(255),
  role: z.enum(["sendrecv", "sendonly", "recvonly"]),
  audio: z.boolean(),
  video: z.boolean(),
  created_at: z.number(),
  connected_at: z.number(),
  /** The connection's notify fields (role, session_id, client_id, …, metadata), as Sora sends them. */
  notify: z.record(z.string(), z.unknown()),
});
export type RelayMember = z.infer<typeof relayMemberSchema>;

/** One m-line of the relay offer: which connection's track, and which simulcast layer it carries. */
export const relayTrackSchema = z.object({
  mid: z.string().min(1).max(32),
  connection_id: id,
  kind: z.enum(["audio", "video"]),
  codec: z.enum(["OPUS", "VP8", "VP9", "H264", "AV1"]),
  /** Simulcast publication: this m-line carries layer `layer` (0 = r0 … 2 = r2). */
  simulcast: z.boolean(),
  layer: z.number().int().min(0).max(2),
});
export type RelayTrack = z.infer<typeof relayTrackSchema>;

const messagingSchema = z.object({
  type: z.literal("message"),
  label: z.string().startsWith("#").max(255),
  sender_connection_id: id,
  /** The plain (decompressed) message, base64. */
  data: z.string().max(MAX_RELAY_MESSAGE_BYTES),
});
export type RelayMessaging = z.infer<typeof messagingSchema>;

/** Serving node → pulling node. */
export const relayServerMessageSchema = z.discriminatedUnion("type", [
  /** First message: the serving node's connected connections of the channel now. */
  z.object({ type: z.literal("members"), members: z.array(relayMemberSchema).max(10_000) }),
  z.object({ type: z.literal("member.created"), member: relayMemberSchema }),
  z.object({ type: z.literal("member.updated"), member: relayMemberSchema }),
  z.object({ type: z.literal("member.destroyed"), connection_id: id }),
  /** Its signaling notify metadata changed (set_notify_metadata, RPC); the change's push comes from the edge. */
  z.object({ type: z.literal("member.metadata"), member: relayMemberSchema }),
  z.object({ type: z.literal("offer"), sdp: z.string().max(MAX_RELAY_MESSAGE_BYTES), tracks: z.array(relayTrackSchema).max(4096) }),
  /**
   * A push for those of the pulling node's clients listed (the serving node's audio streaming
   * results, for the connections subscribed to them): `data` as the clients get it.
   */
  z.object({ type: z.literal("push"), connection_ids: z.array(id).min(1).max(10_000), data: z.record(z.string(), z.unknown()) }),
]);
export type RelayServerMessage = z.infer<typeof relayServerMessageSchema>;

/** One publication the pulling node needs; `layers`: which simulcast layers (absent: all). */
const relayDemandTrackSchema = z.object({
  connection_id: id,
  kind: z.enum(["audio", "video"]),
  layers: z.array(z.number().int().min(0).max(2)).max(3).optional(),
});
export type RelayDemandTrack = z.infer<typeof relayDemandTrackSchema>;

/** Pulling node → serving node. */
export const relayClientMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("answer"), sdp: z.string().max(MAX_RELAY_MESSAGE_BYTES) }),
  /**
   * The publications B has subscribers for now (full state): A sends only these (of a simulcast
   * one, the `layers` listed); the other legs are paused until listed again (resumed with a
   * keyframe request). Before the first `demand` A sends everything.
   */
  z.object({
    type: z.literal("demand"),
    tracks: z.array(relayDemandTrackSchema).max(20_000),
  }),
  messagingSchema,
]);
export type RelayClientMessage = z.infer<typeof relayClientMessageSchema>;

/** Parses one frame with `schema`; undefined when it is not JSON, too deep or not valid. */
export function parseRelayMessage<T>(schema: z.ZodType<T>, raw: string): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (jsonDepth(value, MAX_RELAY_MESSAGE_DEPTH) > MAX_RELAY_MESSAGE_DEPTH) return undefined;
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
