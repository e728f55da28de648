import { z } from "zod";

// The edge ↔ media node control channel: one WebSocket per node, opened by the node to
// `GET {edge}/node` with `authorization: Bearer <node secret>`. Every frame is one JSON text
// message validated on both sides with these schemas. The node reports what happens on it
// (sessions, connections, user-agent stats); the edge commands it (modes, metadata, stream
// control) and waits for an `ack` with the same `id`. The node asks the edge where a channel
// lives (`place`) before it starts a new session.
//
// Robustness rules:
// - The node re-sends a full `hello` (with a snapshot of every live channel) on every
//   (re)connect, so an edge restart or a dropped link converges without replaying history.
// - Everything but acks carries `seq` (per link, hello = 0), so the edge applies reports in the
//   order the node sent them even when its runtime dispatches them out of order.
// - Commands are idempotent (they carry the full new state, not a delta) so a retried
//   command is harmless.

export const CONTROL_PATH = "/node";
export const CONTROL_PROTOCOL_VERSION = 1;
export const MAX_CONTROL_MESSAGE_BYTES = 1024 * 1024;

export const nodeModeSchema = z.enum(["normal", "block_new_session", "block_new_connection"]);
export type NodeMode = z.infer<typeof nodeModeSchema>;

export const roleSchema = z.enum(["sendrecv", "sendonly", "recvonly"]);
export const ridSchema = z.enum(["r0", "r1", "r2"]);
export type Rid = z.infer<typeof ridSchema>;

/** One connection as the edge stores it (ChannelDO) and as ListSignalingNotifyMetadata needs it. */
export const connectionInfoSchema = z.object({
  connection_id: z.string(),
  client_id: z.string(),
  bundle_id: z.string(),
  role: roleSchema,
  simulcast: z.boolean(),
  spotlight: z.boolean(),
  /** Current signaling notify metadata (may be any JSON; absent = none). */
  signaling_notify_metadata: z.unknown().optional(),
  created_at: z.number().int(),
});
export type ConnectionInfo = z.infer<typeof connectionInfoSchema>;

export const pausedStreamSchema = z.object({
  recv_connection_id: z.string(),
  send_connection_id: z.string(),
});
export type PausedStream = z.infer<typeof pausedStreamSchema>;

export const ridRequestSchema = z.object({
  recv_connection_id: z.string(),
  /** Absent = every sender of the channel. */
  send_connection_id: z.string().optional(),
  /** Absent = the pair was reset past an all-senders request (see shared/rid-requests.ts). */
  rid: ridSchema.optional(),
});
export type RidRequest = z.infer<typeof ridRequestSchema>;

export const channelSnapshotSchema = z.object({
  channel_id: z.string(),
  session_id: z.string(),
  multistream: z.boolean(),
  spotlight: z.boolean(),
  simulcast: z.boolean(),
  created_at: z.number().int(),
  connections: z.array(connectionInfoSchema),
  /** Whether the node streams the session's audio (also when the session webhook started it). */
  audio_streaming: z.boolean().optional(),
});
export type ChannelSnapshot = z.infer<typeof channelSnapshotSchema>;

/** Counters since the node process started (GetStatsReport sums them over the cluster). */
export const nodeCountersSchema = z.object({
  total_connection_created: z.number().int().nonnegative(),
  total_connection_updated: z.number().int().nonnegative(),
  total_connection_destroyed: z.number().int().nonnegative(),
  total_session_created: z.number().int().nonnegative(),
  total_session_destroyed: z.number().int().nonnegative(),
  total_successful_connections: z.number().int().nonnegative(),
  total_ongoing_connections: z.number().int().nonnegative(),
  total_failed_connections: z.number().int().nonnegative(),
  total_duration_msec: z.number().nonnegative(),
  total_setup_time_msec: z.number().nonnegative(),
  total_turn_udp_connections: z.number().int().nonnegative(),
  total_turn_tcp_connections: z.number().int().nonnegative(),
  total_received_invalid_turn_tcp_packet: z.number().int().nonnegative(),
  total_auth_webhook_allowed: z.number().int().nonnegative(),
  total_auth_webhook_denied: z.number().int().nonnegative(),
  total_successful_auth_webhook: z.number().int().nonnegative(),
  total_failed_auth_webhook: z.number().int().nonnegative(),
  total_successful_session_webhook: z.number().int().nonnegative(),
  total_failed_session_webhook: z.number().int().nonnegative(),
  total_successful_event_webhook: z.number().int().nonnegative(),
  total_failed_event_webhook: z.number().int().nonnegative(),
});
export type NodeCounters = z.infer<typeof nodeCountersSchema>;

