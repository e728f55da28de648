import { Command } from "commander";
import type { NodeConfig, NodeConfigInput } from "./config.js";
import { loadConfigFile } from "./config-file.js";
import { MediaNode } from "./media-node.js";
import { rootLogger } from "./logger.js";

// CLI entry of a media node process. Settings: CLI flags > environment > --config file > defaults.
const program = new Command()
  .name("media-node")
  .option("--config <file>", "node config file (JSON, see examples/node-config.example.json)", process.env.SFU_CONFIG)
  .option("--host <host>", "address to listen on and advertise in ICE (default 127.0.0.1; env SFU_HOST)")
  .option("--port <port>", "signaling port (default 5000; env SFU_PORT)")
  .option("--node-name <name>", "cluster node name (default node-PORT@HOST)")
  .option("--external-signaling-url <url>", "URL clients are redirected to")
  .option("--default-video-codec <codec>", "VP9 (default), VP8, H264 or AV1")
  .option("--udp-port <port>", "one UDP port for all ICE traffic of the node (config: udp_port; env SFU_UDP_PORT)")
  .option("--udp-port-range <min-max>", "per-connection ICE sockets on ports min..max (config: udp_port_range)")
  .option("--announced-ip <ip>", "address placed in ICE host candidates, sockets bind the private one (1:1 NAT; config: announced_address)")
  .option("--edge-url <url>", "control-plane WebSocket of the edge (e.g. ws://127.0.0.1:3000/node; env EDGE_URL)")
  .option("--max-connections <n>", "hard cap on this node's connections; the edge places new sessions elsewhere past it (config: max_connections)")
  .option("--no-auto-join", "connect to the edge as a known node without joining the cluster (join later with JoinCluster)")
  .option("--crash-log-dir <dir>", "where GenerateCrashLog writes (default crash-logs)")
  .option("--no-ice-lite", "full ICE on the node's offering PeerConnections (its own checks and consent freshness) instead of ICE-lite (config: ice_lite)")
  .option("--no-fast-path", "forward RTP through werift's own sender/receiver path instead of the fast path (config: fastPath)")
  .option("--audio-streaming-url <url>", "audio streaming gateway, HTTP/2 (http:// = h2c, https:// = h2; env AUDIO_STREAMING_URL)")
  .option("--audio-streaming-header", "prefix each streamed Opus packet with the 20-byte timestamp/sequence/length header")
  .option("--auth-webhook-url <url>", "auth webhook (config: auth_webhook_url)")
  .option("--session-webhook-url <url>", "session webhook (config: session_webhook_url)")
  .option("--event-webhook-url <url>", "event webhook (config: event_webhook_url)")
  .parse();

function parsePort(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${flag}: not a port: ${value}`);
  return n;
}

function parsePortRange(value: string): [number, number] {
  const [min, max] = value.split("-");
  const range: [number, number] = [parsePort(min ?? "", "--udp-port-range"), parsePort(max ?? "", "--udp-port-range")];
  if (range[0] > range[1]) throw new Error(`--udp-port-range: min exceeds max: ${value}`);
  return range;
}

const opts = program.opts<Record<string, string | undefined> & { autoJoin: boolean; fastPath: boolean; iceLite: boolean; audioStreamingHeader?: boolean }>();
const file: NodeConfigInput = opts.config ? await loadConfigFile(opts.config) : {};
/** First defined of CLI flag, environment variable, config file value. */
const pick = <T>(...values: (T | undefined)[]): T | undefined => values.find((v) => v !== undefined);
const host = pick(opts.host, process.env.SFU_HOST, file.host) ?? "127.0.0.1";
const portValue = pick(opts.port, process.env.SFU_PORT);
const port = portValue !== undefined ? Number(portValue) : (file.port ?? 5000);
const edgeUrl = pick(opts.edgeUrl, process.env.EDGE_URL, file.edgeUrl);
const audioStreamingUrl = pick(opts.audioStreamingUrl, process.env.AUDIO_STREAMING_URL, file.audioStreamingUrl);
const udpPortValue = pick(opts.udpPort, process.env.SFU_UDP_PORT);
const udpPort = udpPortValue !== undefined ? parsePort(udpPortValue, "--udp-port") : file.udpPort;
const udpPortRange = opts.udpPortRange !== undefined ? parsePortRange(opts.udpPortRange) : file.udpPortRange;
const announcedAddress = pick(opts.announcedIp, file.announcedAddress);
const webhooks = { ...file.webhooks };
if (opts.authWebhookUrl) webhooks.authUrl = opts.authWebhookUrl;
if (opts.sessionWebhookUrl) webhooks.sessionUrl = opts.sessionWebhookUrl;
if (opts.eventWebhookUrl) webhooks.eventUrl = opts.eventWebhookUrl;
function positiveInteger(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) program.error(`${flag} must be a positive integer (got ${JSON.stringify(value)})`);
  return n;
}

const node = new MediaNode({
  ...file,
  host,
  port,
  ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
  ...(opts.externalSignalingUrl ? { externalSignalingUrl: opts.externalSignalingUrl } : {}),
  defaultVideoCodec: (opts.defaultVideoCodec as NodeConfig["defaultVideoCodec"] | undefined) ?? file.defaultVideoCodec ?? "VP9",
  ...(edgeUrl ? { edgeUrl } : {}),
  ...(udpPort !== undefined ? { udpPort } : {}),
  ...(udpPortRange ? { udpPortRange } : {}),
  ...(announcedAddress ? { announcedAddress } : {}),
  ...(opts.maxConnections !== undefined ? { maxConnections: positiveInteger("--max-connections", opts.maxConnections) } : {}),
  autoJoin: program.getOptionValueSource("autoJoin") === "cli" ? opts.autoJoin : (file.autoJoin ?? true),
  fastPath: program.getOptionValueSource("fastPath") === "cli" ? opts.fastPath : (file.fastPath ?? true),
  iceLite: program.getOptionValueSource("iceLite") === "cli" ? opts.iceLite : (file.iceLite ?? true),
  crashLogDir: opts.crashLogDir ?? file.crashLogDir ?? "crash-logs",
  ...(audioStreamingUrl ? { audioStreamingUrl } : {}),
  audioStreamingHeader: opts.audioStreamingHeader === true || file.audioStreamingHeader === true,
  webhooks,
  ...(process.env.NODE_SECRET ? { nodeSecret: process.env.NODE_SECRET } : {}),
});

// A fault in one connection's media stack (werift raises from timers and socket callbacks)
// must not take every other connection of the node down with it.
process.on("unhandledRejection", (err) => rootLogger.error({ err }, "unhandled rejection"));
process.on("uncaughtException", (err) => rootLogger.error({ err }, "uncaught exception"));

await node.start();
console.log(
  `media node ${node.config.nodeName}: signaling on ws://${node.config.host}:${node.port}/signaling` +
    (node.config.edgeUrl ? `, control link to ${node.config.edgeUrl}` : " (standalone, no edge)") +
    (node.config.turn ? `, TURN on ${node.config.turn.externalHost}:${node.config.turn.listenPort}` : ""),
);

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    rootLogger.info({ signal }, "shutting down");
    void node.stop().finally(() => process.exit(0));
  });
}
