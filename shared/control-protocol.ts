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
//   A snapshot larger than one frame is sent in parts: the hello carries the first
//   (`snapshot_complete: false`), `snapshot` reports the rest, the last with `complete: true`.
// - No frame exceeds MAX_CONTROL_MESSAGE_BYTES: free JSON is bounded where it enters
//   (shared/json-limits.ts), the edge refuses an API call whose command would not fit, and the
//   node drops a report that would not fit rather than lose the link (a too-large frame closes it).
// - Everything but acks carries `seq` (per link, hello = 0), so the edge applies reports in the
//   order the node sent them even when its runtime dispatches them out of order.
// - A node may put the messages it queued in one event-loop tick into one `batch` frame (each
//   keeps its own `seq`) once the edge's welcome says it accepts them.
// - Commands are idempotent (they carry the full new state, not a delta) so a retried
//   command is harmless.

export const CONTROL_PATH = "/node";
export const CONTROL_PROTOCOL_VERSION = 1;
export const MAX_CONTROL_MESSAGE_BYTES = 1024 * 1024;

export const nodeModeSchema = z.enum(["normal", "block_new_session", "block_new_connection"]);
export type NodeMode = z.infer<typeof nodeModeSchema>;

/**
 * What a command came to: the node's `ack` without its envelope, as the node's executor returns it
 * and the edge's caller receives it (error_type is a Sora-style error, e.g. CONNECTION-NOT-FOUND,
 * or the edge's own NODE-UNREACHABLE).
 */
export interface CommandOutcome {
  ok: boolean;
  result?: unknown;
  error_type?: string;
  error_reason?: unknown;
}

export const roleSchema = z.enum(["sendrecv", "sendonly", "recvonly"]);
export const ridSchema = z.enum(["r0", "r1", "r2"]);
export type Rid = z.infer<typeof ridSchema>;
/** A receiver's rid choice: a layer, or `none` (no video of that sender; RPC RequestSimulcastRid, spotlight rids). */
export const ridOrNoneSchema = z.enum(["none", "r0", "r1", "r2"]);
export type RidOrNone = z.infer<typeof ridOrNoneSchema>;

/** One connection as the edge stores it (ChannelDO) and as ListSignalingNotifyMetadata needs it. */
export const connectionInfoSchema = z.object({
  connection_id: z.string(),
  client_id: z.string(),
  bundle_id: z.string(),
  role: roleSchema,
  simulcast: z.boolean(),
  spotlight: z.boolean(),
  /** Whether the connection has audio / video (ListConnections); absent from older nodes. */
  audio: z.boolean().optional(),
  video: z.boolean().optional(),
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
  /** `none` comes from RPC RequestSimulcastRid only (RequestRtpStream takes r0..r2). Absent = the
   *  pair was reset past an all-senders request (see shared/rid-requests.ts). */
  rid: ridOrNoneSchema.optional(),
});
export type RidRequest = z.infer<typeof ridRequestSchema>;

/** RPC RequestSpotlightRid: the layers a receiver gets of focused / unfocused senders in a spotlight channel. */
export const spotlightRidRequestSchema = z.object({
  recv_connection_id: z.string(),
  /** Absent = every sender of the channel. */
  send_connection_id: z.string().optional(),
  spotlight_focus_rid: ridOrNoneSchema,
  spotlight_unfocus_rid: ridOrNoneSchema,
});
export type SpotlightRidRequest = z.infer<typeof spotlightRidRequestSchema>;

/**
 * A channel change a connection asked for itself over DataChannel RPC (Sora 2025.2
 * `rpc_methods`; the method name without its version prefix). The params are the HTTP API's,
 * the caller being the receiver / the metadata owner. The node has validated them and checked
 * that the connection may call the method; the edge applies the change like the API call.
 */
export const connectionCallSchema = z.discriminatedUnion("method", [
  z.object({ method: z.literal("RequestSimulcastRid"), rid: ridOrNoneSchema, sender_connection_id: z.string().optional() }),
  z.object({
    method: z.literal("RequestSpotlightRid"),
    send_connection_id: z.string().optional(),
    spotlight_focus_rid: ridOrNoneSchema,
    spotlight_unfocus_rid: ridOrNoneSchema,
  }),
  z.object({ method: z.literal("ResetSpotlightRid"), send_connection_id: z.string().optional() }),
  z.object({ method: z.literal("PutSignalingNotifyMetadata"), metadata: z.record(z.string(), z.unknown()), push: z.boolean().optional() }),
  z.object({ method: z.literal("PutSignalingNotifyMetadataItem"), key: z.string().min(1).max(255), value: z.unknown(), push: z.boolean().optional() }),
]);
export type ConnectionCall = z.infer<typeof connectionCallSchema>;

