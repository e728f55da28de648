import { z } from "zod";
import {
  anyMetadataAnswer,
  channelSummaryAnswer,
  clusterChannelAnswer,
  clusterMemberAnswer,
  echo,
  emptyAnswer,
  knownNodeAnswer,
  metadataListAnswer,
  modeAnswer,
  pausedStreamAnswer,
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

  // --- Signaling (experimental) ---------------------------------------------------------------
  ListChannels: entry({
    date: "20201013",
    section: "Signaling",
    object: "cluster",
    description: "Every channel that has a session now.",
    request: noKeys,
    answer: z.array(channelSummaryAnswer),
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
