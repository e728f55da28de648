import type { ChannelObject } from "./objects/channel-object.js";
import type { ClusterObject } from "./objects/cluster-object.js";

// The Worker's bindings (wrangler.toml [vars], secrets and Durable Object namespaces).
export interface Env {
  CLUSTER: DurableObjectNamespace<ClusterObject>;
  CHANNEL: DurableObjectNamespace<ChannelObject>;
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
}

export function numberVar(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** The one Cluster Durable Object (the cluster store and every node's control link). */
export function clusterStub(env: Env): DurableObjectStub<ClusterObject> {
  return env.CLUSTER.get(env.CLUSTER.idFromName("cluster"));
}

/** The Durable Object holding one channel's state. */
export function channelStub(env: Env, channelId: string): DurableObjectStub<ChannelObject> {
  return env.CHANNEL.get(env.CHANNEL.idFromName(channelId));
}
