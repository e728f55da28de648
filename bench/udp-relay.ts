import { createSocket, type RemoteInfo } from "node:dgram";
import { createServer } from "node:http";
import { processMetrics } from "../media-node/src/metrics/process-json.js";

// Baseline for the load tool: the least a Node process can do per forwarded packet. One UDP
// socket; a 1-byte 0xff datagram subscribes its sender; every other datagram is sent to every
// subscriber except its source. No crypto, no parsing. Serves the same /metrics.json as a node.
// Usage: tsx bench/udp-relay.ts <metricsPort>  (prints "relay <udpPort>")

const sock = createSocket("udp4");
const targets: { port: number; address: string }[] = [];
sock.on("message", (msg: Buffer, rinfo: RemoteInfo) => {
  if (msg.length === 1 && msg[0] === 0xff) {
    targets.push({ port: rinfo.port, address: rinfo.address });
    return;
  }
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (t.port !== rinfo.port) sock.send(msg, t.port, t.address);
  }
});
sock.bind(0, "127.0.0.1", () => {
  const http = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ...processMetrics(), connections: targets.length }));
  });
  http.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
    const a = http.address();
    console.log(`relay ${sock.address().port} ${typeof a === "object" && a ? a.port : 0}`);
  });
});
process.on("SIGTERM", () => process.exit(0));
