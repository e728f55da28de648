import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MediaNode } from "../../media-node/src/media-node.js";
import { lossySubscriberEgress } from "../support/lossy-egress.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";

// Protocol edge cases with raw WebSockets and werift clients: every hostile input closes only
// that session with a reason, frees its connection, and the node keeps serving.

let node: MediaNode;
let url: string;


function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string; messages: Record<string, unknown>[] }> {
  const messages: Record<string, unknown>[] = [];
  ws.on("message", (raw) => messages.push(JSON.parse(raw.toString())));
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString(), messages })));
}

const connect = (channelId: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: "connect", role: "sendrecv", channel_id: channelId, audio: true, video: { codec_type: "VP8" }, ...extra });

async function expectClose(send: (ws: WebSocket) => void, code: number, reason: string): Promise<Record<string, unknown>[]> {
  const ws = await open();
  const done = closed(ws);
  send(ws);
  const result = await done;
  expect({ code: result.code, reason: result.reason }).toEqual({ code, reason });
  return result.messages;
}

async function expectNoConnections(): Promise<void> {
  // Teardown is async (PeerConnection close); give it a moment.
  for (let i = 0; i < 50 && node.sfu.connectionCount() > 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(node.sfu.connectionCount()).toBe(0);
  expect(node.sfu.channels.size).toBe(0);
}

// The whole suite runs on both send paths: the fast path (default) and werift's own sendRtp
// (config fastPath: false), which would otherwise go untested. fastPath is process-wide, so the
// two nodes run one after the other.
describe.each([
  { name: "fast path", fastPath: true },
  { name: "werift send path", fastPath: false },
])("signaling protocol ($name)", ({ fastPath }) => {
  // Loss 0: every subscription's egress is a probe counting which path its packets took.
  const egress = lossySubscriberEgress(0);

  beforeAll(async () => {
    node = new MediaNode({ port: 0, signalingTimeoutMs: 1500, fastPath, subscriberEgress: egress.hook });
    await node.start();
    url = `ws://127.0.0.1:${node.port}/signaling`;
  });

  afterAll(async () => {
    await node?.stop();
  });

  it("warmed werift's PeerConnection path at start (loopback connection completed) and left nothing behind", () => {
    expect(node.warmUpMs).toBeGreaterThan(0);
    expect(node.sfu.connectionCount()).toBe(0);
    expect(node.sfu.channels.size).toBe(0);
  });

  describe("hostile signaling input", () => {
    it("closes on non-JSON", () => expectClose((ws) => ws.send("not json {"), 4400, "INVALID-JSON"));
    it("closes on a binary frame", () => expectClose((ws) => ws.send(Buffer.from([1, 2, 3])), 4400, "BINARY-MESSAGE-NOT-ALLOWED"));
    it("closes on a JSON array or scalar", () => expectClose((ws) => ws.send("[1,2]"), 4400, "INVALID-MESSAGE"));
    it("closes when the first message is not connect", () =>
      expectClose((ws) => ws.send(JSON.stringify({ type: "answer", sdp: "v=0" })), 4400, "EXPECTED-CONNECT"));
    it("closes on an unknown first type", () => expectClose((ws) => ws.send(JSON.stringify({ type: "hello" })), 4400, "EXPECTED-CONNECT"));
    it("closes on connect with wrong types", () =>
      expectClose((ws) => ws.send(JSON.stringify({ type: "connect", role: "sendrecv", channel_id: 42 })), 4400, "INVALID-CONNECT"));
    it("closes on connect with a bad role", () =>
      expectClose((ws) => ws.send(JSON.stringify({ type: "connect", role: "publisher", channel_id: "x" })), 4400, "INVALID-CONNECT"));
    it("closes on connect without channel_id", () =>
      expectClose((ws) => ws.send(JSON.stringify({ type: "connect", role: "recvonly" })), 4400, "INVALID-CONNECT"));
    it("closes on an oversize message (over 1 MiB)", () => expectClose((ws) => ws.send("x".repeat(1024 * 1024 + 10)), 1009, ""));
    it("times out a client that never sends connect", () => expectClose(() => undefined, 4408, "CONNECT-TIMEOUT"));

    it("closes on a second connect, after sending the offer", async () => {
      const messages = await expectClose(
        (ws) => {
          ws.send(connect("hostile-1"));
          ws.once("message", () => ws.send(connect("hostile-1")));
        },
        4400,
        "UNEXPECTED-CONNECT",
      );
      expect(messages[0]?.type).toBe("offer");
      await expectNoConnections();
    });

    it("closes on an unknown type after connect", async () => {
      await expectClose(
        (ws) => {
          ws.send(connect("hostile-2"));
          ws.once("message", () => ws.send(JSON.stringify({ type: "subscribe-everything" })));
        },
        4400,
        "UNKNOWN-MESSAGE-TYPE",
      );
      await expectNoConnections();
    });

    it("closes on an answer with garbage SDP", async () => {
      await expectClose(
        (ws) => {
          ws.send(connect("hostile-3"));
          ws.once("message", () => ws.send(JSON.stringify({ type: "answer", sdp: "this is not sdp\r\nm=nonsense" })));
        },
        4400,
        "INVALID-SDP",
      );
      await expectNoConnections();
    });

    it("closes on an answer whose sdp has the wrong type", async () => {
      await expectClose(
        (ws) => {
          ws.send(connect("hostile-4"));
          ws.once("message", () => ws.send(JSON.stringify({ type: "answer", sdp: 12 })));
        },
        4400,
        "INVALID-MESSAGE",
      );
      await expectNoConnections();
    });

    it("closes on a re-answer nobody asked for", async () => {
      await expectClose(
        (ws) => {
          ws.send(connect("hostile-5"));
          ws.once("message", () => ws.send(JSON.stringify({ type: "re-answer", sdp: "v=0" })));
        },
        4400,
        "UNEXPECTED-RE-ANSWER",
      );
      await expectNoConnections();
    });

    it("times out a client that never answers", async () => {
      await expectClose((ws) => ws.send(connect("hostile-6")), 4408, "ANSWER-TIMEOUT");
      await expectNoConnections();
    });

    it("closes on a flood of candidates", async () => {
      const client = new WeriftSoraClient({ url, channelId: "hostile-7", role: "sendrecv" });
      await client.connect();
      const done = new Promise<void>((resolve) => client.ws.once("close", () => resolve()));
      for (let i = 0; i < 200; i++) {
        client.send({ type: "candidate", candidate: `candidate:${i} 1 udp 2122260223 127.0.0.1 ${10000 + i} typ host` });
      }
      await done;
      expect(client.closeInfo).toEqual({ code: 4429, reason: "TOO-MANY-CANDIDATES" });
      await client.close();
      await expectNoConnections();
    });

    it("rejects legacy (non-multistream) connects", () =>
      expectClose((ws) => ws.send(connect("hostile-8", { multistream: false })), 4400, "LEGACY-STREAM-NOT-SUPPORTED"));
  });

  describe("still serving after hostile input", () => {
    it("connects two werift clients that exchange media, with notifies and re-offers", async () => {
      const channelId = "after-hostile";
      const a = new WeriftSoraClient({ url, channelId, role: "sendrecv", signalingNotifyMetadata: { name: "a" } });
      const b = new WeriftSoraClient({ url, channelId, role: "sendrecv", signalingNotifyMetadata: { name: "b" } });
      await a.connect();
      a.startMedia(50, 500);
      await b.connect();
      b.startMedia(50, 500);
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if (a.packetsFrom(b.connectionId, "video") > 20 && b.packetsFrom(a.connectionId, "video") > 20) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(a.packetsFrom(b.connectionId, "video")).toBeGreaterThan(20);
      expect(a.packetsFrom(b.connectionId, "audio")).toBeGreaterThan(5);
      expect(b.packetsFrom(a.connectionId, "video")).toBeGreaterThan(20);
      // Offer shape that the SDKs rely on.
      expect(b.offer).toMatchObject({ type: "offer", channel_id: channelId, multistream: true, mid: { audio: expect.any(String), video: expect.any(String) } });
      expect(b.connectionId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      // Notifies: b's own connection.created lists a with its metadata; a hears about b.
      const bCreated = b.notifies("connection.created").find((n) => n.connection_id === b.connectionId)!;
      expect(bCreated.channel_connections).toBe(2);
      expect(bCreated.data).toEqual([expect.objectContaining({ connection_id: a.connectionId, metadata: { name: "a" } })]);
      const aHearsB = a.notifies("connection.created").find((n) => n.connection_id === b.connectionId)!;
      expect(aHearsB).toMatchObject({ metadata: { name: "b" }, channel_sendrecv_connections: 2, role: "sendrecv" });
      expect(a.messages.some((m) => m.type === "re-offer")).toBe(true);
      // Which send path carried the subscribers' packets: the fast path's RtpEgress, or werift's
      // sendRtp when the fast path is off (the egress declines every packet).
      const legs = egress.links.filter((l) => l.leg.subscriberConnectionId === a.connectionId || l.leg.subscriberConnectionId === b.connectionId);
      const passed = legs.reduce((n, l) => n + l.egress.passed, 0);
      const declined = legs.reduce((n, l) => n + l.egress.declined, 0);
      expect(passed).toBeGreaterThan(40);
      expect(declined).toBe(fastPath ? 0 : passed);
      await b.close();
      const until = Date.now() + 5000;
      while (Date.now() < until && a.notifies("connection.destroyed").length === 0) await new Promise((r) => setTimeout(r, 50));
      expect(a.notifies("connection.destroyed")[0]).toMatchObject({ connection_id: b.connectionId, channel_connections: 1 });
      await a.close();
      await expectNoConnections();
    });
  });
});
