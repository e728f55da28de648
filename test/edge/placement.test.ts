import { describe, expect, it } from "vitest";
import type { NodeLoad } from "../../shared/control-protocol.js";
import { load } from "./support/load.js";
import { CLUSTER_FULL, leastLoaded, placeInChannel, placeNewSession, signalingTarget, type PlacementEntry } from "../../edge/src/objects/placement.js";

// Placement rules (edge/src/objects/placement.ts), pure: lowest connections / max_connections
// among connected members in normal mode, ties to the node the client reached, the cap a hard limit.

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

describe("placeInChannel (a channel live on `serving`, cluster relay)", () => {
  const serve = (node_name: string) => ({ kind: "serve", node_name });

  it("affinity on: the least loaded serving node with room, ties to the asking node", () => {
    const table = [node("a", load(2, 10)), node("b", load(0, 10))];
    expect(placeInChannel(table, "b", ["a"], true)).toMatchObject({ kind: "redirect", entry: { node_name: "a" } });
    const both = [node("a", load(3, 10)), node("b", load(3, 10)), node("c", load(0, 10))];
    expect(placeInChannel(both, "b", ["a", "b"], true)).toEqual(serve("b"));
    expect(placeInChannel(both, "c", ["a", "b"], true)).toMatchObject({ kind: "redirect", entry: { node_name: "a" } });
    expect(placeInChannel([node("a", load(3, 10)), node("b", load(1, 10))], "a", ["a", "b"], true)).toMatchObject({ kind: "redirect", entry: { node_name: "b" } });
  });

  it("affinity on: when every serving node is full, the least loaded member with room (the channel spans it)", () => {
    const table = [node("a", load(10, 10)), node("b", load(1, 10)), node("c", load(5, 10))];
    expect(placeInChannel(table, "b", ["a"], true)).toEqual(serve("b"));
    expect(placeInChannel(table, "c", ["a"], true)).toMatchObject({ kind: "redirect", entry: { node_name: "b" } });
    // The full serving node itself asks (the node side does when at max_connections).
    expect(placeInChannel(table, "a", ["a"], true)).toMatchObject({ kind: "redirect", entry: { node_name: "b" } });
  });

  it("refuses when no node has room", () => {
    const table = [node("a", load(10, 10)), node("b", load(4, 4)), node("c", load(0), { member: false })];
    expect(placeInChannel(table, "b", ["a"], true)).toEqual({ kind: "refuse", reason: CLUSTER_FULL });
    expect(placeInChannel(table, "b", ["a"], false)).toEqual({ kind: "refuse", reason: CLUSTER_FULL });
  });

  it("affinity off: the asking node when it has room, else as with affinity", () => {
    const table = [node("a", load(0, 10)), node("b", load(8, 10))];
    expect(placeInChannel(table, "b", ["a"], false)).toEqual(serve("b"));
    const full = [node("a", load(2, 10)), node("b", load(10, 10)), node("c", load(0, 10))];
    expect(placeInChannel(full, "b", ["a"], false)).toMatchObject({ kind: "redirect", entry: { node_name: "a" } });
    // A node that does not serve the channel joins it only as a member in normal mode.
    const blocked = [node("a", load(2, 10)), node("b", load(0, 10), { mode: "block_new_session" })];
    expect(placeInChannel(blocked, "b", ["a"], false)).toMatchObject({ kind: "redirect", entry: { node_name: "a" } });
  });

  it("a serving node in block_new_session still takes clients of its session; one in block_new_connection does not", () => {
    const table = [node("a", load(5, 10), { mode: "block_new_session" }), node("b", load(0, 10))];
    expect(placeInChannel(table, "b", ["a"], true)).toMatchObject({ kind: "redirect", entry: { node_name: "a" } });
    const closed = [node("a", load(5, 10), { mode: "block_new_connection" }), node("b", load(0, 10))];
    expect(placeInChannel(closed, "b", ["a"], true)).toEqual(serve("b"));
  });

  it("an asking node missing from an older table counts as having room", () => {
    expect(placeInChannel([node("a", load(10, 10))], "new", ["a", "new"], true)).toEqual(serve("new"));
    expect(placeInChannel([node("a", load(2, 10))], "new", ["a"], false)).toEqual(serve("new"));
    expect(placeInChannel([node("a", load(10, 10))], "new", ["a"], true)).toEqual(serve("new"));
  });

  it("GET /signaling (no asking node): a serving node with affinity, the least loaded member without", () => {
    const table = [node("a", load(5, 10)), node("b", load(0, 10))];
    expect(placeInChannel(table, undefined, ["a"], true)).toMatchObject({ kind: "redirect", entry: { node_name: "a" } });
    expect(placeInChannel(table, undefined, ["a"], false)).toMatchObject({ kind: "redirect", entry: { node_name: "b" } });
    expect(placeInChannel([node("a", load(10, 10))], undefined, ["a"], true)).toEqual({ kind: "refuse", reason: CLUSTER_FULL });
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
