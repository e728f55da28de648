import { describe, expect, it } from "vitest";
import type { NodeLoad } from "../../shared/control-protocol.js";
import { CLUSTER_FULL, leastLoaded, placeNewSession, signalingTarget, type PlacementEntry } from "../../edge/src/objects/placement.js";

// Placement rules (edge/src/objects/placement.ts), pure: lowest connections / max_connections
// among connected members in normal mode, ties to the node the client reached, the cap a hard limit.

const load = (connections: number, max_connections: number | null = null): NodeLoad => ({
  connections,
  max_connections,
  forwarded_packets_per_second: 0,
  cpu_percent: 0,
  event_loop_delay_p99_ms: 0,
});

const node = (node_name: string, l: NodeLoad | undefined, extra: Partial<PlacementEntry> = {}): PlacementEntry => ({
  node_name,
  signaling_url: `ws://${node_name}/signaling`,
  member: true,
  mode: "normal",
  load: l,
  ...extra,
});

describe("leastLoaded", () => {
  it("compares connections against capacity, not raw connections", () => {
    // 30 of 100 (0.3) is more loaded than 50 of 1000 (0.05).
    expect(leastLoaded([node("a", load(30, 100)), node("b", load(50, 1000))])?.node_name).toBe("b");
  });

  it("breaks ties for the node the client reached, then by name", () => {
    const table = [node("a", load(1, 10)), node("b", load(1, 10)), node("c", load(1, 10))];
    expect(leastLoaded(table, "b")?.node_name).toBe("b");
    expect(leastLoaded(table)?.node_name).toBe("a");
  });

  it("skips full nodes, non-members and nodes not in normal mode", () => {
    const table = [
      node("full", load(10, 10)),
      node("known", load(0), { member: false }),
      node("blocked", load(0), { mode: "block_new_session" }),
      node("busy", load(9000)),
    ];
    expect(leastLoaded(table)?.node_name).toBe("busy");
    expect(leastLoaded(table.slice(0, 3))).toBeUndefined();
  });

  it("counts a node that reported no load as idle", () => {
    expect(leastLoaded([node("a", load(1)), node("b", undefined)])?.node_name).toBe("b");
  });
});

describe("placeNewSession", () => {
  it("keeps the session on the asking node when it is (one of) the least loaded", () => {
    expect(placeNewSession([node("a", load(2, 10)), node("b", load(2, 10))], "b")).toEqual({ kind: "owner", node_name: "b" });
  });

  it("redirects to a less loaded member", () => {
    const decision = placeNewSession([node("a", load(8, 10)), node("b", load(2, 10))], "a");
    expect(decision).toMatchObject({ kind: "redirect", entry: { node_name: "b" } });
  });

  it("redirects away from a full asking node, to any node with room when no member qualifies", () => {
    const decision = placeNewSession([node("a", load(10, 10)), node("b", load(0), { mode: "block_new_session" })], "a");
    expect(decision).toMatchObject({ kind: "redirect", entry: { node_name: "b" } });
  });

  it("lets a node with room take the session when no member qualifies (its own mode answers)", () => {
    expect(placeNewSession([node("a", load(0), { member: false })], "a")).toEqual({ kind: "owner", node_name: "a" });
    // A node missing from a table older than its link asks too.
    expect(placeNewSession([], "new")).toEqual({ kind: "owner", node_name: "new" });
  });

  it("refuses when every node is full", () => {
    expect(placeNewSession([node("a", load(10, 10)), node("b", load(3, 3))], "a")).toEqual({ kind: "refuse", reason: CLUSTER_FULL });
  });
});

describe("signalingTarget", () => {
  it("prefers members in normal mode, then any node with room; none when all are full", () => {
    expect(signalingTarget([node("a", load(5)), node("b", load(1), { mode: "block_new_session" })])?.node_name).toBe("a");
    expect(signalingTarget([node("a", load(5, 5)), node("b", load(1), { mode: "block_new_session" })])?.node_name).toBe("b");
    expect(signalingTarget([node("a", load(5, 5))])).toBeUndefined();
  });
});

describe("PlacementCache", () => {
  it("reuses the table within its ttl, shares one read among concurrent callers, reads again after invalidate", async () => {
    const { PlacementCache } = await import("../../edge/src/objects/placement-cache.js");
    let reads = 0;
    const cache = new PlacementCache(async () => {
      reads++;
      return [node(`n${reads}`, load(0))];
    }, 1_000);
    const [a, b] = await Promise.all([cache.get(), cache.get()]);
    expect(reads).toBe(1);
    expect(a).toBe(b);
    expect((await cache.get())[0]!.node_name).toBe("n1");
    cache.invalidate();
    expect((await cache.get())[0]!.node_name).toBe("n2");
    // Past the ttl: read again.
    expect((await cache.get(Date.now() + 2_000))[0]!.node_name).toBe("n3");
    const never = new PlacementCache(async () => [node(`m${++reads}`, load(0))], 0);
    await never.get();
    await never.get();
    expect(reads).toBe(5);
  });
});
