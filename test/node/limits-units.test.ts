import { describe, expect, it } from "vitest";
import type { ChannelSnapshot, ConnectionInfo } from "../../shared/control-protocol.js";
import { MAX_JSON_DEPTH, MAX_METADATA_BYTES, jsonBytes, jsonDepth, jsonLimitProblem, utf8Length } from "../../shared/json-limits.js";
import { snapshotParts } from "../../media-node/src/control/snapshot-parts.js";
import { connectMessage } from "../../media-node/src/signaling/messages.js";
import { invalidConnectReason } from "../../media-node/src/signaling/session.js";

// The pure parts of the limits: free-JSON depth and size (shared/json-limits.ts), the connect's
// close reason, and the hello snapshot cut into frame-sized parts (control/snapshot-parts.ts).

const deepArray = (depth: number): unknown => {
  let v: unknown = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
};

describe("json limits", () => {
  it("measures depth without recursion, stopping past the limit", () => {
    expect(jsonDepth(1)).toBe(0);
    expect(jsonDepth({})).toBe(1);
    expect(jsonDepth({ a: [{}], b: 2 })).toBe(3);
    expect(jsonDepth(deepArray(MAX_JSON_DEPTH))).toBe(MAX_JSON_DEPTH);
    expect(jsonDepth(deepArray(MAX_JSON_DEPTH + 1))).toBe(MAX_JSON_DEPTH + 1);
    // JSON.parse builds this fine; a recursive walk (or JSON.stringify) would overflow the stack.
    const hostile = JSON.parse("[".repeat(200_000) + "]".repeat(200_000));
    expect(jsonDepth(hostile)).toBe(MAX_JSON_DEPTH + 1);
    expect(jsonLimitProblem(hostile)).toEqual({ kind: "depth", limit: MAX_JSON_DEPTH });
  });

  it("measures size as UTF-8 bytes of the JSON text", () => {
    expect(utf8Length("aé€😀")).toBe(Buffer.byteLength("aé€😀"));
    const atLimit = { x: "é".repeat((MAX_METADATA_BYTES - 8) / 2) };
    expect(jsonBytes(atLimit)).toBe(MAX_METADATA_BYTES);
    expect(jsonLimitProblem(atLimit)).toBeUndefined();
    expect(jsonLimitProblem({ x: "é".repeat((MAX_METADATA_BYTES - 8) / 2) + "a" })).toMatchObject({ kind: "size", bytes: MAX_METADATA_BYTES + 1 });
  });

  it("names the connect key that broke a limit in the close reason", () => {
    const connect = (extra: Record<string, unknown>) => connectMessage.safeParse({ type: "connect", role: "sendrecv", channel_id: "c", ...extra });
    const big = { x: "a".repeat(MAX_METADATA_BYTES) };
    const reasonOf = (extra: Record<string, unknown>) => {
      const parsed = connect(extra);
      return parsed.success ? "ok" : invalidConnectReason(parsed.error.issues);
    };
    expect(reasonOf({ signaling_notify_metadata: big })).toBe("SIGNALING-NOTIFY-METADATA-TOO-LARGE");
    expect(reasonOf({ metadata: big })).toBe("METADATA-TOO-LARGE");
    expect(reasonOf({ metadata: deepArray(MAX_JSON_DEPTH + 1) })).toBe("METADATA-TOO-DEEP");
    expect(reasonOf({ metadata: deepArray(MAX_JSON_DEPTH) })).toBe("ok");
    expect(reasonOf({ role: "nope" })).toBe("INVALID-CONNECT");
  });
});

describe("hello snapshot parts", () => {
  const conn = (id: string, metadataBytes = 0): ConnectionInfo => ({
    connection_id: id.padEnd(26, "0"),
    client_id: id,
    bundle_id: id,
    role: "sendrecv",
    simulcast: false,
    spotlight: false,
    created_at: 1,
    ...(metadataBytes > 0 ? { signaling_notify_metadata: { x: "a".repeat(metadataBytes) } } : {}),
  });
  const chan = (id: string, connections: ConnectionInfo[]): ChannelSnapshot => ({
    channel_id: id,
    session_id: `s-${id}`,
    multistream: true,
    spotlight: false,
    simulcast: false,
    created_at: 1,
    connections,
  });

  it("keeps a snapshot that fits in one part as it is", () => {
    const channels = [chan("a", [conn("A1"), conn("A2")]), chan("b", [])];
    expect(snapshotParts(channels, 1_000_000)).toEqual([channels]);
    expect(snapshotParts([], 1_000_000)).toEqual([[]]);
  });

  it("fits every part in the budget, keeps channels whole when they fit, splits the others with their full id list", () => {
    const budget = 200_000;
    const huge = chan("huge", Array.from({ length: 10 }, (_, i) => conn(`H${i}`, MAX_METADATA_BYTES - 100)));
    const small = chan("small", [conn("S1", 1000)]);
    const medium = chan("medium", [conn("M1", 90_000), conn("M2", 90_000)]);
    const parts = snapshotParts([small, huge, medium], budget);
    for (const part of parts) expect(jsonBytes(part)).toBeLessThanOrEqual(budget);
    expect(parts.length).toBeGreaterThan(4);
    // Every connection exactly once, in order; channels that fit are whole and unchanged.
    const flat = parts.flat();
    expect(flat.flatMap((c) => c.connections.map((x) => x.connection_id))).toEqual(
      [small, huge, medium].flatMap((c) => c.connections.map((x) => x.connection_id)),
    );
    expect(flat.filter((c) => c.channel_id === "small")).toEqual([small]);
    expect(flat.filter((c) => c.channel_id === "medium")).toEqual([medium]);
    const pieces = flat.filter((c) => c.channel_id === "huge");
    expect(pieces.length).toBeGreaterThan(1);
    for (const piece of pieces) expect(piece.connection_ids).toEqual(huge.connections.map((c) => c.connection_id));
  });
});
