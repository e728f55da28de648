import { afterEach, expect, it } from "vitest";
import { MAX_CONTROL_MESSAGE_BYTES, zeroNodeCounters, type NodeReport } from "../../shared/control-protocol.js";
import { EdgeLink, batchFrames } from "../../media-node/src/control/edge-link.js";
import { rootLogger } from "../../media-node/src/logger.js";
import { EdgePeer } from "../support/edge-peer.js";
import { until } from "../support/wait.js";

// The node's `batch` frames (shared/control-protocol.ts): what one tick queues goes in one frame
// once the edge's welcome says it takes them, in order, each frame within the link's limit; an
// edge that does not say so gets one message per frame.

let edge: EdgePeer | undefined;
let link: EdgeLink | undefined;

afterEach(async () => {
  await link?.stop();
  edge?.server.close();
  link = undefined;
  edge = undefined;
});

async function linked(batches: boolean): Promise<{ edge: EdgePeer; link: EdgeLink }> {
  edge = new EdgePeer(batches);
  await new Promise((r) => edge!.server.once("listening", r));
  link = new EdgeLink(
    edge.url,
    undefined,
    {
      hello: () => ({
        node_name: "batch@host",
        external_signaling_url: "ws://batch/signaling",
        external_api_url: null,
        version: "test",
        license: { license_max_nodes: null, license_max_connections: null, license_serial_code: null, license_type: null },
        auto_join: true,
        mode: "normal",
        channels: [],
        counters: zeroNodeCounters(),
      }),
      nodeName: () => "batch@host",
      command: async () => ({ ok: true, result: {} }),
      welcome: () => undefined,
    },
    rootLogger.child({ test: "edge-link-batches" }),
  );
  link.start();
  expect(await link.waitReady(5_000)).toBe(true);
  return { edge, link };
}

const created = (i: number, extra = ""): Extract<NodeReport, { type: "connection.created" }> => ({
  type: "connection.created",
  channel_id: "room",
  session_id: "s",
  connection: { connection_id: `C${i}${extra}`, client_id: "c", bundle_id: "b", role: "sendrecv", simulcast: false, spotlight: false, created_at: 1 },
});

it("puts what one tick reports into one batch frame, in order, numbered one by one", async () => {
  const { edge, link } = await linked(true);
  const framesBefore = edge.frameMessages.length;
  for (let i = 0; i < 20; i++) link.report(created(i));
  await until("20 reports", () => edge.of("connection.created").length === 20);
  expect(edge.frameMessages.slice(framesBefore)).toEqual([20]);
  const reports = edge.of("connection.created");
  expect(reports.map((r) => r.connection.connection_id)).toEqual(Array.from({ length: 20 }, (_, i) => `C${i}`));
  const seqs = reports.map((r) => r.seq!);
  expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => seqs[0]! + i));
  // The next tick is another frame.
  link.report(created(20));
  await until("the 21st", () => edge.of("connection.created").length === 21);
  expect(edge.frameMessages.at(-1)).toBe(1);
});

it("keeps every batch frame within the link's limit, splitting a tick's reports in order", async () => {
  const { edge, link } = await linked(true);
  const framesBefore = edge.frameBytes.length;
  // Six reports of ~300 KB: two or three fit a frame, never all six.
  const pad = "x".repeat(300 * 1024);
  for (let i = 0; i < 6; i++) link.report({ type: "user_agent_stats", channel_id: "room", connection_id: `C${i}`, timestamp: "t", stats: [pad] });
  await until("6 stats reports", () => edge.of("user_agent_stats").length === 6);
  const frames = edge.frameBytes.slice(framesBefore);
  expect(frames.length).toBeGreaterThanOrEqual(2);
  for (const bytes of frames) expect(bytes).toBeLessThanOrEqual(MAX_CONTROL_MESSAGE_BYTES);
  expect(edge.of("user_agent_stats").map((r) => r.connection_id)).toEqual(["C0", "C1", "C2", "C3", "C4", "C5"]);
  expect(link.droppedOversize).toBe(0);
});

it("sends one message per frame to an edge that does not take batches", async () => {
  const { edge, link } = await linked(false);
  const framesBefore = edge.frameMessages.length;
  for (let i = 0; i < 5; i++) link.report(created(i));
  await until("5 reports", () => edge.of("connection.created").length === 5);
  expect(edge.frameMessages.slice(framesBefore)).toEqual([1, 1, 1, 1, 1]);
});

it("packs frames by size and count (batchFrames)", () => {
  const item = (n: number) => ({ text: "y".repeat(n), bytes: n });
  // Alone: the message itself, no envelope.
  expect(batchFrames([item(10)], 100, 10)).toEqual([{ text: "y".repeat(10), count: 1 }]);
  const packed = batchFrames([item(30), item(30), item(30), item(30)], 100, 10);
  expect(packed.map((f) => f.count)).toEqual([2, 2]);
  for (const f of packed) expect(f.text.length).toBeLessThanOrEqual(100);
  expect(batchFrames(Array.from({ length: 5 }, () => item(1)), 1000, 2).map((f) => f.count)).toEqual([2, 2, 1]);
});

it("lets reports of the next ticks share the frame for REPORT_BATCH_WINDOW_MS, and sends at once what is answered", async () => {
  const { edge, link } = await linked(true);
  const framesBefore = edge.frameMessages.length;
  link.report(created(100));
  await new Promise((r) => setImmediate(r));
  link.report(created(101));
  await until("2 reports", () => edge.of("connection.created").length === 2);
  // Two ticks, one frame.
  expect(edge.frameMessages.slice(framesBefore)).toEqual([2]);
  // A report the node waits an answer for takes what is queued with it at the end of the tick.
  link.report(created(102));
  await link.place("room");
  expect(edge.of("place")).toHaveLength(1);
  expect(edge.frameMessages.at(-1)).toBe(2);
});
