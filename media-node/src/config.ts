import type { SubscriberEgress } from "./transport/rtp-egress.js";
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
  /**
   * One UDP port for every ICE connection of the node (transport/udp-mux.ts), bound on
   * iceAddresses[0] or 0.0.0.0. Unset: a socket per connection (udpPortRange, else ephemeral).
   */
  udpPort?: number;
  /** Per-connection ICE sockets take a port of [min, max] (inclusive); ignored with udpPort. */
  udpPortRange?: [number, number];
  /**
   * Address put in the host candidates while the sockets bind iceAddresses[0] / 0.0.0.0 (1:1 NAT:
   * the public address of a VM whose interface holds a private one). Unset: the bound address.
   */
  announcedAddress?: string;
  /** Video codec when connect does not name one. Sora's default is VP9. */
  defaultVideoCodec: VideoCodecName;
  /** Interval of signaling `ping` over WebSocket (Sora: stats every 5 s). */
  pingIntervalMs: number;
  /** Drop a WebSocket-signaling connection after this long without a pong. */
  pongTimeoutMs: number;
  /** How long a client may take from WebSocket open to `connect`, and to `answer`. */
  signalingTimeoutMs: number;
  /**
   * ICE-lite on the node's offering PeerConnections (clients, relay serving side; transport/ice-lite.ts):
   * the node answers the client's checks and sends none. Process-wide. Off = full ICE (werift's
   * checks and consent freshness).
   */
  iceLite: boolean;
  /**
   * An ICE-lite connection whose client sent no authenticated STUN request (RFC 7675 consent
   * checks come every 4–6 s) for this long is failed and ended (PEER-CONNECTION-FAILED). Default
   * 30 s, RFC 7675's consent lifetime.
   */
  iceSilenceTimeoutMs: number;
  /** Period of `connection.updated` notifies (Sora: one minute). */
  connectionUpdatedIntervalMs: number;
  /** REMB sent to publishers for their video when no ChangeUpstreamVideoBitRate pins it. */
  maxUpstreamVideoBitrateBps: number;
  /**
   * Fast media path (transport/): RTP sent to subscribers bypasses werift's sender chain (own
   * header writer, in-place SRTP, direct socket send); DTLS-SRTP is then restricted to
   * AES_CM_128_HMAC_SHA1_80. Process-wide. Off = werift's path end to end.
   */
  fastPath: boolean;
  /**
   * The egress of each new subscription (default: a fresh transport/rtp-egress.ts RtpEgress).
   * Tests swap it, e.g. for a lossy link (test/support/lossy-egress.ts); nothing on the media
   * path branches on it.
   */
  subscriberEgress?: (leg: SubscriberLeg) => SubscriberEgress;
  /** Where GenerateCrashLog writes. */
  crashLogDir: string;
  /**
   * Audio streaming gateway (Sora's audio_streaming_url): http:// = HTTP/2 cleartext (h2c, prior
   * knowledge), https:// = h2. Unset: StartAudioStreaming answers FEATURE-NOT-AVAILABLE.
   */
  audioStreamingUrl?: string;
  /** Prefix each streamed Opus packet with Sora's 20-byte header (audio_streaming_header). */
  audioStreamingHeader: boolean;
  /** Optional control-plane link: the edge's `/node` WebSocket. */
  edgeUrl?: string;
  /** Join the cluster when the link comes up (Sora's contact_node_name_list); false = known node only. */
  autoJoin: boolean;
  /**
   * Hard cap on this node's connections (Sora's license max connections): past it, joins are
   * refused and the edge places new sessions elsewhere. Undefined = no cap.
   */
  maxConnections?: number;
  nodeSecret?: string;
  /** Webhooks (Sora's auth/session/event webhooks); all off unless a URL is set. */
  webhooks: WebhookConfig;
  /** coturn beside the node, handing clients time-limited TURN credentials; off by default. */
  turn?: TurnConfig;
  /**
   * DataChannel RPC methods (e.g. "2025.2.0/RequestSimulcastRid") a DataChannel-signaling
   * connection may call when the auth webhook names none. Sora grants RPC only through the auth
   * webhook's `rpc_methods`, so the default is none; the auth webhook's list replaces this one.
   */
  defaultRpcMethods: string[];
}

