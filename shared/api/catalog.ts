import { z } from "zod";
import {
  anyMetadataAnswer,
  channelSummaryAnswer,
  clusterChannelAnswer,
  clusterMemberAnswer,
  connectionListEntry,
  connectionStatsAnswer,
  echo,
  emptyAnswer,
  knownNodeAnswer,
  metadataListAnswer,
  modeAnswer,
  pausedStreamAnswer,
  pushAnswer,
  statsReportAnswer,
  userAgentStatsAnswer,
  userAgentStatsEntry,
} from "./answers.js";
import {
  bitRate,
  channelId,
  channelKey,
  connectionId,
  connectionKey,
  ipAddress,
  jsonObject,
  jsonValue,
  mode,
  nodeName,
  port,
  push,
  rid,
  ridOrNone,
  streamPair,
} from "./fields.js";

// The HTTP API: one entry per `x-sora-target` of ../reference/seed-api.md. Each entry is the only
// definition of its call: the edge validates bodies with `request`, routes to the Durable Object
// named by `object` (a method of the same name), the Durable Object returns `answer`'s type, and
// scripts/gen-api-docs.ts prints docs/api.md from it.
//
// Bodies are parsed with z.object (unknown keys are dropped, not refused): Sora clients send
// extras such as `"redirect": false` that must not fail a call.

/** Which Durable Object serves a call: the cluster singleton or the channel's own object. */
export type HandlerObject = "cluster" | "channel";

interface EntryDef<Req extends z.ZodType, Ans extends z.ZodType, O extends HandlerObject> {
  /** Date part of the target (Sora's API version of this call). */
  date: string;
  section: string;
  object: O;
  description: string;
  request: Req;
  answer: Ans;
  /** What we add to Sora's call, if anything (documented as an extension). */
  extension?: string;
}

const entry = <Req extends z.ZodType, Ans extends z.ZodType, O extends HandlerObject>(def: EntryDef<Req, Ans, O>) => def;

const noKeys = z.object({});

// Keys of the connection-management calls (Disconnect*, Push*, spotlight focus).
const role = z.enum(["sendrecv", "sendonly", "recvonly"]).describe("`sendrecv`, `sendonly` or `recvonly`.");
const clientId = z.string().min(1).max(255).describe("Client id (the connect's `client_id`, else the connection id).");
const disconnectReason = jsonObject
  .optional()
  .describe("Any JSON object; the event webhook `connection.destroyed` carries it as `disconnect_api_reason`.");
const spotlightNumber = z.number().int().min(1).max(8).describe("Focused senders at once, 1–8.");
const pushData = jsonObject.describe("JSON object the clients receive as `{\"type\": \"push\", \"data\": ...}`.");