export const channelSnapshotSchema = z.object({
  channel_id: z.string(),
  session_id: z.string(),
  multistream: z.boolean(),
  spotlight: z.boolean(),
  simulcast: z.boolean(),
  created_at: z.number().int(),
  connections: z.array(connectionInfoSchema),
  /**
   * Every live connection of the channel when `connections` holds only some of them (a channel
   * too large for one frame is sent in several parts, each with this full list).
   */
  connection_ids: z.array(z.string()).optional(),
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

/**
 * A node's load as it reports it every LOAD_REPORT_INTERVAL_MS (and in its hello): placement
 * sends a new session to the connected member with the lowest `connections / max_connections`
 * (Sora's rule, docs/reference sora-signaling.md "lowest connections / licensed max").
 */
export const nodeLoadSchema = z.object({
  connections: z.number().int().nonnegative(),
  /** The node's hard cap (config `max_connections`); null = none. */
  max_connections: z.number().int().positive().nullable(),
  forwarded_packets_per_second: z.number().nonnegative(),
  cpu_percent: z.number().nonnegative(),
  event_loop_delay_p99_ms: z.number().nonnegative(),
});
export type NodeLoad = z.infer<typeof nodeLoadSchema>;

/** How often a node reports its load (placement works on loads at most this old, plus the hop). */
export const LOAD_REPORT_INTERVAL_MS = 2_000;

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
  /** The node's load at connect time (absent from older nodes). */
  load: nodeLoadSchema.optional(),
  /** False when `snapshot` reports with more channels follow (absent = the snapshot is complete). */
  snapshot_complete: z.boolean().optional(),
});
export type Hello = z.infer<typeof helloSchema>;

export const nodeReportSchema = z.discriminatedUnion("type", [
  helloSchema,
  /** More of the hello's snapshot; the edge forgets the node's other channels after `complete`. */
  z.object({ type: z.literal("snapshot"), seq, channels: z.array(channelSnapshotSchema), complete: z.boolean() }),
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
  /** The node's current load (every LOAD_REPORT_INTERVAL_MS), kept by its NodeObject for placement. */
  z.object({ type: z.literal("load"), seq, load: nodeLoadSchema }),
  /** Stands in for a report the node dropped because it would not fit a frame (keeps `seq` gapless). */
  z.object({ type: z.literal("dropped"), seq, report_type: z.string() }),
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
  /**
   * `full`: the asking node hosts the channel but is at its max_connections (cluster relay): the
   * edge places the client elsewhere and counts the node as full for a while, whatever its last
   * load report said.
   */
  z.object({ type: z.literal("place"), seq, id: z.number().int(), channel_id: z.string(), full: z.boolean().optional() }),
  /**
   * A connection's RPC that changes channel state the edge holds: the edge applies it (and
   * commands this node with the new full state, as for the API call), then answers `rpc_result`.
   */
  z.object({
    type: z.literal("rpc"),
    seq,
    id: z.number().int(),
    channel_id: z.string(),
    connection_id: z.string(),
    call: connectionCallSchema,
  }),
]);
export type NodeReport = z.infer<typeof nodeReportSchema>;

/** At most this many messages in one `batch` frame (the frame itself stays within MAX_CONTROL_MESSAGE_BYTES). */
export const MAX_BATCH_REPORTS = 1_000;

/**
 * Several node messages in one frame (reports with their own consecutive `seq`, and acks), in
 * the order the node sent them: what the node queued in one tick of its event loop. Sent only
 * to an edge whose welcome says `batches: true`. The edge checks the envelope here and each
 * message on its own (nodeReportSchema): a bad one is skipped by its `seq` like a bad single
 * frame, the others are applied.
 */
export const reportBatchSchema = z.object({
  type: z.literal("batch"),
  reports: z.array(z.unknown()).min(1).max(MAX_BATCH_REPORTS),
});
export type ReportBatch = { type: "batch"; reports: NodeReport[] };

// ---------------------------------------------------------------------------------------------
// edge → node

/** One node serving a channel, as `set_channel_nodes` lists it. */
export const channelNodeSchema = z.object({ node_name: z.string().min(1).max(255), signaling_url: z.string() });
export type ChannelNode = z.infer<typeof channelNodeSchema>;

/**
 * The node-to-node relay endpoint of a node, derived from its signaling URL (same server, path
 * `/relay`): `ws://host:5000/signaling` → `ws://host:5000/relay`. See docs/relay.md.
 */
export function relayUrlOf(signalingUrl: string): string {
  const url = new URL(signalingUrl);
  url.pathname = url.pathname.replace(/\/signaling\/?$/, "") + "/relay";
  url.search = "";
  return url.toString();
}

