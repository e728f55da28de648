import type { ChannelObject } from "./objects/channel-object.js";
import type { ClusterObject } from "./objects/cluster-object.js";
import type { NodeObject } from "./objects/node-object.js";

// The Worker's bindings (wrangler.toml [vars], secrets and Durable Object namespaces).
export interface Env {
  CLUSTER: DurableObjectNamespace<ClusterObject>;
  CHANNEL: DurableObjectNamespace<ChannelObject>;
  NODE: DurableObjectNamespace<NodeObject>;
  /** Static assets (wrangler.toml `[assets]`, built by `npm run devtools:build`): the devtools page; absent when not configured. */
  ASSETS?: Fetcher;
  /** Secret: clients of the HTTP API send `authorization: Bearer <API_TOKEN>`. */
  API_TOKEN?: string;
  /** Secret: media nodes send `authorization: Bearer <NODE_SECRET>` on `GET /node`. */
  NODE_SECRET?: string;
  /** `access-control-allow-origin` of every answer (`*` or one origin, echoed as configured). */
  ALLOWED_ORIGIN?: string;
  /** "true" = the HTTP API needs no token (local development only). */
  ALLOW_UNAUTHENTICATED?: string;
  /** "true" = media nodes need no secret (local development only). */
  ALLOW_UNAUTHENTICATED_NODES?: string;
  /** How long the edge waits for a node's ack (ms); default COMMAND_TIMEOUT_MS. */
  COMMAND_TIMEOUT_MS?: string;
  /** A node link silent (no "ping") this long is closed (ms); default 3 ping intervals. */
  NODE_LIVENESS_TIMEOUT_MS?: string;
  /** How long a NodeObject or the Worker reuses the placement table (ms, 0 = never); default PLACEMENT_CACHE_MS. */
  PLACEMENT_CACHE_MS?: string;
  /** "false" = a client is served by the node it reached when that node has room, even if the channel lives elsewhere (relay); default on (docs/relay.md). */
  CHANNEL_AFFINITY?: string;
  /** How long a NodeObject holds a channel's connection reports to send them in one call (ms, 0 = at once); default CHANNEL_REPORT_HOLD_MS. */
  CHANNEL_REPORT_HOLD_MS?: string;
  /** A busy channel gets at most one call from a NodeObject in this long (ms, 0 = no bound); default CHANNEL_REPORT_BUSY_HOLD_MS. */
  CHANNEL_REPORT_BUSY_HOLD_MS?: string;
  /** How long a ChannelObject keeps connection changes in memory before writing them (ms, 0 = at once); default CHANNEL_PERSIST_MS. */
  CHANNEL_PERSIST_MS?: string;
}

export function numberVar(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Like numberVar, but 0 is a valid value (a cache that is never reused). */
export function durationVar(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** The one Cluster Durable Object: membership, epochs, modes, the channel → node index, the placement table. */
export function clusterStub(env: Env): DurableObjectStub<ClusterObject> {
  return env.CLUSTER.get(env.CLUSTER.idFromName("cluster"));
}

/** The Durable Object holding one channel's state. */
export function channelStub(env: Env, channelId: string): DurableObjectStub<ChannelObject> {
  let id = channelIds.get(channelId);
  if (!id) {
    // idFromName hashes the name; the same channels are addressed again and again (API calls, reports).
    if (channelIds.size >= 10_000) channelIds.clear();
    id = env.CHANNEL.idFromName(channelId);
    channelIds.set(channelId, id);
  }
  return env.CHANNEL.get(id);
}

/** Channel ids by name, per isolate (bounded: cleared past 10,000). */
const channelIds = new Map<string, DurableObjectId>();

/** The Durable Object of one media node: its control link, report order, liveness, commands, load. */
export function nodeStub(env: Env, nodeName: string): DurableObjectStub<NodeObject> {
  return env.NODE.get(env.NODE.idFromName(nodeName));
}
