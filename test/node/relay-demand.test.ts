import { expect, it } from "vitest";
import { demandedLayers } from "../../media-node/src/relay/relay-link.js";

// Which simulcast layers a pulling node asks the serving node for (docs/relay.md, `demand`).

const sub = (wantedLayer: number, targetLayer: number, relayedLayer: number) => ({ wantedLayer, targetLayer, relayedLayer });

it("asks for each subscription's wanted, chased and relayed layers, once each, in order", () => {
  expect(demandedLayers({ subscriptions: [] })).toEqual([]);
  expect(demandedLayers({ subscriptions: [sub(2, 2, 2)] })).toEqual([2]);
  // Switching down from r2 to r0: r2 keeps flowing until r0's keyframe arrives.
  expect(demandedLayers({ subscriptions: [sub(0, 0, 2)] })).toEqual([0, 2]);
  // Wanting r2 that does not flow yet: the fallback r0 is chased meanwhile, r2 is asked for.
  expect(demandedLayers({ subscriptions: [sub(2, 0, 0), sub(1, 1, 1)] })).toEqual([0, 1, 2]);
  // No layer (NO_LAYER = -1: rid none, before the first switch) asks for nothing.
  expect(demandedLayers({ subscriptions: [sub(-1, -1, -1), sub(1, 1, -1)] })).toEqual([1]);
});
