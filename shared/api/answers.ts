import { z } from "zod";
import { channelId, connectionId, jsonObject, nodeName, reportedMode, mode } from "./fields.js";

// Answer shapes of the HTTP API, as Sora's documentation shows them. The edge's Durable Objects
// return these types (z.infer), the generated reference prints them and the edge tests parse
// real answers with them.

export const echo = <T extends z.ZodRawShape>(shape: T) => z.object(shape);

export const clusterMemberAnswer = z.object({
  node_name: nodeName,
  epoch: z.number().int().describe("Times the node has (re)joined the cluster."),
  external_signaling_url: z.string(),
  external_api_url: z.string().nullable(),
  version: z.string(),
  license_max_nodes: z.number().int().nullable(),
  license_max_connections: z.number().int().nullable(),
  license_serial_code: z.string().nullable(),
  license_type: z.string().nullable(),
  connected: z.boolean().describe("The node has a live control link to the edge."),
  mode: reportedMode,
});
export type ClusterMemberAnswer = z.infer<typeof clusterMemberAnswer>;

/** With include_all_known_nodes: a node that linked but is not a member. */
export const knownNodeAnswer = z.object({ node_name: nodeName, connected: z.boolean() });

export const clusterChannelAnswer = z.object({
  channel_id: channelId,
  owners: z.array(
    z.object({
      node_name: nodeName,
      epoch: z.number().int().describe("The owner's epoch when it took the channel."),
      epoch_latest: z.number().int().describe("The owner's epoch now."),
      connected: z.boolean(),
    }),
  ),
});

export const channelSummaryAnswer = z.object({ channel_id: channelId, multistream: z.boolean(), spotlight: z.boolean() });

export const modeAnswer = z.object({
  mode: reportedMode,
  /** Our extension: present only when the cluster's members are in different modes. */
  modes: z.record(z.string(), mode).optional(),
});

export const metadataListAnswer = z.array(
  z.object({ connection_id: connectionId, bundle_id: z.string(), client_id: z.string(), metadata: z.unknown() }),
);

export const pausedStreamAnswer = z.object({
  channel_id: channelId,
  recv_connection_id: connectionId,
  send_connection_id: connectionId,
  role: z.enum(["sendrecv", "sendonly", "recvonly"]).describe("The receiver's role."),
});

export const userAgentStatsEntry = z.object({
  channel_id: channelId,
  connection_id: connectionId,
  timestamp: z.string().describe("ISO 8601, when the client sent them."),
  user_agent_stats: z.array(z.unknown()),
});

export const userAgentStatsAnswer = z.object({
  channel_id: channelId,
  connection_id: connectionId,
  stats: z.array(z.unknown()),
  timestamp: z.string(),
});

const counter = z.number().int().nonnegative();
export const statsReportAnswer = z.object({
  version: z.string(),
  total_connection_created: counter,
  total_connection_updated: counter,
  total_connection_destroyed: counter,
  total_session_created: counter,
  total_session_destroyed: counter,
  total_successful_connections: counter,
  total_ongoing_connections: counter,
  total_failed_connections: counter,
  total_duration_sec: counter,
  total_turn_udp_connections: counter,
  total_turn_tcp_connections: counter,
  total_received_invalid_turn_tcp_packet: counter,
  total_auth_webhook_allowed: counter,
  total_auth_webhook_denied: counter,
  total_successful_auth_webhook: counter,
  total_failed_auth_webhook: counter,
  total_successful_session_webhook: counter,
  total_failed_session_webhook: counter,
  total_successful_event_webhook: counter,
  total_failed_event_webhook: counter,
  average_duration_sec: counter.describe("total_duration_sec / total_connection_destroyed."),
  average_setup_time_msec: counter.describe("Signaling start to WebRTC connected, over successful connections."),
  cluster: z
    .object({
      store: z.literal("durable-object"),
      members: counter,
      connected_members: counter,
      known_nodes: counter,
      epoch_max: counter,
      channels: counter,
      /** Nodes whose counters were read live; the others' last reported counters were used. */
      nodes_answered: counter,
    })
    .describe("Our equivalent of Sora's Raft state: what the edge's cluster store holds."),
});
export type StatsReportAnswer = z.infer<typeof statsReportAnswer>;

export const emptyAnswer = z.object({}).describe("`{}`");
export const anyMetadataAnswer = z.unknown().describe("The connection's signaling notify metadata (`{}` when none).");
export const metadataObjectAnswer = jsonObject;

/** ListConnections / ListChannelConnections: one live connection (Sora's `Connection`, sora-server-sdk-ts signaling.d.ts). */
export const connectionListEntry = z.object({
  channel_id: channelId,
  client_id: z.string(),
  bundle_id: z.string(),
  connection_id: connectionId,
  role: z.enum(["sendrecv", "sendonly", "recvonly"]),
  audio: z.boolean(),
  video: z.boolean(),
  simulcast: z.boolean(),
  spotlight: z.boolean(),
  multistream: z.boolean(),
  created_time: z.number().int().describe("Unix time (s) the connection was created."),
});

/** Push*: Sora's 2016 example answers the message the clients get. */
export const pushAnswer = z.object({ type: z.literal("push"), data: jsonObject });

const rtpCounters = z.object({
  total_received_rtp: z.number().int().nonnegative(),
  total_received_rtp_byte_size: z.number().int().nonnegative().describe("RTP payload bytes."),
});

/**
 * GetStatsConnection: the keys of Sora's statistics list (sora-doc API_STATS) that the node
 * counts. `rtp` covers everything the connection sends to the server; simulcast senders also
 * get `simulcast.{r0,r1,r2}.rtp` for their video layers. Other keys of Sora's list are absent.
 */
export const connectionStatsAnswer = z.looseObject({
  timestamp: z.string().describe("RFC 3339 with microseconds, UTC."),
  channel_id: channelId,
  session_id: z.string(),
  client_id: z.string(),
  bundle_id: z.string(),
  connection_id: connectionId,
  rtp: rtpCounters,
  simulcast: z.object({ r0: z.object({ rtp: rtpCounters }), r1: z.object({ rtp: rtpCounters }), r2: z.object({ rtp: rtpCounters }) }).optional(),
});
export type ConnectionStatsAnswer = z.infer<typeof connectionStatsAnswer>;