export const catalog = {
  // --- Simulcast ------------------------------------------------------------------------------
  RequestRtpStream: entry({
    date: "20201005",
    section: "Simulcast",
    object: "channel",
    description:
      "The subscriber `recv_connection_id` receives layer `rid` of `send_connection_id`'s simulcast video (of every sender, present and future, when omitted; the latest call covering a pair decides it); a missing layer falls back to the highest lower one.",
    request: z.object({ channel_id: channelId, recv_connection_id: connectionId, send_connection_id: connectionId.optional(), rid }),
    answer: echo({ channel_id: channelId, recv_connection_id: connectionId, send_connection_id: connectionId.optional(), rid }),
  }),
  ResetRtpStream: entry({
    date: "20201005",
    section: "Simulcast",
    object: "channel",
    description: "Returns the pair (or, without `send_connection_id`, every pair of the subscriber) to its connect-time rid, whatever RequestRtpStream covered it.",
    request: z.object({ channel_id: channelId, recv_connection_id: connectionId, send_connection_id: connectionId.optional() }),
    answer: echo({ channel_id: channelId, recv_connection_id: connectionId, send_connection_id: connectionId.optional() }),
  }),

  RequestSimulcastRid: entry({
    date: "20251217",
    section: "Simulcast",
    object: "channel",
    description:
      "The HTTP twin of DataChannel RPC `2025.2.0/RequestSimulcastRid`, for any receiver: the same state and rule as RequestRtpStream (the latest call covering a pair decides it), and `rid` may be `none`. The receiver gets `simulcast.switched` when its layer changes. Not bound by the receiver's `simulcast_rpc_rids`.",
    request: z.object({ channel_id: channelId, receiver_connection_id: connectionId, rid: ridOrNone, sender_connection_id: connectionId.optional() }),
    answer: echo({ channel_id: channelId, receiver_connection_id: connectionId, rid: ridOrNone, sender_connection_id: connectionId.optional() }),
  }),

  // --- Signaling (experimental) ---------------------------------------------------------------
  ListChannels: entry({
    date: "20201013",
    section: "Signaling",
    object: "cluster",
    description: "Every channel that has a session now.",
    request: noKeys,
    answer: z.array(channelSummaryAnswer),
  }),

  ListConnections: entry({
    date: "20201013",
    section: "Signaling",
    object: "cluster",
    description: "Every live connection of every channel.",
    request: noKeys,
    answer: z.array(connectionListEntry),
  }),
  ListChannelConnections: entry({
    date: "20201013",
    section: "Signaling",
    object: "channel",
    description: "Every live connection of one channel.",
    request: z.object(channelKey),
    answer: z.array(connectionListEntry),
  }),
  DisconnectChannel: entry({
    date: "20151104",
    section: "Signaling",
    object: "channel",
    description:
      "Ends every connection of the channel as Sora does: WebSocket close `1000 DISCONNECTED-API`; a client left with DataChannel signaling only (`ignore_disconnect_websocket`) first gets `{\"type\":\"close\",\"code\":1000,\"reason\":\"DISCONNECTED-API\"}` on the `signaling` DataChannel. The others get `connection.destroyed`.",
    request: z.object({ ...channelKey, reason: disconnectReason }),
    answer: echo(channelKey),
  }),
  DisconnectClient: entry({
    date: "20151104",
    section: "Signaling",
    object: "channel",
    description: "Ends every connection with that `client_id`, as DisconnectChannel.",
    request: z.object({ ...channelKey, client_id: clientId, reason: disconnectReason }),
    answer: echo({ ...channelKey, client_id: clientId }),
  }),
  DisconnectConnection: entry({
    date: "20151104",
    section: "Signaling",
    object: "channel",
    description: "Ends one connection, as DisconnectChannel.",
    request: z.object({ ...connectionKey, reason: disconnectReason }),
    answer: echo(connectionKey),
  }),
  DisconnectChannelByRole: entry({
    date: "20201120",
    section: "Signaling",
    object: "channel",
    description: "Ends every connection of the channel with that role (none is no error), as DisconnectChannel.",
    request: z.object({ ...channelKey, role, reason: disconnectReason }),
    answer: echo({ ...channelKey, role }),
    extension: "`reason` (optional), as the other Disconnect calls take it.",
  }),

  // --- Push -----------------------------------------------------------------------------------
  PushChannel: entry({
    date: "20160711",
    section: "Push",
    object: "channel",
    description: "Sends `{\"type\":\"push\",\"data\":data}` to every connection of the channel (over the `push` DataChannel after `switched`).",
    request: z.object({ ...channelKey, data: pushData }),
    answer: pushAnswer,
  }),
  PushClient: entry({
    date: "20160711",
    section: "Push",
    object: "channel",
    description: "The same to every connection with that `client_id`.",
    request: z.object({ ...channelKey, client_id: clientId, data: pushData }),
    answer: pushAnswer,
  }),
  PushConnection: entry({
    date: "20160711",
    section: "Push",
    object: "channel",
    description: "The same to one connection.",
    request: z.object({ ...connectionKey, data: pushData }),
    answer: pushAnswer,
  }),
  PushChannelByRole: entry({
    date: "20201120",
    section: "Push",
    object: "channel",
    description: "The same to every connection of the channel with that role (none is no error).",
    request: z.object({ ...channelKey, role, data: pushData }),
    answer: pushAnswer,
  }),

  // --- Spotlight ------------------------------------------------------------------------------
  FocusSpotlightFixed: entry({
    date: "20200807",
    section: "Spotlight",
    object: "channel",
    description:
      "Focuses that sender until UnfocusSpotlight: it takes a free slot, else the slot of the quietest sender not fixed (SPOTLIGHT-NO-ROOM when all are fixed). Notifies carry `fixed: true`.",
    request: z.object(connectionKey),
    answer: echo(connectionKey),
  }),
  FocusSpotlight: entry({
    date: "20200807",
    section: "Spotlight",
    object: "channel",
    description:
      "Focuses that sender now; afterwards speaker detection goes on as usual (the forced focus is held at least 5 s before a speaker may take its slot).",
    request: z.object(connectionKey),
    answer: echo(connectionKey),
  }),
  UnfocusSpotlight: entry({
    date: "20200807",
    section: "Spotlight",
    object: "channel",
    description:
      "Removes that sender's focus (also a fixed one); it is not refocused by join order, only when it speaks. Its slot goes to another sender.",
    request: z.object(connectionKey),
    answer: echo(connectionKey),
  }),
  RequestSpotlightRid: entry({
    date: "20211215",
    section: "Spotlight",
    object: "channel",
    description:
      "The receiver `recv_connection_id` gets focused senders at `spotlight_focus_rid` and the others at `spotlight_unfocus_rid` (`none` = no video), for `send_connection_id` or (omitted) every sender; a request for one sender wins over the one for all. RequestRtpStream / RequestSimulcastRid for the pair win over both. Same state as DataChannel RPC `2025.2.0/RequestSpotlightRid`.",
    request: z.object({
      channel_id: channelId,
      recv_connection_id: connectionId,
      spotlight_focus_rid: ridOrNone,
      spotlight_unfocus_rid: ridOrNone,
      send_connection_id: connectionId.optional(),
    }),
    answer: echo({
      channel_id: channelId,
      recv_connection_id: connectionId,
      spotlight_focus_rid: ridOrNone,
      spotlight_unfocus_rid: ridOrNone,
      send_connection_id: connectionId.optional(),
    }),
  }),
  ResetSpotlightRid: entry({
    date: "20211215",
    section: "Spotlight",
    object: "channel",
    description:
      "Drops the receiver's RequestSpotlightRid for `send_connection_id`, or (omitted) all of them: the connect's `spotlight_focus_rid` / `spotlight_unfocus_rid` apply again (default `r1` / `r0`).",
    request: z.object({ channel_id: channelId, recv_connection_id: connectionId, send_connection_id: connectionId.optional() }),
    answer: echo({ channel_id: channelId, recv_connection_id: connectionId, send_connection_id: connectionId.optional() }),
  }),
  ChangeSpotlightNumber: entry({
    date: "20200807",
    section: "Spotlight",
    object: "channel",
    description: "Changes how many senders are focused at once (1–8) in the live session.",
    request: z.object({ ...channelKey, spotlight_number: spotlightNumber }),
    answer: echo({ ...channelKey, spotlight_number: spotlightNumber }),
  }),

  // --- Cluster --------------------------------------------------------------------------------
  InitCluster: entry({
    date: "20221221",
    section: "Cluster",
    object: "cluster",
    description:
      "Forms the cluster from exactly `node_name_list`: each must be connected; their epochs restart at 1, every other node becomes known-only. Needed again only when a cluster broke.",
    request: z.object({ node_name_list: z.array(nodeName).min(1).max(100) }),
    answer: z.object({ node_name_list: z.array(nodeName) }),
  }),
  JoinCluster: entry({
    date: "20211215",
    section: "Cluster",
    object: "cluster",
    description:
      "Joins nodes to the cluster `contact_node_name` belongs to (it must be a connected member, and a majority of members must be connected). The edge is the cluster store, so the call names the joining node with `node_name`; without it every connected non-member joins.",
    request: z.object({ contact_node_name: nodeName, node_name: nodeName.optional() }),
    answer: z.object({ node_name_list: z.array(nodeName) }),
    extension: "`node_name` (optional) picks the joining node.",
  }),
  ListClusterNodes: entry({
    date: "20211215",
    section: "Cluster",
    object: "cluster",
    description:
      "Cluster members with their identity, license fields, epoch, mode and whether their control link is up. With `include_all_known_nodes`, also nodes that linked but are not members (only `node_name`, `connected`).",
    request: z.object({ include_all_known_nodes: z.boolean().optional() }),
    answer: z.array(z.union([clusterMemberAnswer, knownNodeAnswer])),
  }),
  ListClusterChannels: entry({
    date: "20211215",
    section: "Cluster",
    object: "cluster",
    description: "Which node owns each live channel.",
    request: noKeys,
    answer: z.array(clusterChannelAnswer),
  }),
  PurgeClusterNode: entry({
    date: "20220629",
    section: "Cluster",
    object: "cluster",
    description:
      "Erases a node that is down for good (its membership, counters and channels). Fails with NODE-IS-ALIVE while it has a live link; needs a majority of the remaining members connected.",
    request: z.object({ target_node_name: nodeName }),
    answer: z.object({ target_node_name: nodeName }),
  }),

  // --- Mode -----------------------------------------------------------------------------------
  ChangeMode: entry({
    date: "20211215",
    section: "Mode",
    object: "cluster",
    description:
      "Sets the mode of every member (or of `node_name`): stored on the edge (re-sent to a node each time it links, so it survives restarts) and commanded to connected nodes. Live connections are untouched.",
    request: z.object({ mode, node_name: nodeName.optional() }),
    answer: z.object({ mode }),
    extension: "`node_name` (optional) changes one node only.",
  }),
  GetMode: entry({
    date: "20211215",
    section: "Mode",
    object: "cluster",
    description:
      "The members' mode (or `node_name`'s). When members differ, `mode` is the most restrictive and `modes` maps each member to its mode; `initial` when the cluster has no member.",
    request: z.object({ node_name: nodeName.optional() }),
    answer: modeAnswer,
    extension: "`node_name` (optional); `modes` when members differ.",
  }),

  // --- RTP forwarding -------------------------------------------------------------------------
  StartForwardingRtp: entry({
    date: "20170814",
    section: "RTP forwarding",
    object: "channel",
    description:
      "Sends the channel's (or that connection's) audio and video as plain RTP to `ip_address`; answers an SDP a receiver such as ffmpeg can open.",
    request: z.object({ channel_id: channelId, connection_id: connectionId.optional(), ip_address: ipAddress, audio_port: port, video_port: port }),
    answer: z.object({ sdp: z.string() }),
  }),
  StopForwardingRtp: entry({
    date: "20170814",
    section: "RTP forwarding",
    object: "channel",
    description: "Stops RTP forwarding.",
    request: z.object({ channel_id: channelId, connection_id: connectionId.optional() }),
    answer: echo({ channel_id: channelId, connection_id: connectionId.optional() }),
  }),

  // --- Signaling notify metadata extension ----------------------------------------------------
  ListSignalingNotifyMetadata: entry({
    date: "20201124",
    section: "Signaling notify metadata",
    object: "channel",
    description: "Every connection's metadata in the channel (order not guaranteed).",
    request: z.object(channelKey),
    answer: metadataListAnswer,
  }),
  GetSignalingNotifyMetadata: entry({
    date: "20201124",
    section: "Signaling notify metadata",
    object: "channel",
    description: "One connection's metadata.",
    request: z.object(connectionKey),
    answer: anyMetadataAnswer,
  }),
  PutSignalingNotifyMetadata: entry({
    date: "20201124",
    section: "Signaling notify metadata",
    object: "channel",
    description: "Creates or replaces a connection's metadata; answers the metadata after.",
    request: z.object({ ...connectionKey, metadata: jsonObject, push }),
    answer: anyMetadataAnswer,
  }),
  DeleteSignalingNotifyMetadata: entry({
    date: "20201124",
    section: "Signaling notify metadata",
    object: "channel",
    description: "Deletes a connection's metadata (no error when empty); answers the metadata before.",
    request: z.object({ ...connectionKey, push }),
    answer: anyMetadataAnswer,
  }),
  PutSignalingNotifyMetadataItem: entry({
    date: "20201124",
    section: "Signaling notify metadata",
    object: "channel",
    description: "Creates or replaces one key of a connection's metadata; answers the metadata after.",
    request: z.object({ ...connectionKey, key: z.string().min(1).max(255), value: jsonValue, push }),
    answer: anyMetadataAnswer,
  }),
  DeleteSignalingNotifyMetadataItem: entry({
    date: "20201124",
    section: "Signaling notify metadata",
    object: "channel",
    description: "Deletes one key (no error when absent); answers the metadata after.",
    request: z.object({ ...connectionKey, key: z.string().min(1).max(255), push }),
    answer: anyMetadataAnswer,
  }),

  // --- Pause / resume -------------------------------------------------------------------------
  PauseRtpStream: entry({
    date: "20200401",
    section: "Pause / resume",
    object: "channel",
    description: "Stops relaying `send_connection_id`'s video to `recv_connection_id` (the sender keeps sending to the server).",
    request: z.object(streamPair),
    answer: echo(streamPair),
  }),
  ResumeRtpStream: entry({
    date: "20200401",
    section: "Pause / resume",
    object: "channel",
    description: "Relaying resumes (the subscriber gets a keyframe quickly).",
    request: z.object(streamPair),
    answer: echo(streamPair),
  }),
  ListPauseRtpStreams: entry({
    date: "20200401",
    section: "Pause / resume",
    object: "channel",
    description: "The channel's paused send→recv pairs, with the receiver's role.",
    request: z.object(channelKey),
    answer: z.array(pausedStreamAnswer),
  }),

  // --- Statistics -----------------------------------------------------------------------------
  GetStatsReport: entry({
    date: "20171010",
    section: "Statistics",
    object: "cluster",
    description:
      "Counters since each node started, summed over the cluster (read live from connected nodes, last reported for the others; a disconnected node counts no ongoing connection).",
    request: noKeys,
    answer: statsReportAnswer,
  }),
  GetStatsConnection: entry({
    date: "20170529",
    section: "Statistics",
    object: "channel",
    description: "Server-side counters of one connection, read live from its node (Sora's statistics keys the node counts).",
    request: z.object(connectionKey),
    answer: connectionStatsAnswer,
  }),
  ListUserAgentStats: entry({
    date: "20211215",
    section: "Statistics",
    object: "cluster",
    description: "Latest `getStats()` each client sent, over every live channel.",
    request: noKeys,
    answer: z.array(userAgentStatsEntry),
  }),
  ListChannelUserAgentStats: entry({
    date: "20211215",
    section: "Statistics",
    object: "channel",
    description: "Latest `getStats()` of each client of one channel.",
    request: z.object(channelKey),
    answer: z.array(userAgentStatsEntry),
  }),
  GetUserAgentStats: entry({
    date: "20211215",
    section: "Statistics",
    object: "channel",
    description: "Latest `getStats()` of one connection.",
    request: z.object(connectionKey),
    answer: userAgentStatsAnswer,
  }),

  GetStatsClient: entry({
    date: "20170529",
    section: "Statistics",
    object: "channel",
    description: "GetStatsConnection's answer for every connection of the channel with that `client_id` (CLIENT-NOT-FOUND when none has it).",
    request: z.object({ ...channelKey, client_id: clientId }),
    answer: z.array(connectionStatsAnswer),
  }),
  GetStatsAllConnections: entry({
    date: "20171101",
    section: "Statistics",
    object: "cluster",
    description: "GetStatsConnection's answer for every live connection of every channel on a connected node.",
    request: noKeys,
    answer: z.array(connectionStatsAnswer),
  }),
  ListRtcStats: entry({
    date: "20211215",
    section: "Statistics",
    object: "cluster",
    description: "ListUserAgentStats under its current name (Sora Cloud renamed user-agent stats to RTC stats).",
    request: noKeys,
    answer: z.array(userAgentStatsEntry),
  }),
  ListChannelRtcStats: entry({
    date: "20211215",
    section: "Statistics",
    object: "channel",
    description: "ListChannelUserAgentStats under its current name.",
    request: z.object(channelKey),
    answer: z.array(userAgentStatsEntry),
  }),
  GetRtcStats: entry({
    date: "20211215",
    section: "Statistics",
    object: "channel",
    description: "GetUserAgentStats under its current name.",
    request: z.object(connectionKey),
    answer: userAgentStatsAnswer,
  }),

  // --- Audio streaming ------------------------------------------------------------------------
  StartAudioStreaming: entry({
    date: "20221221",
    section: "Audio streaming",
    object: "channel",
    description: "Starts sending the channel's audio to the streaming server (a channel with a session and no streaming yet).",
    request: z.object(channelKey),
    answer: z.object({ session_id: z.string() }),
  }),
  StopAudioStreaming: entry({
    date: "20221221",
    section: "Audio streaming",
    object: "channel",
    description: "Stops audio streaming (only while streaming).",
    request: z.object(channelKey),
    answer: z.object({ session_id: z.string() }),
  }),
  SubscribeAudioStreamingResultPush: entry({
    date: "20221221",
    section: "Audio streaming",
    object: "channel",
    description: "That connection gets the streaming results as push messages (kept while streaming is stopped).",
    request: z.object(connectionKey),
    answer: echo(connectionKey),
  }),
  UnsubscribeAudioStreamingResultPush: entry({
    date: "20221221",
    section: "Audio streaming",
    object: "channel",
    description: "Ends that connection's result pushes.",
    request: z.object(connectionKey),
    answer: echo(connectionKey),
  }),

  // --- Other ----------------------------------------------------------------------------------
  RequestKeyFrame: entry({
    date: "20241218",
    section: "Other",
    object: "channel",
    description:
      "Asks that sender for a keyframe on every video track (every simulcast layer): PLI now, then every 1 s, up to 5 times, until a keyframe arrives.",
    request: z.object(connectionKey),
    answer: echo(connectionKey),
  }),
  ChangeUpstreamVideoBitRate: entry({
    date: "20190327",
    section: "Other",
    object: "channel",
    description: "Changes and pins a sender's upstream video bitrate (kbps).",
    request: z.object({ ...connectionKey, bit_rate: bitRate }),
    answer: echo({ ...connectionKey, bit_rate: bitRate }),
  }),
  GenerateCrashLog: entry({
    date: "20221221",
    section: "Other",
    object: "cluster",
    description: "For verification only: every connected node (or `node_name`) writes a crash log holding `info`.",
    request: z.object({ info: jsonObject.optional(), node_name: nodeName.optional() }),
    answer: emptyAnswer,
    extension: "`node_name` (optional) picks one node.",
  }),
} as const;

export type Catalog = typeof catalog;
export type ApiName = keyof Catalog;
export type ApiRequest<N extends ApiName> = z.output<Catalog[N]["request"]>;
export type ApiAnswer<N extends ApiName> = z.output<Catalog[N]["answer"]>;
export type ApiNamesOf<O extends HandlerObject> = { [N in ApiName]: Catalog[N]["object"] extends O ? N : never }[ApiName];

export const TARGET_PREFIX = "Sora_";

export function targetOf(name: ApiName): string {
  return `${TARGET_PREFIX}${catalog[name].date}.${name}`;
}

/** Every target, e.g. "Sora_20201124.PutSignalingNotifyMetadata" → its name. */
export const targets: ReadonlyMap<string, ApiName> = new Map(
  (Object.keys(catalog) as ApiName[]).map((name) => [targetOf(name), name]),
);

/** Looks a header value up; the target is case-sensitive like Sora's (only the header name is not). */
export function lookupTarget(target: string): ApiName | undefined {
  return targets.get(target.trim());
}
