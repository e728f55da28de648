import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MAX_JSON_DEPTH, MAX_METADATA_BYTES } from "../../shared/json-limits.js";
import { MediaNode } from "../../media-node/src/media-node.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";

// Free JSON at and past its limits in a `connect` (shared/json-limits.ts), and the node's
// resources after many hostile connects: every refused or failed connect closes with a 4400
// naming what was wrong and leaves no PeerConnection, UDP socket, timer or session behind.

let node: MediaNode;
let url: string;

beforeAll(async () => {
  node = new MediaNode({ port: 0, signalingTimeoutMs: 1500 });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
});

afterAll(async () => {
  await node?.stop();
});

/** JSON text `depth` containers deep, built as text (nothing in the test recurses over it). */
const nestedText = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);
const nested = (depth: number): Record<string, unknown> => {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
};
const connectText = (channelId: string, extra = "") =>
  `{"type":"connect","role":"sendrecv","channel_id":"${channelId}","audio":true,"video":{"codec_type":"VP8"}${extra}}`;

interface Closed {
  code: number;
  reason: string;
  messages: Record<string, unknown>[];
}

/** Opens a signaling WebSocket, lets `act` drive it, resolves with how it closed. */
async function session(act: (ws: WebSocket, messages: Record<string, unknown>[]) => void): Promise<Closed> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const messages: Record<string, unknown>[] = [];
  ws.on("message", (raw) => messages.push(JSON.parse(raw.toString())));
  const closed = new Promise<Closed>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString(), messages })));
  act(ws, messages);
  return closed;
}

