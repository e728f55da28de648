import { describe, expect, it } from "vitest";
import { NodeCountersCache, refreshIntervalMs } from "../../edge/src/objects/node-counters-cache.js";
import { zeroNodeCounters } from "../../shared/control-protocol.js";

// GetStatsReport's per-node counters (node-counters-cache.ts): a read asks only for what is
// missing or too old; while reads keep coming, nodes are asked one at a time at a steady pace,
// not all at once.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder(failFor?: string) {
  const asked: { node: string; at: number }[] = [];
  const cache = new NodeCountersCache(
    async (node) => {
      asked.push({ node, at: Date.now() });
      await sleep(1);
      if (node === failFor) throw new Error("node object down");
      return { counters: zeroNodeCounters(), fresh: true };
    },
    200,
    500,
  );
  return { asked, cache };
}

const NODES = ["a", "b", "c", "d"].map((node_name) => ({ node_name, live: true }));

describe("NodeCountersCache", () => {
  it("spaces the background questions so a full round takes 0.8 × maxAge", () => {
    expect(refreshIntervalMs(50, 1_000)).toBe(16);
    expect(refreshIntervalMs(4, 200)).toBe(40);
    expect(refreshIntervalMs(10_000, 1_000)).toBe(2);
    expect(refreshIntervalMs(0, 1_000)).toBe(800);
  });

  it("asks every node on the first read, none on a read right after", async () => {
    const { asked, cache } = recorder();
    const first = await cache.read(NODES);
    expect(first.map((e) => e.fresh)).toEqual([true, true, true, true]);
    expect(asked.map((a) => a.node).sort()).toEqual(["a", "b", "c", "d"]);
    await cache.read(NODES);
    expect(asked.length).toBe(4);
    cache.stop();
  });

  it("while read, asks the nodes one at a time at a steady pace, and stops inUseMs after the last read", async () => {
    const { asked, cache } = recorder();
    await cache.read(NODES);
    const firstRound = asked.length;
    await sleep(400);
    const background = asked.slice(firstRound);
    // 400 ms at one question per 40 ms: up to ten (fewer when the box is slow), each node in
    // turn, one at a time: never the whole round in one burst.
    expect(background.length).toBeGreaterThanOrEqual(3);
    expect(background.length).toBeLessThanOrEqual(11);
    expect(background.slice(0, 3).map((a) => a.node)).toEqual(["a", "b", "c"]);
    for (let i = 1; i < background.length; i++) expect(background[i]!.at - background[i - 1]!.at).toBeGreaterThanOrEqual(30);
    // No read for longer than inUseMs (500): the questions stop.
    await sleep(700);
    const stopped = asked.length;
    await sleep(200);
    expect(asked.length).toBe(stopped);
    cache.stop();
  });

  it("asks again for an entry older than maxAge, and for every node after clear()", async () => {
    const { asked, cache } = recorder();
    await cache.read(NODES.slice(0, 1));
    cache.stop();
    await sleep(900); // past inUseMs (no background) and past maxAge
    await cache.read(NODES.slice(0, 1));
    expect(asked.filter((a) => a.node === "a").length).toBeGreaterThanOrEqual(2);
    cache.stop();
    const n = asked.length;
    cache.clear();
    await cache.read(NODES);
    expect(asked.length - n).toBe(4);
    cache.stop();
  });

  it("a node that was linked and is no longer (or the reverse) is asked again", async () => {
    const { asked, cache } = recorder();
    await cache.read(NODES);
    await cache.read([{ node_name: "a", live: false }, ...NODES.slice(1)]);
    expect(asked.filter((a) => a.node === "a").length).toBe(2);
    cache.stop();
  });

  it("a failed question fails the read that waits for it, and is asked again by the next read", async () => {
    const { asked, cache } = recorder("b");
    await expect(cache.read(NODES)).rejects.toThrow("node object down");
    cache.stop();
    await expect(cache.read(NODES)).rejects.toThrow("node object down");
    expect(asked.filter((a) => a.node === "b").length).toBe(2);
    cache.stop();
  });
});
