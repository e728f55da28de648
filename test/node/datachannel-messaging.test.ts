import { createServer, type Server } from "node:http";
import { deflateSync, inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaNode } from "../../media-node/src/media-node.js";
import { RPC_METHOD_NAMES } from "../../media-node/src/signaling/rpc.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { until } from "../support/wait.js";

// DataChannel messaging as each side asked (compress/header per connection and label) and
// DataChannel RPC (JSON-RPC 2.0 on `rpc`), with werift clients against a standalone node (the
// node applies RPCs itself when it has no edge).

let node: MediaNode;
let url: string;

beforeAll(async () => {
  node = new MediaNode({ port: 0, defaultRpcMethods: [...RPC_METHOD_NAMES] });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
});

afterAll(async () => {
  await node?.stop();
});


async function connected(channelId: string, dataChannels: Record<string, unknown>[], nodeUrl = url): Promise<WeriftSoraClient> {
  const client = new WeriftSoraClient({
    url: nodeUrl,
    channelId,
    role: "recvonly",
    dataChannelSignaling: true,
    extra: { data_channels: dataChannels },
  });
  await client.connect();
  await until("switched", () => client.messages.some((m) => m.type === "switched"));
  return client;
}

const received = (c: WeriftSoraClient, label: string) => c.dataChannelMessages.filter((m) => m.label === label).map((m) => m.data);

describe("messaging", () => {
  it("relays between peers with different compress/header on one label, both ways; never to a sendonly declarer", async () => {
    const channelId = "messaging-mixed";
    const a = await connected(channelId, [{ label: "#chat", direction: "sendrecv", compress: true }]);
    const b = await connected(channelId, [{ label: "#chat", direction: "sendrecv", compress: false, header: [{ type: "sender_connection_id" }] }]);
    const c = await connected(channelId, [{ label: "#chat", direction: "sendonly", header: [{ type: "sender_connection_id" }] }]);
    // Every `#` label is open when `switched` arrives (sora-js-sdk fires `datachannel` only then).
    for (const client of [a, b, c]) expect(client.dataChannels.get("#chat")?.readyState).toBe("open");

    a.dataChannels.get("#chat")!.send(deflateSync(Buffer.from("from a")));
    await until("b gets a's message", () => received(b, "#chat").length === 1);
    const atB = received(b, "#chat")[0]!;
    expect(atB.subarray(0, 26).toString()).toBe(a.connectionId);
    expect(atB.subarray(26).toString()).toBe("from a");

    b.dataChannels.get("#chat")!.send(Buffer.from("from b"));
    await until("a gets b's message", () => received(a, "#chat").length === 1);
    expect(inflateSync(received(a, "#chat")[0]!).toString()).toBe("from b"); // a asked compress: a zlib stream

    c.dataChannels.get("#chat")!.send(Buffer.from("from c"));
    await until("a and b get c's message", () => received(a, "#chat").length === 2 && received(b, "#chat").length === 2);
    expect(inflateSync(received(a, "#chat")[1]!).toString()).toBe("from c");
    expect(received(b, "#chat")[1]!.toString()).toBe(c.connectionId + "from c");

    // A malformed compressed payload is dropped and counted; what follows still flows.
    const dropped = node.sfu.messagingCounters.messaging_dropped;
    a.dataChannels.get("#chat")!.send(Buffer.from("this is not a zlib stream"));
    a.dataChannels.get("#chat")!.send(deflateSync(Buffer.from("after the bad one")));
    await until("b gets the next good message", () => received(b, "#chat").length === 3);
    expect(received(b, "#chat")[2]!.subarray(26).toString()).toBe("after the bad one");
    expect(node.sfu.messagingCounters.messaging_dropped).toBe(dropped + 1);
    // Nothing ever reached the sendonly declarer, and no one got their own message back.
    expect(received(c, "#chat")).toEqual([]);
    expect(received(a, "#chat")).toHaveLength(2);
    for (const client of [a, b, c]) await client.close();
  });
});