async function settle(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Live handles of this process by kind (UDPWrap = a socket werift's ICE opened, Timeout = a timer, TCP* = WebSockets). */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

describe("free JSON in connect", () => {
  it("closes 4400 with a reason naming the limit, and never builds a connection", async () => {
    const cases: [string, string][] = [
      [`,"signaling_notify_metadata":${nestedText(6_000)}`, "JSON-TOO-DEEP"],
      [`,"metadata":${nestedText(MAX_JSON_DEPTH + 1)}`, "JSON-TOO-DEEP"],
      [`,"unknown_key":${nestedText(100_000)}`, "JSON-TOO-DEEP"],
      [`,"signaling_notify_metadata":{"x":"${"a".repeat(MAX_METADATA_BYTES)}"}`, "SIGNALING-NOTIFY-METADATA-TOO-LARGE"],
      [`,"metadata":"${"a".repeat(MAX_METADATA_BYTES)}"`, "METADATA-TOO-LARGE"],
    ];
    for (const [extra, reason] of cases) {
      const closed = await session((ws) => ws.send(connectText("deep", extra)));
      expect({ code: closed.code, reason: closed.reason }, reason).toEqual({ code: 4400, reason });
      expect(closed.messages).toEqual([]);
    }
    expect(node.sfu.connectionCount()).toBe(0);
  });

  it("closes 4400 on a deep message after connect and frees the connection", async () => {
    const closed = await session((ws, messages) => {
      ws.send(connectText("deep-later"));
      ws.once("message", () => {
        expect(messages[0]?.type).toBe("offer");
        ws.send(`{"type":"pong","stats":[${nestedText(50_000)}]}`);
      });
    });
    expect({ code: closed.code, reason: closed.reason }).toEqual({ code: 4400, reason: "JSON-TOO-DEEP" });
    await settle("connection freed", () => node.sfu.connectionCount() === 0 && node.sfu.channels.size === 0);
  });

  it("delivers the largest allowed signaling_notify_metadata (64 KiB, 32 levels) to the other connections", async () => {
    const big = { deep: nested(MAX_JSON_DEPTH - 1), x: "" };
    big.x = "a".repeat(MAX_METADATA_BYTES - Buffer.byteLength(JSON.stringify(big)));
    expect(Buffer.byteLength(JSON.stringify(big))).toBe(MAX_METADATA_BYTES);
    const a = new WeriftSoraClient({ url, channelId: "largest", role: "sendrecv", signalingNotifyMetadata: big, extra: { metadata: big } });
    const b = new WeriftSoraClient({ url, channelId: "largest", role: "recvonly" });
    await a.connect();
    await b.connect();
    await settle("b learns a's metadata", () => b.notifies("connection.created").some((n) => n.connection_id === b.connectionId));
    const own = b.notifies("connection.created").find((n) => n.connection_id === b.connectionId)!;
    expect(own.data).toContainEqual(expect.objectContaining({ connection_id: a.connectionId, metadata: big }));
    await settle("a hears b", () => a.notifies("connection.created").some((n) => n.connection_id === b.connectionId));
    expect(node.sfu.findConnection("largest", a.connectionId)!.info().signaling_notify_metadata).toEqual(big);
    await a.close();
    await b.close();
    await settle("connections freed", () => node.sfu.connectionCount() === 0);
  });
});

describe("resources after hostile connects", () => {
  it("returns UDP sockets, timers and sessions to their baseline after 100 hostile connects", async () => {
    await settle("idle node", () => node.sfu.connectionCount() === 0 && node.signaling.sessions.size === 0);
    await new Promise((r) => setTimeout(r, 500));
    const baseline = resources();

    let peerConnectionsBuilt = 0;
    const hostile: (() => Promise<Closed>)[] = [];
    for (let i = 0; i < 25; i++) {
      // Refused at parse: too deep, too large.
      hostile.push(() => session((ws) => ws.send(connectText(`h-deep-${i}`, `,"signaling_notify_metadata":${nestedText(6_000)}`))));
      hostile.push(() => session((ws) => ws.send(connectText(`h-big-${i}`, `,"metadata":{"x":"${"a".repeat(MAX_METADATA_BYTES)}"}`))));
      // Accepted, then the client vanishes while the node is building the PeerConnection.
      hostile.push(() =>
        session((ws) => {
          ws.send(connectText(`h-gone-${i}`));
          setTimeout(() => ws.terminate(), i % 5);
        }),
      );
      // Accepted, offered, then a garbage answer.
      hostile.push(() =>
        session((ws) => {
          ws.send(connectText(`h-sdp-${i}`));
          ws.once("message", () => {
            peerConnectionsBuilt++;
            ws.send(JSON.stringify({ type: "answer", sdp: "v=0\r\nm=nonsense" }));
          });
        }),
      );
    }
    const outcomes: Closed[] = [];
    let peakUdp = 0;
    const probe = setInterval(() => (peakUdp = Math.max(peakUdp, resources().UDPWrap ?? 0)), 5);
    for (let i = 0; i < hostile.length; i += 8) outcomes.push(...(await Promise.all(hostile.slice(i, i + 8).map((h) => h()))));

    clearInterval(probe);
    expect(outcomes).toHaveLength(100);
    // The probe does see the PeerConnections' sockets while they live.
    expect(peakUdp).toBeGreaterThan(baseline.UDPWrap ?? 0);
    expect(peerConnectionsBuilt).toBe(25);
    const reasons = new Set(outcomes.map((o) => `${o.code} ${o.reason}`));
    // 1006: the clients that terminated their own socket.
    expect([...reasons].sort()).toEqual(["1006 ", "4400 INVALID-SDP", "4400 JSON-TOO-DEEP", "4400 METADATA-TOO-LARGE"]);

    await settle("no connections or sessions", () => node.sfu.connectionCount() === 0 && node.sfu.channels.size === 0 && node.signaling.sessions.size === 0);
    const udp = (r: Record<string, number>) => r.UDPWrap ?? 0;
    const timers = (r: Record<string, number>) => r.Timeout ?? 0;
    const sockets = (r: Record<string, number>) => (r.TCPSocketWrap ?? 0) + (r.TCPWrap ?? 0);
    try {
      await settle("resources back to baseline", () => {
        const now = resources();
        return udp(now) <= udp(baseline) && timers(now) <= timers(baseline) && sockets(now) <= sockets(baseline);
      });
    } finally {
      const now = resources();
      expect({ udp: udp(now), timers: timers(now), sockets: sockets(now) }).toEqual({
        udp: udp(baseline),
        timers: timers(baseline),
        sockets: sockets(baseline),
      });
    }
  });
});