export const nodeCommandSchema = z.discriminatedUnion("name", [
  z.object({ name: z.literal("change_mode"), mode: nodeModeSchema }),
  /**
   * Cluster relay: every node that serves the channel's session now (this node included), sent to
   * each of them whenever the set changes (full state, idempotent). Each node keeps one relay link
   * pulling the channel from every other listed node (it dials that node's `relayUrlOf(...)` with
   * `relay_token`) and accepts pulls of this channel only with this token. A set of one (or a
   * node missing from it) closes that node's relay links of the channel.
   */
  z.object({
    name: z.literal("set_channel_nodes"),
    channel_id: z.string(),
    session_id: z.string(),
    relay_token: z.string().min(16).max(128),
    nodes: z.array(channelNodeSchema).max(256),
  }),
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
  /** Full spotlight rid-request set of a channel (idempotent). */
  z.object({ name: z.literal("set_spotlight_rid_requests"), channel_id: z.string(), requests: z.array(spotlightRidRequestSchema) }),
  z.object({ name: z.literal("get_counters") }),
  z.object({ name: z.literal("generate_crash_log"), info: z.record(z.string(), z.unknown()).optional() }),
  /**
   * Send a push message to connections of a channel: all of them, or those matching every given
   * selector (connection_ids, client_id, role). Acks `{connection_ids}` of the connections pushed to.
   */
  z.object({
    name: z.literal("push"),
    channel_id: z.string(),
    connection_ids: z.array(z.string()).optional(),
    client_id: z.string().optional(),
    role: roleSchema.optional(),
    data: z.unknown(),
  }),
  /**
   * End connections as Sora's Disconnect* APIs do (WebSocket close 1000 DISCONNECTED-API, or a
   * `close` message on the `signaling` DataChannel for DataChannel-only clients): every connection
   * of the channel, or those matching every given selector. `reason` goes into the event webhook
   * `connection.destroyed` as `disconnect_api_reason`. Acks `{connection_ids}` of those ended.
   */
  z.object({
    name: z.literal("disconnect"),
    channel_id: z.string(),
    connection_id: z.string().optional(),
    client_id: z.string().optional(),
    role: roleSchema.optional(),
    reason: z.record(z.string(), z.unknown()).optional(),
  }),
  /** GetStatsConnection: acks the connection's server-side counters (shared/api/answers.ts connectionStatsAnswer). */
  z.object({ name: z.literal("get_connection_stats"), channel_id: z.string(), connection_id: z.string() }),
  /** RequestKeyFrame: PLI on every video layer of the sender, every 1 s up to 5 times until a keyframe arrives. */
  z.object({ name: z.literal("request_key_frame"), channel_id: z.string(), connection_id: z.string() }),
  /** FocusSpotlight / FocusSpotlightFixed / UnfocusSpotlight. */
  z.object({
    name: z.literal("set_spotlight_focus"),
    channel_id: z.string(),
    connection_id: z.string(),
    focus: z.enum(["focus", "fixed", "unfocus"]),
  }),
  z.object({ name: z.literal("change_spotlight_number"), channel_id: z.string(), spotlight_number: z.number().int().min(1).max(8) }),
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
    /** The edge accepts `batch` frames (absent from older edges: the node then sends one message per frame). */
    batches: z.boolean().optional(),
  }),
  z.object({ type: z.literal("command"), id: z.number().int(), command: nodeCommandSchema }),
  /** Answer to `place`: `owner` is the node that owns the channel; `redirect_url` set when it is another node. */
  z.object({
    type: z.literal("response"),
    id: z.number().int(),
    owner: z.string(),
    redirect_url: z.string().optional(),
    /**
     * Cluster relay: set when the channel already has a live session on another node and the
     * asking node is to serve it too (`owner` is the asking node): the node joins that session
     * (same session_id, no second session.created webhook) and the edge lists it in
     * `set_channel_nodes`.
     */
    session_id: z.string().optional(),
    /** Set when no node may take the new session (every one full or blocked): the client is refused with it. */
    refused: z.string().optional(),
  }),
  /** Answer to `rpc`: the JSON-RPC result, or the API error it ran into. */
  z.object({
    type: z.literal("rpc_result"),
    id: z.number().int(),
    ok: z.boolean(),
    result: z.unknown().optional(),
    error_type: z.string().optional(),
    error_reason: z.unknown().optional(),
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
  "NOT-A-SENDER",
  "CLIENT-NOT-FOUND",
  "SPOTLIGHT-NOT-ENABLED",
  "SPOTLIGHT-NO-ROOM",
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
