import { describe, expect, it } from "vitest";
import { ReportSequencer } from "../../edge/src/objects/report-sequencer.js";

// The control link's reordering buffer on its own: what it releases, in which order, and when
// it gives up on a missing number.

function sequencer(first: number | undefined, gapTimeoutMs = 50) {
  const released: string[] = [];
  const s = new ReportSequencer<string>((item) => released.push(item), first, gapTimeoutMs);
  return { s, released };
}

describe("ReportSequencer", () => {
  it("releases in order what arrives in order", () => {
    const { s, released } = sequencer(0);
    s.push(0, "hello");
    s.push(1, "a");
    s.push(2, "b");
    expect(released).toEqual(["hello", "a", "b"]);
    expect(s.waiting).toBe(0);
  });

  it("holds a message until its predecessors arrive (a report ahead of the hello, a connection ahead of its session)", () => {
    const { s, released } = sequencer(0);
    s.push(2, "connection.created");
    s.push(1, "session.created");
    expect(released).toEqual([]);
    expect(s.waiting).toBe(2);
    s.push(0, "hello");
    expect(released).toEqual(["hello", "session.created", "connection.created"]);
    s.dispose();
  });

  it("on a link found running, starts from the first number it sees", () => {
    const { s, released } = sequencer(undefined);
    s.push(41, "x");
    s.push(42, "y");
    expect(released).toEqual(["x", "y"]);
  });

  it("does not wait for a message that failed validation", () => {
    const { s, released } = sequencer(0);
    s.push(0, "hello");
    s.push(2, "after");
    s.skip(1);
    expect(released).toEqual(["hello", "after"]);
    s.skip(4);
    s.push(3, "three");
    s.push(5, "five");
    expect(released).toEqual(["hello", "after", "three", "five"]);
  });

  it("skips a number that never comes after the gap timeout, and still applies it if it turns up late", async () => {
    const { s, released } = sequencer(0, 30);
    s.push(0, "hello");
    s.push(2, "two");
    s.push(3, "three");
    expect(released).toEqual(["hello"]);
    await new Promise((r) => setTimeout(r, 80));
    expect(released).toEqual(["hello", "two", "three"]);
    s.push(1, "one, late");
    expect(released).toEqual(["hello", "two", "three", "one, late"]);
    expect(s.waiting).toBe(0);
  });
});