describe("rpc", () => {
  const rpcOf = (c: WeriftSoraClient) => received(c, "rpc").map((d) => JSON.parse(d.toString()) as Record<string, unknown>);

  it("advertises rpc_methods and the rpc label; answers results and JSON-RPC errors", async () => {
    const channelId = "rpc-standalone";
    const other = await connected(channelId, []);
    const me = await connected(channelId, []);
    expect(me.offer.rpc_methods).toEqual(RPC_METHOD_NAMES);
    expect(me.offer.data_channels).toContainEqual({ label: "rpc", direction: "sendrecv", compress: false });
    const rpc = me.dataChannels.get("rpc")!;
    expect(rpc.readyState).toBe("open");

    rpc.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "2025.2.0/PutSignalingNotifyMetadata", params: { metadata: { hand: "up" }, push: true } }));
    await until("result 1", () => rpcOf(me).length === 1);
    expect(rpcOf(me)[0]).toEqual({ jsonrpc: "2.0", id: 1, result: { hand: "up" } });
    expect(node.sfu.findConnection(channelId, me.connectionId)?.signalingNotifyMetadata).toEqual({ hand: "up" });
    await until("the other gets the push", () => other.messages.some((m) => m.type === "push"));
    expect(other.messages.find((m) => m.type === "push")).toEqual({
      type: "push",
      data: { type: "signaling_notify_metadata_ext", action: "PutMetadata", connection_id: me.connectionId, metadata: { hand: "up" } },
    });

    rpc.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "2025.2.0/PutSignalingNotifyMetadataItem", params: { key: "mic", value: false } }));
    rpc.send(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "2025.2.0/NoSuchMethod" }));
    rpc.send(JSON.stringify({ jsonrpc: "2.0", id: 4, method: "2025.2.0/RequestSimulcastRid", params: { rid: "r0" } }));
    rpc.send("{ not json");
    rpc.send(JSON.stringify({ jsonrpc: "2.0", method: "2025.2.0/NoSuchMethod" })); // a notification: no answer
    await until("four more answers", () => rpcOf(me).length === 5);
    const byId = new Map(rpcOf(me).map((r) => [r.id, r]));
    expect(byId.get(2)).toEqual({ jsonrpc: "2.0", id: 2, result: { hand: "up", mic: false } });
    expect(byId.get(3)).toEqual({ jsonrpc: "2.0", id: 3, error: { code: -32601, message: "Method not found" } });
    expect(byId.get(4)).toMatchObject({ id: 4, error: { code: -32602, data: { error_type: "SIMULCAST-NOT-ENABLED" } } });
    expect(byId.get(null)).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
    await new Promise((r) => setTimeout(r, 200));
    expect(rpcOf(me)).toHaveLength(5);
    expect(me.closeInfo).toBeUndefined(); // bad RPC input never ends the session
    await me.close();
    await other.close();
  });

  it("a compressed rpc label: requests and answers are zlib streams", async () => {
    const me = await connected("rpc-compressed", [{ label: "rpc", direction: "sendrecv", compress: true }]);
    expect(me.offer.data_channels).toContainEqual({ label: "rpc", direction: "sendrecv", compress: true });
    me.dataChannels.get("rpc")!.send(deflateSync(JSON.stringify({ jsonrpc: "2.0", id: 7, method: "2025.2.0/PutSignalingNotifyMetadata", params: { metadata: { z: 1 } } })));
    await until("answer", () => received(me, "rpc").length === 1);
    expect(JSON.parse(inflateSync(received(me, "rpc")[0]!).toString())).toEqual({ jsonrpc: "2.0", id: 7, result: { z: 1 } });
    await me.close();
  });

  it("no rpc_methods (Sora's default without the auth webhook's list): no rpc label, nothing advertised", async () => {
    const plain = new MediaNode({ port: 0 });
    await plain.start();
    try {
      const me = await connected("rpc-off", [], `ws://127.0.0.1:${plain.port}/signaling`);
      expect(me.offer.rpc_methods).toBeUndefined();
      expect((me.offer.data_channels as { label: string }[]).map((d) => d.label)).not.toContain("rpc");
      await me.close();
    } finally {
      await plain.stop();
    }
  });

  describe("the auth webhook's rpc_methods", () => {
    let hook: Server;
    let hooked: MediaNode;
    beforeAll(async () => {
      hook = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            allowed: true,
            rpc_methods: ["2025.2.0/PutSignalingNotifyMetadata", "2025.2.0/RequestSimulcastRid", "2025.2.0/NotImplementedHere"],
            simulcast_rpc_rids: ["r0", "r1"],
          }),
        );
      });
      await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
      const address = hook.address();
      const port = typeof address === "object" && address ? address.port : 0;
      hooked = new MediaNode({ port: 0, defaultRpcMethods: [...RPC_METHOD_NAMES], webhooks: { authUrl: `http://127.0.0.1:${port}/auth` } });
      await hooked.start();
    });
    afterAll(async () => {
      await hooked?.stop();
      await new Promise<void>((resolve) => hook.close(() => resolve()));
    });

    it("replaces the node's default; a method outside it is not allowed", async () => {
      const me = await connected("rpc-narrow", [], `ws://127.0.0.1:${hooked.port}/signaling`);
      expect(me.offer.rpc_methods).toEqual(["2025.2.0/PutSignalingNotifyMetadata", "2025.2.0/RequestSimulcastRid"]);
      me.dataChannels.get("rpc")!.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "2025.2.0/PutSignalingNotifyMetadataItem", params: { key: "a", value: 1 } }));
      await until("answer", () => rpcOf(me).length === 1);
      expect(rpcOf(me)[0]).toEqual({
        jsonrpc: "2.0",
        id: 1,
        error: { code: -32601, message: "Method not allowed", data: { method: "2025.2.0/PutSignalingNotifyMetadataItem" } },
      });
      await me.close();
    });

    it("simulcast_rpc_rids bounds RequestSimulcastRid's rid (-32602 outside it) and is the notify's rpc_rids", async () => {
      const me = await connected("rpc-rids", [], `ws://127.0.0.1:${hooked.port}/signaling`);
      expect(hooked.sfu.findConnection("rpc-rids", me.connectionId)?.notifiedRpcRids()).toEqual(["r0", "r1"]);
      me.dataChannels.get("rpc")!.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "2025.2.0/RequestSimulcastRid", params: { rid: "r2" } }));
      await until("answer", () => rpcOf(me).length === 1);
      expect(rpcOf(me)[0]).toMatchObject({ id: 1, error: { code: -32602, data: { reason: "rid is not in simulcast_rpc_rids", rid: "r2" } } });
      await me.close();
    });
  });
});
