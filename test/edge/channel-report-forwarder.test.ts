import { describe, expect, it } from "vitest";
import { ChannelReportForwarder, MAX_REPORTS_PER_CALL, holdBeforeCall } from "../../edge/src/objects/channel-report-forwarder.js";

// NodeObject's per-channel report queues (channel-report-forwarder.ts): order per channel,
// channels side by side, reports batched behind a call in flight and over the hold.

function recorder(delayMs = 0, failFor?: string) {
  const calls: { channel: string; reports: number[] }[] = [];
  const errors: string[] = [];
  const forwarder = new ChannelReportForwarder<number>(
    async (channel, reports) => {
      calls.push({ channel, reports });
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (channel === failFor) throw new Error("channel object down");
    },
    (channel) => errors.push(channel),
    0,
  );
  return { calls, errors, forwarder };
}

describe("ChannelReportForwarder", () => {
  it("keeps each channel's order and batches what arrives behind a call in flight", async () => {
    const { calls, forwarder } = recorder(20);
    for (let i = 0; i < 10; i++) forwarder.push(i % 2 ? "b" : "a", i);
    await forwarder.flushed();
    // First call per channel leaves at once, the rest wait for it and go together.
    expect(calls.filter((c) => c.channel === "a").map((c) => c.reports)).toEqual([[0], [2, 4, 6, 8]]);
    expect(calls.filter((c) => c.channel === "b").map((c) => c.reports)).toEqual([[1], [3, 5, 7, 9]]);
  });

  it("holds a channel's first report for holdMs, and flushed() sends what is held at once", async () => {
    const calls: number[][] = [];
    const forwarder = new ChannelReportForwarder<number>(async (_c, r) => void calls.push(r), () => undefined, 10_000);
    forwarder.push("a", 1);
    forwarder.push("a", 2);
    await new Promise((r) => setTimeout(r, 30));
    expect(calls).toEqual([]);
    expect(forwarder.held).toBe(2);
    const started = Date.now();
    await forwarder.flushed();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(calls).toEqual([[1, 2]]);
  });

  it("settles a failed call's reports (reported once), and goes on with the next", async () => {
    const { calls, errors, forwarder } = recorder(0, "down");
    forwarder.push("down", 1);
    forwarder.push("up", 2);
    await forwarder.settled();
    await forwarder.flushed();
    expect(errors).toEqual(["down"]);
    forwarder.push("down", 3);
    await forwarder.flushed();
    expect(calls.map((c) => c.reports)).toEqual([[1], [2], [3]]);
  });

  it("splits a long queue into calls of at most MAX_REPORTS_PER_CALL", async () => {
    const { calls, forwarder } = recorder(5);
    for (let i = 0; i < 2 * MAX_REPORTS_PER_CALL + 2; i++) forwarder.push("a", i);
    await forwarder.flushed();
    expect(calls.map((c) => c.reports.length)).toEqual([1, MAX_REPORTS_PER_CALL, MAX_REPORTS_PER_CALL, 1]);
    expect(calls.flatMap((c) => c.reports)).toEqual(Array.from({ length: 2 * MAX_REPORTS_PER_CALL + 2 }, (_, i) => i));
  });

  it("settled() waits for the call carrying the last report: behind a split queue and behind a call in flight", async () => {
    let finished = 0;
    const forwarder = new ChannelReportForwarder<number>(
      async () => {
        await new Promise((r) => setTimeout(r, 10));
        finished++;
      },
      () => undefined,
    );
    for (let i = 0; i < 2 * MAX_REPORTS_PER_CALL + 2; i++) forwarder.push("a", i);
    await forwarder.settled();
    expect(finished).toBe(4);
    forwarder.push("a", 1); // goes at once
    await new Promise((r) => setTimeout(r, 2));
    forwarder.push("a", 2); // waits for it, then its own call
    await forwarder.settled();
    expect(finished).toBe(6);
    expect(forwarder.held).toBe(0);
  });

  it("calls a busy channel at most once per busyHoldMs; a quiet one after holdMs", async () => {
    const calls: { at: number; reports: number[] }[] = [];
    const forwarder = new ChannelReportForwarder<number>(async (_c, r) => void calls.push({ at: Date.now(), reports: r }), () => undefined, 0, 300);
    const started = Date.now();
    // A report every 20 ms for 700 ms: the first goes at once, then one call per 300 ms.
    for (let i = 0; i < 35; i++) {
      forwarder.push("a", i);
      await new Promise((r) => setTimeout(r, 20));
    }
    await forwarder.settled();
    expect(calls.flatMap((c) => c.reports)).toEqual(Array.from({ length: 35 }, (_, i) => i));
    expect(calls[0]!.reports).toEqual([0]);
    expect(calls.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(290);
    // flushed() still cuts the busy hold short, also for what arrives behind a call in flight.
    forwarder.push("a", 35);
    const before = calls.length;
    const flushStart = Date.now();
    await forwarder.flushed();
    expect(calls.length).toBe(before + 1);
    expect(Date.now() - flushStart).toBeLessThan(200);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("ChannelReportForwarder.flushed", () => {
  it("does not hold what arrives behind a call in flight while it waits", async () => {
    const calls: number[][] = [];
    const forwarder = new ChannelReportForwarder<number>(
      async (_c, r) => {
        calls.push(r);
        await new Promise((resolve) => setTimeout(resolve, 50));
      },
      () => undefined,
      0,
      2_000,
    );
    forwarder.push("a", 1); // goes at once, in flight for 50 ms
    forwarder.push("a", 2); // behind it: would wait for the busy hold
    const started = Date.now();
    await forwarder.flushed();
    expect(calls).toEqual([[1], [2]]);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe("holdBeforeCall", () => {
  it("holds a quiet channel for holdMs, a busy one until busyHoldMs after its last call, a full backlog not at all", () => {
    expect(holdBeforeCall(1_000, undefined, 1, 100, 500)).toBe(100);
    expect(holdBeforeCall(1_000, 400, 1, 100, 500)).toBe(100); // last call 600 ms ago: quiet again
    expect(holdBeforeCall(1_000, 800, 1, 100, 500)).toBe(300);
    expect(holdBeforeCall(1_000, 950, 1, 100, 500)).toBe(450);
    expect(holdBeforeCall(1_000, 990, 1, 0, 0)).toBe(0);
    expect(holdBeforeCall(1_000, 950, MAX_REPORTS_PER_CALL, 100, 500)).toBe(0);
  });
});
