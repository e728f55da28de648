import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { MediaNode } from "../../media-node/src/media-node.js";
import { EdgePeer } from "../support/edge-peer.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";

// A node's `max_connections` (config): its hard cap on admitted connections, announced to the edge
// in its hello (as Sora's license max connections) and in its load reports; the edge's placement
// refusal (every node full) refuses the client.

let edge: EdgePeer;
let node: MediaNode;
let url: string;

beforeAll(async () => {
  edge = new EdgePeer();
  await new Promise((r) => edge.server.once("listening", r));
  node = new MediaNode({ port: 0, edgeUrl: edge.url, maxConnections: 1, crashLogDir: mkdtempSync(path.join(tmpdir(), "crash-")) });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
  await node.control!.link.waitReady(5000);
});

afterAll(async () => {
  await node?.stop();
  edge?.server.close();
});

it("announces the cap in its hello and its load reports", async () => {
  const hello = edge.of("hello")[0]!;
  expect(hello.license.license_max_connections).toBe(1);
  expect(hello.load).toMatchObject({ connections: 0, max_connections: 1 });
  const deadline = Date.now() + 5_000;
  while (edge.of("load").length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(edge.of("load")[0]!.load).toMatchObject({ max_connections: 1 });
});

it("refuses a join past the cap with MAX-CONNECTIONS-EXCEEDED; room again once one leaves", async () => {
  const first = new WeriftSoraClient({ url, channelId: "capped", role: "sendrecv" });
  await first.connect();
  const second = new WeriftSoraClient({ url, channelId: "capped", role: "recvonly" });
  await expect(second.connect()).rejects.toThrow(/4403 MAX-CONNECTIONS-EXCEEDED/);
  await first.close();
  const deadline = Date.now() + 5_000;
  while (node.sfu.connectionCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const third = new WeriftSoraClient({ url, channelId: "capped", role: "recvonly" });
  await third.connect();
  await third.close();
});

it("refuses a new session when the edge's placement finds every node full", async () => {
  edge.placeAnswer = () => ({ owner: "self", refused: "MAX-CONNECTIONS-EXCEEDED" });
  const client = new WeriftSoraClient({ url, channelId: "nowhere", role: "sendrecv" });
  await expect(client.connect()).rejects.toThrow(/4403 MAX-CONNECTIONS-EXCEEDED/);
  expect(node.sfu.channels.has("nowhere")).toBe(false);
  edge.placeAnswer = () => ({ owner: "self" });
});

it("a join past the cap asks the edge with `full` and redirects the client where the edge says (cluster relay)", async () => {
  const first = new WeriftSoraClient({ url, channelId: "capped-relay", role: "sendrecv" });
  await first.connect();
  const elsewhere = "ws://127.0.0.2:5999/signaling";
  edge.placeAnswer = () => ({ owner: "other", redirect_url: elsewhere });
  try {
    const ws = new WebSocket(url);
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    const answer = new Promise<{ type?: string; location?: string }>((r) => ws.once("message", (d) => r(JSON.parse(d.toString()))));
    ws.send(JSON.stringify({ type: "connect", role: "recvonly", channel_id: "capped-relay" }));
    expect(await answer).toEqual({ type: "redirect", location: elsewhere });
    ws.close();
    expect(edge.of("place").at(-1)).toMatchObject({ channel_id: "capped-relay", full: true });
  } finally {
    edge.placeAnswer = () => ({ owner: "self" });
    await first.close();
  }
});
