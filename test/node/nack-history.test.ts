import { expect, it } from "vitest";
import {
  NACK_FOUND,
  NACK_SUPPRESSED,
  NACK_UNKNOWN,
  NackHistory,
  RETRANSMIT_BURST,
  RETRANSMIT_MIN_INTERVAL_MS,
  RETRANSMIT_RATE_PPS,
} from "../../media-node/src/rtp/nack-history.js";

// A leg's sent history answers "what did outgoing seq N carry" and paces resends. No network.

it("maps an outgoing sequence number to its layer, source seq and timestamp offset, across the 16-bit wrap", () => {
  const h = new NackHistory(0);
  h.record(65535, 2, 40000, 0xfffffff0);
  h.record(0, 0, 12, 7);
  h.refill(0);
  expect(h.lookup(65535, 100)).toBe(NACK_FOUND);
  expect([h.layer, h.sourceSeq, h.tsOffset]).toEqual([2, 40000, 0xfffffff0]);
  expect(h.lookup(0, 100)).toBe(NACK_FOUND);
  expect([h.layer, h.sourceSeq, h.tsOffset]).toEqual([0, 12, 7]);
  expect(h.lookup(1, 100)).toBe(NACK_UNKNOWN); // never sent
});

it("does not answer a sequence number whose slot has been reused by a newer packet", () => {
  const h = new NackHistory(0);
  for (let seq = 0; seq < 3000; seq++) h.record(seq, 0, (seq + 500) & 0xffff, 0);
  expect(h.lookup(10, 0)).toBe(NACK_UNKNOWN); // 10 and 2058 share a slot: 10 is gone
  expect(h.lookup(2058, 0)).toBe(NACK_FOUND);
  expect(h.sourceSeq).toBe(2558);
});

it("resends a packet at most once per interval", () => {
  const h = new NackHistory(1_000_000);
  h.record(5, 1, 77, 0);
  h.refill(1_000_100);
  expect(h.lookup(5, 1_000_100)).toBe(NACK_FOUND);
  h.resent(5, 1_000_100);
  expect(h.lookup(5, 1_000_100 + RETRANSMIT_MIN_INTERVAL_MS - 1)).toBe(NACK_SUPPRESSED);
  expect(h.lookup(5, 1_000_100 + RETRANSMIT_MIN_INTERVAL_MS)).toBe(NACK_FOUND);
  // Sent again under the same number (a new packet): resendable at once.
  h.resent(5, 1_000_200);
  h.record(5, 1, 78, 0);
  expect(h.lookup(5, 1_000_201)).toBe(NACK_FOUND);
});

it("spends a token bucket of RETRANSMIT_BURST, refilled at RETRANSMIT_RATE_PPS", () => {
  const h = new NackHistory(0);
  for (let seq = 0; seq < 1000; seq++) h.record(seq, 0, seq, 0);
  h.refill(1000);
  let resent = 0;
  for (let seq = 0; seq < 1000; seq++) {
    if (h.lookup(seq, 1000) === NACK_FOUND) {
      h.resent(seq, 1000);
      resent++;
    }
  }
  expect(resent).toBe(RETRANSMIT_BURST);
  expect(h.lookup(999, 1000)).toBe(NACK_SUPPRESSED);
  h.refill(1100); // 100 ms later: 40 more
  let more = 0;
  for (let seq = 500; seq < 1000; seq++) {
    if (h.lookup(seq, 1100) === NACK_FOUND) {
      h.resent(seq, 1100);
      more++;
    }
  }
  expect(more).toBe((100 * RETRANSMIT_RATE_PPS) / 1000);
});
