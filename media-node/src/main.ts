import { Command } from "commander";
import { MediaNode } from "./media-node.js";
import { rootLogger } from "./logger.js";

// CLI entry of a media node process.
const program = new Command()
  .name("media-node")
  .option("--host <host>", "address to listen on and advertise in ICE", process.env.SFU_HOST ?? "127.0.0.1")
  .option("--port <port>", "signaling port", process.env.SFU_PORT ?? "5000")
  .option("--node-name <name>", "cluster node name (default node-PORT@HOST)")
  .option("--external-signaling-url <url>", "URL clients are redirected to")
  .option("--default-video-codec <codec>", "VP9, VP8, H264 or AV1", "VP9")
  .option("--edge-url <url>", "control-plane WebSocket of the edge (e.g. ws://127.0.0.1:3000/node)", process.env.EDGE_URL)
  .option("--no-auto-join", "connect to the edge as a known node without joining the cluster (join later with JoinCluster)")
  .option("--crash-log-dir <dir>", "where GenerateCrashLog writes", "crash-logs")
  .option("--debug-subscriber-loss <fraction>", "test hook: drop this fraction of first transmissions to subscribers", "0")
  .option("--audio-streaming-url <url>", "audio streaming gateway, HTTP/2 (http:// = h2c, https:// = h2)", process.env.AUDIO_STREAMING_URL)
  .option("--audio-streaming-header", "prefix each streamed Opus packet with the 20-byte timestamp/sequence/length header")
  .parse();

const opts = program.opts<Record<string, string | undefined> & { autoJoin: boolean }>();
const port = Number(opts.port);
const node = new MediaNode({
  host: opts.host,
  port,
  ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
  ...(opts.externalSignalingUrl ? { externalSignalingUrl: opts.externalSignalingUrl } : {}),
  defaultVideoCodec: opts.defaultVideoCodec as "VP9",
  debugSubscriberLoss: Number(opts.debugSubscriberLoss),
  ...(opts.edgeUrl ? { edgeUrl: opts.edgeUrl } : {}),
  autoJoin: opts.autoJoin,
  crashLogDir: opts.crashLogDir!,
  ...(opts.audioStreamingUrl ? { audioStreamingUrl: opts.audioStreamingUrl } : {}),
  audioStreamingHeader: Boolean(opts.audioStreamingHeader),
  ...(process.env.NODE_SECRET ? { nodeSecret: process.env.NODE_SECRET } : {}),
});

// A fault in one connection's media stack (werift raises from timers and socket callbacks)
// must not take every other connection of the node down with it.
process.on("unhandledRejection", (err) => rootLogger.error({ err }, "unhandled rejection"));
process.on("uncaughtException", (err) => rootLogger.error({ err }, "uncaught exception"));

await node.start();
console.log(
  `media node ${node.config.nodeName}: signaling on ws://${node.config.host}:${node.port}/signaling` +
    (node.config.edgeUrl ? `, control link to ${node.config.edgeUrl}` : " (standalone, no edge)"),
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
