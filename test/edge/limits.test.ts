import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { targets } from "../../shared/api/catalog.js";
import { MAX_CONTROL_MESSAGE_BYTES } from "../../shared/control-protocol.js";
import { MAX_JSON_DEPTH, MAX_METADATA_BYTES } from "../../shared/json-limits.js";
import { api, call, fails, ok } from "./support/api.js";
import { NodePeer, channel, connection, until } from "./support/node-peer.js";

// Hostile sizes and shapes at the edge: free JSON (metadata, item values, crash log info) past
// 32 levels or 64 KiB is a 400 naming the key, never a 500 and never a command that would break
// the node's link; the largest allowed values go through. Also: the browser preflight, and a
// hello snapshot that comes in parts.

const CH = "limits";
const S = "LIMITSENDER000000000000000";

/** JSON text `depth` containers deep (built as text: the test must not recurse either). */
const nestedText = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);
const nested = (depth: number): Record<string, unknown> => {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
};
/** An object of exactly `bytes` bytes as JSON: {"x":"aaa…"}. */
const ofBytes = (bytes: number) => ({ x: "a".repeat(bytes - '{"x":""}'.length) });

let node: NodePeer;

async function withSession(): Promise<void> {
  if (node) return;
  node = await NodePeer.connect("limits@host");
  node.send({ type: "session.created", channel: channel(CH, [connection(S, { signaling_notify_metadata: { n: 1 } })]) });
  await until("session", async () => (await api("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: S })).status === 200);
}

describe("free JSON depth", () => {
  const bodies = (depth: number): [string, string, string][] => [
    ["Sora_20201124.PutSignalingNotifyMetadata", `{"channel_id":"${CH}","connection_id":"${S}","push":true,"metadata":${nestedText(depth)}}`, "metadata"],
    ["Sora_20201124.PutSignalingNotifyMetadataItem", `{"channel_id":"${CH}","connection_id":"${S}","key":"k","value":${nestedText(depth)}}`, "value"],
    ["Sora_20221221.GenerateCrashLog", `{"info":${nestedText(depth)}}`, "info"],
  ];

  it("past 32 levels (up to 100 000) is 400 INVALID-REQUEST naming the key; the node is never commanded", async () => {
    await withSession();
    const before = node.commands.length;
    for (const depth of [MAX_JSON_DEPTH + 1, 3_000, 6_000, 100_000]) {
      for (const [target, body, key] of bodies(depth)) {
        const res = await call(target, body);
        expect(res.status, `${target} depth ${depth}: ${JSON.stringify(res.body)}`).toBe(400);
        expect(res.body.error_type).toBe("INVALID-REQUEST");
        expect(res.body.error_reason.issues).toContainEqual({ path: key, message: `free JSON nested deeper than ${MAX_JSON_DEPTH} levels` });
      }
    }
    expect(node.commands.length).toBe(before);
    expect(node.closed).toBeNull();
  });

  it("never answers 5xx on any target, whichever key carries the deep JSON (known, unknown, or the body itself)", async () => {
    await withSession();
    const deep = nestedText(3_000); // the depth that broke Workers RPC (RangeError, 500)
    const keys = ["metadata", "value", "info", "node_name_list", "unknown_key"];
    for (const target of targets.keys()) {
      const bodies = [
        ...keys.map((key) => `{"channel_id":"${CH}","connection_id":"${S}","recv_connection_id":"${S}","send_connection_id":"${S}","key":"k","${key}":${deep}}`),
        deep,
      ];
      for (const body of bodies) {
        const res = await call(target, body);
        expect(res.status, `${target} ${body.slice(0, 80)}: ${JSON.stringify(res.body)}`).toBeLessThan(500);
      }
    }
    expect(node.closed).toBeNull();
  });

  it("exactly 32 levels goes through to the node", async () => {
    await withSession();
    const metadata = nested(MAX_JSON_DEPTH);
    expect(await ok("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: S, metadata })).toEqual(metadata);
    expect(node.commands.at(-1)).toMatchObject({ name: "set_notify_metadata", metadata });
    // An item one level down would make the whole object 33 deep: refused, with the reason.
    const body = await fails("PutSignalingNotifyMetadataItem", { channel_id: CH, connection_id: S, key: "deep", value: nested(MAX_JSON_DEPTH) }, "METADATA-TOO-LARGE");
    expect(body.error_reason).toMatchObject({ connection_id: S, limit: "depth" });
  });
});

describe("free JSON size", () => {
  it("the largest allowed metadata (64 KiB) is pushed: the node gets it and its push in one command", async () => {
    await withSession();
    const metadata = ofBytes(MAX_METADATA_BYTES);
    expect(new TextEncoder().encode(JSON.stringify(metadata)).byteLength).toBe(MAX_METADATA_BYTES);
    expect(await ok("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: S, metadata, push: true })).toEqual(metadata);
    const command = node.commands.at(-1)!;
    expect(command).toMatchObject({ name: "set_notify_metadata", metadata, push: { action: "PutMetadata", metadata } });
    expect(JSON.stringify(command).length).toBeLessThan(MAX_CONTROL_MESSAGE_BYTES / 4);
  });

  it("one byte more, or 600 KiB with push (the body is under 1 MiB), is a 400 before anything is sent; the link stays", async () => {
    await withSession();
    const before = node.commands.length;
    for (const metadata of [ofBytes(MAX_METADATA_BYTES + 1), ofBytes(600 * 1024)]) {
      const body = await fails("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: S, metadata, push: true }, "INVALID-REQUEST");
      expect(body.error_reason.issues[0].path).toBe("metadata");
      expect(body.error_reason.issues[0].message).toMatch(/bytes as JSON, more than the limit of 65536/);
    }
    await fails("GenerateCrashLog", { info: ofBytes(600 * 1024) }, "INVALID-REQUEST");
    await fails("PutSignalingNotifyMetadataItem", { channel_id: CH, connection_id: S, key: "k", value: "a".repeat(MAX_METADATA_BYTES) }, "INVALID-REQUEST");
    expect(node.commands.length).toBe(before);
    expect(node.closed).toBeNull();
    expect((await api("ListClusterNodes", {})).body).toContainEqual(expect.objectContaining({ node_name: "limits@host", connected: true }));
  });

  it("items that each fit but add up past 64 KiB: METADATA-TOO-LARGE, the stored metadata unchanged", async () => {
    await withSession();
    await ok("PutSignalingNotifyMetadata", { channel_id: CH, connection_id: S, metadata: {} });
    const half = "a".repeat(MAX_METADATA_BYTES / 2);
    await ok("PutSignalingNotifyMetadataItem", { channel_id: CH, connection_id: S, key: "one", value: half });
    const before = node.commands.length;
    const body = await fails("PutSignalingNotifyMetadataItem", { channel_id: CH, connection_id: S, key: "two", value: half, push: true }, "METADATA-TOO-LARGE");
    expect(body.error_reason).toMatchObject({ connection_id: S, limit: "size" });
    expect(node.commands.length).toBe(before);
    expect(Object.keys(await ok("GetSignalingNotifyMetadata", { channel_id: CH, connection_id: S }))).toEqual(["one"]);
  });
});

describe("browser preflight", () => {
  it("allows the authorization header (bearer token) without allowing credentials", async () => {
    const res = await SELF.fetch("http://edge.test/", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, x-sora-target" },
    });
    expect(res.status).toBe(204);
    const allowed = res.headers.get("access-control-allow-headers")!.split(",").map((h) => h.trim().toLowerCase());
    for (const h of ["authorization", "content-type", "x-sora-target"]) expect(allowed).toContain(h);
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });
});

describe("hello snapshot in parts", () => {
  it("adopts every part, keeps a split channel's connections, forgets the node's other channels only after the last part", async () => {
    const peer = await NodePeer.connect("parts@host", { channels: [channel("old-parts", [connection("OLD00000000000000000000000")])] });
    await until("old channel", async () => (await api("GetSignalingNotifyMetadata", { channel_id: "old-parts", connection_id: "OLD00000000000000000000000" })).status === 200);
    await peer.close();

    // Re-link: the hello says more parts follow; a channel is split over two parts.
    const A = "PARTA000000000000000000000";
    const B = "PARTB000000000000000000000";
    const big = { x: "a".repeat(1000) };
    const split = (connections: ReturnType<typeof connection>[]) =>
      channel("split", connections, { connection_ids: [A, B] });
    const relinked = await NodePeer.connect("parts@host", { channels: [split([connection(A, { signaling_notify_metadata: big })])], snapshotComplete: false });
    await until("first part", async () => (await api("ListSignalingNotifyMetadata", { channel_id: "split" })).body?.length === 1);
    // Until the last part, the old channel is still the node's.
    expect((await api("ListSignalingNotifyMetadata", { channel_id: "old-parts" })).status).toBe(200);
    relinked.send({ type: "snapshot", channels: [split([connection(B, { signaling_notify_metadata: { b: 1 } })])], complete: false });
    relinked.send({ type: "snapshot", channels: [channel("third", [])], complete: true });
    await until("old channel forgotten", async () => (await api("ListSignalingNotifyMetadata", { channel_id: "old-parts" })).status === 400);
    const list = await ok("ListSignalingNotifyMetadata", { channel_id: "split" });
    expect(list.map((c: { connection_id: string }) => c.connection_id).sort()).toEqual([A, B]);
    expect(list.find((c: { connection_id: string }) => c.connection_id === A).metadata).toEqual(big);
    const channels = (await ok("ListChannels")).map((c: { channel_id: string }) => c.channel_id);
    expect(channels).toEqual(expect.arrayContaining(["split", "third"]));
    expect(channels).not.toContain("old-parts");
    await relinked.close();
  });
});

describe("signaling redirect", () => {
  it("redirects a connect with deep metadata by its channel_id alone (the node refuses the metadata)", async () => {
    await withSession();
    const res = await SELF.fetch("http://edge.test/signaling", { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const messages: unknown[] = [];
    ws.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string)));
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
    ws.send(`{"type":"connect","role":"sendrecv","channel_id":"${CH}","signaling_notify_metadata":${nestedText(100_000)}}`);
    expect(await closed).toBe(1000);
    expect(messages).toEqual([{ type: "redirect", location: node.signalingUrl }]);
  });
});
