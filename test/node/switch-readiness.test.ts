import { expect, it } from "vitest";
import { readyToSwitch } from "../../media-node/src/signaling/switch-readiness.js";

it("switched waits for every DataChannel to be open and for no re-offer to be outstanding", () => {
  expect(readyToSwitch(["open", "open"], false)).toBe(true);
  expect(readyToSwitch([], false)).toBe(true);
  expect(readyToSwitch(["open", "connecting"], false)).toBe(false);
  expect(readyToSwitch(["open", "closed"], false)).toBe(false);
  expect(readyToSwitch(["open", "open"], true)).toBe(false);
});
