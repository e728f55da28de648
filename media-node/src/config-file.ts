import { readFile } from "node:fs/promises";
import { z } from "zod";
import { turnConfig, type NodeConfigInput } from "./config.js";

// The node's config file (`--config node.json`): JSON, snake_case keys like Sora's sora.conf,
// validated strictly so a misspelt key fails at start instead of being ignored. CLI flags and
// environment variables override it (main.ts). Plain JSON keeps this dependency-free; the
// example with every key is examples/node-config.example.json.
//
// Adding a key: put it in `configFileSchema` and map it in `fromConfigFile`, next to its kin.

const port = z.number().int().min(0).max(65535);

const turnSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** false: coturn runs under its own service (systemd), the node only issues credentials. */
  spawn: z.boolean().optional(),
  binary: z.string().optional(),
  listen_ip: z.string().optional(),
  listen_port: port.optional(),
  /** Host put in the turn: URLs; a public IPv4 here also becomes coturn's external-ip. */
  external_ip: z.string().optional(),
  realm: z.string().min(1).optional(),
  shared_secret: z.string().min(16, "turn.shared_secret: use at least 16 characters"),
  ttl_sec: z.number().int().min(60).optional(),
  udp: z.boolean().optional(),
  tcp: z.boolean().optional(),
  relay_ip: z.string().optional(),
  min_port: port.optional(),
  max_port: port.optional(),
  /** Tests only (the SFU on 127.0.0.1); never in production. */
  allow_loopback_peers: z.boolean().optional(),
  ice_transport_policy: z.enum(["all", "relay"]).optional(),
});

export const configFileSchema = z.strictObject({
  // ---- node identity and listeners
  node_name: z.string().min(1).optional(),
  host: z.string().optional(),
  port: port.optional(),
  external_signaling_url: z.string().optional(),
  ice_addresses: z.array(z.string()).optional(),
  /** One UDP port for all ICE traffic (the firewall's one media rule); else a socket per connection. */
  udp_port: port.min(1).optional(),
  /** [min, max] for per-connection ICE sockets (without udp_port). */
  udp_port_range: z.tuple([port.min(1), port.min(1)]).refine(([min, max]) => min <= max, "udp_port_range: min must not exceed max").optional(),
  /** Address placed in host candidates (1:1 NAT: the public IP; sockets bind ice_addresses[0] or 0.0.0.0). */
  announced_address: z.ipv4().optional(),
  default_video_codec: z.enum(["VP8", "VP9", "H264", "AV1"]).optional(),
  crash_log_dir: z.string().optional(),
  // ---- cluster (the node secret stays in the environment: NODE_SECRET)
  edge_url: z.string().optional(),
  auto_join: z.boolean().optional(),
  max_connections: z.number().int().positive().optional(),
  // ---- media path (transport/): false = werift's own RTP path end to end
  fast_path: z.boolean().optional(),
  /** ICE-lite on the node's offering PeerConnections (default true); false = full ICE with werift's consent checks. */
  ice_lite: z.boolean().optional(),
  /** ICE-lite: end a connection whose client sent no STUN request for this long (default 30000). */
  ice_silence_timeout_ms: z.number().int().min(1_000).max(600_000).optional(),
  // ---- webhooks (webhooks/)
  auth_webhook_url: z.url().optional(),
  session_webhook_url: z.url().optional(),
  event_webhook_url: z.url().optional(),
  webhook_timeout_ms: z.number().int().min(100).max(60_000).optional(),
  /** Extra attempts for session/event webhooks; the auth webhook is never retried. */
  webhook_retries: z.number().int().min(0).max(10).optional(),
  connection_updated_webhook_interval_sec: z.number().int().min(1).optional(),
  // ---- DataChannel RPC: methods a connection may call when the auth webhook names none
  default_rpc_methods: z.array(z.string().max(255)).max(64).optional(),
  // ---- egress (egress/)
  audio_streaming_url: z.url().optional(),
  audio_streaming_header: z.boolean().optional(),
  // ---- TURN (turn/)
  turn: turnSchema.optional(),
});
export type ConfigFile = z.infer<typeof configFileSchema>;

