import { expect, it } from "vitest";
import { BoundedMemo } from "../../media-node/src/transport/bounded-memo.js";

it("computes once per key and drops the oldest key when full", () => {
  const memo = new BoundedMemo<string, number>(2);
  let computed = 0;
  const get = (k: string) => memo.get(k, () => ++computed);
  expect(get("a")).toBe(1);
  expect(get("a")).toBe(1);
  expect(get("b")).toBe(2);
  expect(get("c")).toBe(3); // "a" goes
  expect(get("b")).toBe(2);
  expect(get("a")).toBe(4); // computed again
  expect(computed).toBe(4);
});