/** Every counter at zero (the sum's start; a node that has reported nothing yet). */
export function zeroNodeCounters(): NodeCounters {
  const zero: Record<string, number> = {};
  for (const key of Object.keys(nodeCountersSchema.shape)) zero[key] = 0;
  return zero as NodeCounters;
}

export const licenseSchema = z.object({
  license_max_nodes: z.number().int().nullable(),
  license_max_connections: z.number().int().nullable(),
  license_serial_code: z.string().nullable(),
  license_type: z.string().nullable(),
});

// ---------------------------------------------------------------------------------------------
// node → edge

/**
 * Numbers what a node sends on one link (0 = its hello, then +1 per message; acks are not
 * numbered): the edge's runtime may dispatch two messages of a link in swapped order, and the
 * edge puts them back in this order before it applies them. Optional for older nodes.
 */
const seq = z.number().int().min(0).optional();

export const helloSchema = z.object({
  type: z.literal("hello"),
  seq,
  protocol_version: z.literal(CONTROL_PROTOCOL_VERSION),
  node_name: z.string().min(1).max(255),
  external_signaling_url: z.string(),
  external_api_url: z.string().nullable(),
  version: z.string(),
  license: licenseSchema,
  /** Join the cluster on connect (Sora's contact_node_name_list); a node that is the first ever forms it. */
  auto_join: z.boolean(),
  mode: nodeModeSchema,
  channels: z.array(channelSnapshotSchema),
  counters: nodeCountersSchema,
});
export type Hello = z.infer<typeof helloSchema>;

export const nodeReportSchema = z.discriminatedUnion("type", [
  helloSchema,
  z.object({ type: z.literal("session.created"), seq, channel: channelSnapshotSchema }),
  /** Session-level state the node changed on its own (the session webhook's answer). */
  z.object({ type: z.literal("session.updated"), seq, channel: channelSnapshotSchema }),
  z.object({ type: z.literal("session.destroyed"), seq, channel_id: z.string(), session_id: z.string() }),
  z.object({
    type: z.literal("connection.created"),
    seq,
    channel_id: z.string(),
    session_id: z.string(),
    connection: connectionInfoSchema,
  }),
  z.object({
    type: z.literal("connection.destroyed"),
    seq,
    channel_id: z.string(),
    session_id: z.string(),
    connection_id: z.string(),
  }),
  z.object({
    type: z.literal("user_agent_stats"),
    seq,
    channel_id: z.string(),
    connection_id: z.string(),
    /** ISO 8601 */
    timestamp: z.string(),
    stats: z.array(z.unknown()),
  }),
  z.object({ type: z.literal("counters"), seq, counters: nodeCountersSchema }),
  /** Answer to a command. */
  z.object({
    type: z.literal("ack"),
    id: z.number().int(),
    ok: z.boolean(),
    result: z.unknown().optional(),
    error_type: z.string().optional(),
    error_reason: z.unknown().optional(),
  }),
  /** Node-initiated request; the edge answers with `response` carrying the same id. */
  z.object({ type: z.literal("place"), seq, id: z.number().int(), channel_id: z.string() }),
]);
export type NodeReport = z.infer<typeof nodeReportSchema>;

// ---------------------------------------------------------------------------------------------
// edge → node