export async function loadConfigFile(path: string): Promise<NodeConfigInput> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`config file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`config file ${path}: ${issues}`);
  }
  return fromConfigFile(parsed.data);
}

/** snake_case file keys → NodeConfig fields; keys left out stay out (defaults apply later). */
export function fromConfigFile(f: ConfigFile): NodeConfigInput {
  const out: NodeConfigInput = {};
  const set = <K extends keyof NodeConfigInput>(key: K, value: NodeConfigInput[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set("nodeName", f.node_name);
  set("host", f.host);
  set("port", f.port);
  set("externalSignalingUrl", f.external_signaling_url);
  set("iceAddresses", f.ice_addresses);
  set("udpPort", f.udp_port);
  set("udpPortRange", f.udp_port_range);
  set("announcedAddress", f.announced_address);
  set("defaultVideoCodec", f.default_video_codec);
  set("crashLogDir", f.crash_log_dir);
  set("edgeUrl", f.edge_url);
  set("autoJoin", f.auto_join);
  set("maxConnections", f.max_connections);
  set("fastPath", f.fast_path);
  set("iceLite", f.ice_lite);
  set("iceSilenceTimeoutMs", f.ice_silence_timeout_ms);
  set("audioStreamingUrl", f.audio_streaming_url);
  set("audioStreamingHeader", f.audio_streaming_header);
  set("defaultRpcMethods", f.default_rpc_methods);
  const webhooks: NonNullable<NodeConfigInput["webhooks"]> = {};
  if (f.auth_webhook_url !== undefined) webhooks.authUrl = f.auth_webhook_url;
  if (f.session_webhook_url !== undefined) webhooks.sessionUrl = f.session_webhook_url;
  if (f.event_webhook_url !== undefined) webhooks.eventUrl = f.event_webhook_url;
  if (f.webhook_timeout_ms !== undefined) webhooks.timeoutMs = f.webhook_timeout_ms;
  if (f.webhook_retries !== undefined) webhooks.retries = f.webhook_retries;
  if (f.connection_updated_webhook_interval_sec !== undefined) webhooks.connectionUpdatedIntervalMs = f.connection_updated_webhook_interval_sec * 1000;
  if (Object.keys(webhooks).length > 0) out.webhooks = webhooks;
  if (f.turn?.enabled) {
    const t = f.turn;
    const turn = turnConfig({
      sharedSecret: t.shared_secret,
      ...(t.spawn !== undefined && { spawn: t.spawn }),
      ...(t.binary !== undefined && { binary: t.binary }),
      ...(t.listen_ip !== undefined && { listenIp: t.listen_ip }),
      ...(t.listen_port !== undefined && { listenPort: t.listen_port }),
      ...(t.external_ip !== undefined && { externalHost: t.external_ip }),
      ...(t.realm !== undefined && { realm: t.realm }),
      ...(t.ttl_sec !== undefined && { ttlSec: t.ttl_sec }),
      ...(t.udp !== undefined && { udp: t.udp }),
      ...(t.tcp !== undefined && { tcp: t.tcp }),
      ...(t.relay_ip !== undefined && { relayIp: t.relay_ip }),
      ...(t.min_port !== undefined && { minPort: t.min_port }),
      ...(t.max_port !== undefined && { maxPort: t.max_port }),
      ...(t.allow_loopback_peers !== undefined && { allowLoopbackPeers: t.allow_loopback_peers }),
      ...(t.ice_transport_policy !== undefined && { iceTransportPolicy: t.ice_transport_policy }),
    });
    if (turn.minPort > turn.maxPort) throw new Error("config file: turn.min_port must not exceed turn.max_port");
    if (!turn.udp && !turn.tcp) throw new Error("config file: turn needs udp or tcp");
    out.turn = turn;
  }
  return out;
}
