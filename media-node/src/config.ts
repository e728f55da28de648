// Runtime configuration of one media node. Built by main.ts from CLI flags / env;
// tests build it directly.
export interface NodeConfig {
  /** Cluster-wide unique name, Erlang-style like Sora's (`node-01@127.0.0.1`). */
  nodeName: string;
  host: string;
  port: number;
  /** What clients are told to use when redirected here. */
  externalSignalingUrl: string;
  /** Addresses the ICE agent binds and advertises (empty = all interfaces). */
  iceAddresses: string[];
  /** Video codec when connect does not name one. Sora's default is VP9. */
  defaultVideoCodec: VideoCodecName;
  /** Interval of signaling `ping` over WebSocket (Sora: stats every 5 s). */
  pingIntervalMs: number;
  /** Drop a WebSocket-signaling connection after this long without a pong. */
  pongTimeoutMs: number;
  /** How long a client may take from WebSocket open to `connect`, and to `answer`. */
  signalingTimeoutMs: number;
  /** Period of `connection.updated` notifies (Sora: one minute). */
  connectionUpdatedIntervalMs: number;
  /** REMB sent to publishers for their video when no ChangeUpstreamVideoBitRate pins it. */
  maxUpstreamVideoBitrateBps: number;
  /** Test hook: drop this fraction (0..1) of first transmissions towards subscribers; NACK answers still go out. */
  debugSubscriberLoss: number;
  /** Where GenerateCrashLog writes. */
  crashLogDir: string;
  /** Optional control-plane link: the edge's `/node` WebSocket. */
  edgeUrl?: string;
  /** Join the cluster when the link comes up (Sora's contact_node_name_list); false = known node only. */
  autoJoin: boolean;
  nodeSecret?: string;
}

export type VideoCodecName = "VP8" | "VP9" | "H264" | "AV1";

export function defaultConfig(overrides: Partial<NodeConfig> = {}): NodeConfig {
  const host = overrides.host ?? "127.0.0.1";
  const port = overrides.port ?? 5000;
  return {
    nodeName: `node-${port}@${host}`,
    host,
    port,
    externalSignalingUrl: `ws://${host}:${port}/signaling`,
    iceAddresses: [host === "0.0.0.0" ? "" : host].filter(Boolean),
    defaultVideoCodec: "VP9",
    pingIntervalMs: 5_000,
    pongTimeoutMs: 30_000,
    signalingTimeoutMs: 15_000,
    connectionUpdatedIntervalMs: 60_000,
    debugSubscriberLoss: 0,
    maxUpstreamVideoBitrateBps: 5_000_000,
    crashLogDir: "crash-logs",
    autoJoin: true,
    ...overrides,
  };
}