export const nodeCommandSchema = z.discriminatedUnion("name", [
  z.object({ name: z.literal("change_mode"), mode: nodeModeSchema }),
  /** Replace one connection's signaling notify metadata; optionally push `push` to the whole channel. */
  z.object({
    name: z.literal("set_notify_metadata"),
    channel_id: z.string(),
    connection_id: z.string(),
    metadata: z.unknown().optional(),
    push: z.unknown().optional(),
  }),
  /** Full pause set of a channel (idempotent). */
  z.object({ name: z.literal("set_paused_streams"), channel_id: z.string(), paused: z.array(pausedStreamSchema) }),
  /** Full rid-request set of a channel (idempotent). */
  z.object({ name: z.literal("set_rid_requests"), channel_id: z.string(), requests: z.array(ridRequestSchema) }),
  z.object({ name: z.literal("get_counters") }),
  z.object({ name: z.literal("generate_crash_log"), info: z.record(z.string(), z.unknown()).optional() }),
  /** Send a push message to connections of a channel (all when connection_ids is absent). */
  z.object({
    name: z.literal("push"),
    channel_id: z.string(),
    connection_ids: z.array(z.string()).optional(),
    data: z.unknown(),
  }),
  z.object({
    name: z.literal("change_upstream_video_bit_rate"),
    channel_id: z.string(),
    connection_id: z.string(),
    bit_rate: z.number().int(),
  }),
  z.object({
    name: z.literal("start_forwarding_rtp"),
    channel_id: z.string(),
    connection_id: z.string().optional(),
    ip_address: z.string(),
    audio_port: z.number().int(),
    video_port: z.number().int(),
  }),
  z.object({ name: z.literal("stop_forwarding_rtp"), channel_id: z.string(), connection_id: z.string().optional() }),
  z.object({ name: z.literal("start_audio_streaming"), channel_id: z.string() }),
  z.object({ name: z.literal("stop_audio_streaming"), channel_id: z.string() }),
  z.object({
    name: z.literal("set_audio_streaming_subscribers"),
    channel_id: z.string(),
    connection_ids: z.array(z.string()),
  }),
]);
export type NodeCommand = z.infer<typeof nodeCommandSchema>;
export type NodeCommandName = NodeCommand["name"];

export const edgeMessageSchema = z.discriminatedUnion("type", [
  /** Answer to hello: what the cluster remembers about this node. */
  z.object({
    type: z.literal("welcome"),
    node_name: z.string(),
    member: z.boolean(),
    epoch: z.number().int(),
    mode: nodeModeSchema,
  }),
  z.object({ type: z.literal("command"), id: z.number().int(), command: nodeCommandSchema }),
  /** Answer to `place`: `owner` is the node that owns the channel; `redirect_url` set when it is another node. */
  z.object({
    type: z.literal("response"),
    id: z.number().int(),
    owner: z.string(),
    redirect_url: z.string().optional(),
  }),
  /** The edge refused the link (bad secret, duplicate live node name, protocol mismatch). */
  z.object({ type: z.literal("refused"), reason: z.string() }),
]);
export type EdgeMessage = z.infer<typeof edgeMessageSchema>;

/** Error types the node answers in a failed `ack`; the edge maps them to 4xx API errors. */
export const NODE_ERROR_TYPES = [
  "CHANNEL-NOT-FOUND",
  "CONNECTION-NOT-FOUND",
  "FEATURE-NOT-AVAILABLE",
  "ALREADY-STARTED",
  "NOT-STARTED",
  "INVALID-COMMAND",
] as const;

/** How long the edge waits for an ack before answering NODE-UNREACHABLE. */
export const COMMAND_TIMEOUT_MS = 5_000;
/**
 * Liveness: the node sends the literal text frame "ping" this often; the edge answers "pong"
 * through the hibernation API's auto-response (no wake-up) and an alarm drops links whose
 * last auto-response is older than 3 intervals, so a SIGKILLed node shows `connected: false`
 * within ~6 s even when no TCP close arrives.
 */
export const CONTROL_PING_INTERVAL_MS = 2_000;