/** Which subscription an egress is made for (NodeConfig.subscriberEgress). */
export interface SubscriberLeg {
  subscriberConnectionId: string;
  publisherConnectionId: string;
  kind: "audio" | "video";
  /** A cluster relay leg to this node (relay/relay-serving.ts), not a client's. */
  relayNode?: string;
}

export interface WebhookConfig {
  /** POSTed on every connect before the offer; its answer allows (and may rewrite) or refuses it. */
  authUrl?: string;
  /** session.created / session.destroyed. */
  sessionUrl?: string;
  /** connection.created / connection.updated / connection.destroyed. */
  eventUrl?: string;
  /** Per request; an auth webhook that has not answered by then refuses the connect. */
  timeoutMs: number;
  /** Extra attempts for session/event webhooks (never for auth: the client is waiting). */
  retries: number;
  /** Period of the connection.updated event webhook (Sora: connection_updated_webhook_interval, 1 min). */
  connectionUpdatedIntervalMs: number;
}

export interface TurnConfig {
  /** Spawn coturn as a child process; false when it runs under its own service manager (infra/node). */
  spawn: boolean;
  /** coturn binary (Debian: /usr/bin/turnserver). */
  binary: string;
  /** Address coturn listens on for clients. */
  listenIp: string;
  listenPort: number;
  /** Host clients are told to use in the turn: URLs (a public IP or name); defaults to listenIp. */
  externalHost: string;
  realm: string;
  /** coturn static-auth-secret (TURN REST API credentials). */
  sharedSecret: string;
  /** Lifetime of the credentials handed out in an offer. */
  ttlSec: number;
  udp: boolean;
  tcp: boolean;
  /** Address coturn relays from (reaches the node's ICE address); defaults to listenIp. */
  relayIp: string;
  minPort: number;
  maxPort: number;
  /** Tests only: the node's ICE address is loopback. Production must leave it off (see infra/node). */
  allowLoopbackPeers: boolean;
  /** "relay" tells clients to use TURN only (Sora forces relay); "all" lets them pick. */
  iceTransportPolicy: "all" | "relay";
}

/** TURN settings with the defaults filled in (what a config file or test leaves out). */
export function turnConfig(overrides: Partial<TurnConfig> & { sharedSecret: string }): TurnConfig {
  const listenIp = overrides.listenIp ?? "127.0.0.1";
  return {
    spawn: true,
    binary: "/usr/bin/turnserver",
    listenIp,
    listenPort: 3478,
    externalHost: listenIp,
    realm: "sora-compatible-sfu",
    ttlSec: 86_400,
    udp: true,
    tcp: true,
    relayIp: listenIp,
    minPort: 49_160,
    maxPort: 49_200,
    allowLoopbackPeers: false,
    iceTransportPolicy: "all",
    ...overrides,
  };
}

export type VideoCodecName = "VP8" | "VP9" | "H264" | "AV1";

/** What callers give: any subset, webhook settings field by field. */
export type NodeConfigInput = Partial<Omit<NodeConfig, "webhooks">> & { webhooks?: Partial<WebhookConfig> };

export function defaultConfig(overrides: NodeConfigInput = {}): NodeConfig {
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
    iceLite: true,
    iceSilenceTimeoutMs: 30_000,
    fastPath: true,
    audioStreamingHeader: false,
    maxUpstreamVideoBitrateBps: 5_000_000,
    crashLogDir: "crash-logs",
    autoJoin: true,
    defaultRpcMethods: [],
    ...overrides,
    webhooks: { timeoutMs: 5_000, retries: 0, connectionUpdatedIntervalMs: 60_000, ...overrides.webhooks },
  };
}
