import { expect, it } from "vitest";
import { RPC_METHOD_NAMES } from "../../media-node/src/signaling/rpc.js";
import { nodeAndBrowser, waitFor, type SoraPage } from "./harness.js";

// DataChannel messaging and RPC with the real sora-js-sdk 2026.1 (`messaging()`, `sendMessage`,
// the `message` event, `rpc()`), as sora-js-sdk's own e2e tests use them (messaging.test.ts,
// message_header.test.ts, rpc.test.ts). The node grants every RPC method by default here: Sora
// would take them from the auth webhook's `rpc_methods` (see README, DataChannel RPC).

const ctx = nodeAndBrowser({ defaultRpcMethods: [...RPC_METHOD_NAMES] });

const label = "#chat";

it("messaging: peers with different compress/header on one label read each other; a sendonly declarer gets nothing", async () => {
  const channelId = `msg-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  const start = (dataChannel: Record<string, unknown>) =>
    page.start({ url: ctx.url, channelId, role: "messaging", options: { dataChannels: [{ label, ...dataChannel }] } });
  const a = await start({ direction: "sendrecv", compress: true });
  const b = await start({ direction: "sendrecv", compress: false, header: [{ type: "sender_connection_id" }] });
  const c = await start({ direction: "sendonly" });
  for (const client of [a, b, c]) expect(client.error).toBeNull();
  // The SDK raised `datachannel` for the label (it does so only for labels open at `switched`).
  for (const client of [a, b, c]) await waitFor("datachannel event", async () => (await page.messaging(client.id)).dataChannels.includes(label));

  await page.sendMessage(a.id, label, "hello from a");
  const atB = await waitFor("b receives a's message", async () => (await page.messaging(b.id)).messages[0]);
  expect(atB.label).toBe(label);
  expect(atB.length).toBe(26 + "hello from a".length); // sender_connection_id, then the payload
  expect(atB.text).toBe(a.connectionId + "hello from a");

  await page.sendMessage(b.id, label, "hello from b");
  const atA = await waitFor("a receives b's message", async () => (await page.messaging(a.id)).messages[0]);
  expect(atA).toEqual({ label, length: "hello from b".length, text: "hello from b" }); // decompressed by the SDK, no header

  await page.sendMessage(c.id, label, "hello from c");
  await waitFor("a and b receive c's message", async () => (await page.messaging(a.id)).messages.length === 2 && (await page.messaging(b.id)).messages.length === 2);
  expect((await page.messaging(a.id)).messages[1]!.text).toBe("hello from c");
  expect((await page.messaging(b.id)).messages[1]!.text).toBe(c.connectionId + "hello from c");
  // Nothing reached the sendonly declarer, and nobody got its own message back.
  await new Promise((r) => setTimeout(r, 300));
  expect((await page.messaging(c.id)).messages).toEqual([]);
  expect((await page.messaging(a.id)).messages).toHaveLength(2);
  expect((await page.messaging(b.id)).messages).toHaveLength(2);
  for (const client of [a, b, c]) await page.disconnect(client.id);
});

async function widthIs(page: SoraPage, id: number, width: number): Promise<boolean> {
  const v = await page.inboundVideo(id);
  return v !== null && v.frameWidth === width && v.framesDecoded > 0;
}

it("rpc: RequestSimulcastRid moves the decoded width, PutSignalingNotifyMetadata answers the metadata, errors come back", async () => {
  const channelId = `rpc-${Math.random().toString(36).slice(2)}`;
  const page = await ctx.browser.newPage();
  // 960×540 like sora-js-sdk's rpc e2e: three layers of 240, 480 and 960 wide.
  const sender = await page.start({ url: ctx.url, channelId, role: "sendonly", options: { simulcast: true, videoCodecType: "VP8", audio: false }, video: { width: 960, height: 540 }, audio: false });
  const receiver = await page.start({ url: ctx.url, channelId, role: "recvonly", options: { simulcast: true, dataChannelSignaling: true, audio: false } });
  expect(sender.error).toBeNull();
  expect(receiver.error).toBeNull();
  await waitFor("switched", async () => (await page.state(receiver.id)).switched);
  expect((await page.messaging(receiver.id)).rpcMethods).toEqual(RPC_METHOD_NAMES);
  await waitFor("r0 (the default) decoded", () => widthIs(page, receiver.id, 240), 30_000);

  const up = await page.rpc(receiver.id, "2025.2.0/RequestSimulcastRid", { rid: "r1", sender_connection_id: sender.connectionId });
  expect(up).toEqual({ result: { channel_id: channelId, receiver_connection_id: receiver.connectionId, rid: "r1", sender_connection_id: sender.connectionId } });
  await waitFor("r1 decoded after the RPC", () => widthIs(page, receiver.id, 480), 30_000);
  // As sora-js-sdk's rpc e2e: the switch is announced with its `current_rid`; `rpc_rids` lists
  // what RPC may ask (all four: no simulcast_rpc_rids narrowed it).
  const switched = await waitFor("simulcast.switched after the RPC", async () =>
    (await page.state(receiver.id)).notifies.find((n) => n.event_type === "simulcast.switched" && n.current_rid === "r1"),
  );
  expect(switched).toMatchObject({ sender_connection_id: sender.connectionId, previous_rid: "r0", request_rid: "r1", trigger: "receiver", rpc_rids: ["none", "r0", "r1", "r2"] });
  // A request for every sender is the latest covering the pair: it supersedes the per-sender one
  // (shared/rid-requests.ts, as RequestRtpStream).
  expect(await page.rpc(receiver.id, "2025.2.0/RequestSimulcastRid", { rid: "r2" })).toMatchObject({ result: { rid: "r2" } });
  await waitFor("r2 decoded after the request for every sender", () => widthIs(page, receiver.id, 960), 30_000);
  await page.rpc(receiver.id, "2025.2.0/RequestSimulcastRid", { rid: "r0", sender_connection_id: sender.connectionId });
  await waitFor("back to r0", () => widthIs(page, receiver.id, 240), 15_000);
  const switches = (await page.state(receiver.id)).notifies.filter((n) => n.event_type === "simulcast.switched" && n.trigger === "receiver");
  expect(switches.map((n) => [n.previous_rid, n.current_rid])).toEqual([
    ["r0", "r1"],
    ["r1", "r2"],
    ["r2", "r0"],
  ]);

  const metadata = await page.rpc(receiver.id, "2025.2.0/PutSignalingNotifyMetadata", { metadata: { hand: "up" } });
  expect(metadata).toEqual({ result: { hand: "up" } });
  expect(ctx.node.sfu.findConnection(channelId, receiver.connectionId!)?.signalingNotifyMetadata).toEqual({ hand: "up" });

  // Errors: the SDK rejects rpc() (with String(error)); the raw answer carries the JSON-RPC code.
  expect(await page.rpc(receiver.id, "2025.2.0/NoSuchMethod", {})).toHaveProperty("error");
  expect(await page.rpc(receiver.id, "2025.2.0/RequestSimulcastRid", { rid: "r9" })).toHaveProperty("error");
  await waitFor("raw answers", async () => (await page.messaging(receiver.id)).rpcFrames.length >= 6);
  const frames = (await page.messaging(receiver.id)).rpcFrames.map((t) => JSON.parse(t) as { id: number; error?: { code: number; message: string } });
  expect(frames.find((f) => f.id === 5)?.error).toEqual({ code: -32601, message: "Method not found" });
  expect(frames.find((f) => f.id === 6)?.error).toMatchObject({ code: -32602, message: "Invalid params" });
  await page.disconnect(receiver.id);
  await page.disconnect(sender.id);
});
