import { describe, expect, it } from "vitest";
import { BucketHistogram, maxBetween, quantileBetween } from "../../media-node/src/metrics/bucket-histogram.js";
import { parsePrometheusText, sampleValue } from "../support/prometheus-text.js";

// The pure parts of the metrics: the cumulative histogram and its windowed quantiles (used by the
// bench on /metrics.json), and the strict text-format parser the metrics tests rely on.

describe("BucketHistogram", () => {
  it("counts into the first bucket whose bound is >= the value (Prometheus le), +Inf beyond", () => {
    const h = new BucketHistogram([0.01, 0.1, 1]);
    for (const v of [0, 0.01, 0.011, 0.5, 1, 7]) h.observe(v);
    expect(h.cumulative()).toEqual([2, 3, 5, 6]);
    expect(h.count).toBe(6);
    expect(h.sum).toBeCloseTo(8.521);
  });

  it("rejects bounds that do not ascend", () => {
    expect(() => new BucketHistogram([1, 1])).toThrow(/ascend/);
  });

  it("quantiles and max of a window are the difference of two reads; reading changes nothing", () => {
    const h = new BucketHistogram([0.001, 0.002, 0.005, 0.01, 0.1]);
    for (let i = 0; i < 1000; i++) h.observe(0.0005); // before the window
    const before = h.snapshot();
    expect(h.snapshot()).toEqual(before);
    for (let i = 0; i < 99; i++) h.observe(0.0015);
    h.observe(0.05);
    const after = h.snapshot();
    // 100 observations in the window: the 99th is in (0.001, 0.002], the 100th in (0.01, 0.1].
    expect(quantileBetween(before, after, 0.99)).toBeCloseTo(0.002);
    expect(quantileBetween(before, after, 0.5)).toBeCloseTo(0.001 + (0.001 * 50) / 99);
    expect(maxBetween(before, after)).toBe(0.1);
    // Over the whole life the 1000 early ones dominate.
    expect(quantileBetween(undefined, after, 0.5)).toBeLessThanOrEqual(0.001);
    expect(quantileBetween(after, after, 0.99)).toBeNaN();
    expect(maxBetween(after, after)).toBeNaN();
    h.observe(10);
    expect(maxBetween(after, h.snapshot())).toBe(Infinity);
    expect(quantileBetween(after, h.snapshot(), 0.99)).toBe(0.1);
  });
});

describe("parsePrometheusText", () => {
  const good = [
    "# HELP a_total A counter.",
    "# TYPE a_total counter",
    'a_total{k="v \\"q\\" \\\\ \\n"} 3',
    "",
    "# HELP h A histogram.",
    "# TYPE h histogram",
    'h_bucket{le="0.1"} 1',
    'h_bucket{le="+Inf"} 2',
    "h_sum 0.5",
    "h_count 2",
    "",
  ].join("\n");

  it("reads families, labels with escapes and histograms", () => {
    const f = parsePrometheusText(good);
    expect(f.get("a_total")?.type).toBe("counter");
    expect(sampleValue(f, "a_total", { k: 'v "q" \\ \n' })).toBe(3);
    expect(sampleValue(f, "h_count")).toBe(2);
  });

  it.each([
    ["no trailing newline", good.slice(0, -1)],
    ["a sample of no declared family", good + "b 1\n"],
    ["a free comment", good + "# hello\n"],
    ["a bad value", good.replace("a_total{k", "a_total{j").replace("} 3", "} three")],
    ["a duplicate series", good + "# HELP c x\n# TYPE c gauge\nc 1\nc 2\n"],
    ["an unquoted label", good + '# HELP c x\n# TYPE c gauge\nc{k=v} 1\n'],
    ["a negative counter", good.replace("} 3", "} -3")],
    ["buckets that are not cumulative", good.replace('le="0.1"} 1', 'le="0.1"} 5')],
    ["+Inf bucket != count", good.replace("h_count 2", "h_count 3")],
    ["TYPE without HELP", "# TYPE x gauge\nx 1\n"],
    ["an unknown type", "# HELP x y\n# TYPE x thing\n"],
  ])("rejects %s", (_, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
