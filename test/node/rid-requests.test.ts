import { describe, expect, it } from "vitest";
import type { RidRequest } from "../../shared/control-protocol.js";
import { requestedRid, withRidRequest, withRidReset } from "../../shared/rid-requests.js";

// RequestRtpStream / ResetRtpStream: the latest call covering a (receiver, sender) pair decides
// its layer; a reset returns the pair (or every pair of the receiver) to the connect-time rid.

type Step = ["request", string | undefined, "r0" | "r1" | "r2"] | ["reset", string | undefined];

/** Replays calls of receiver R and returns the rid each sender gets (undefined = connect-time). */
function replay(steps: Step[], senders = ["A", "B", "C"]): Record<string, string | undefined> {
  let state: RidRequest[] = [];
  for (const step of steps) {
    if (step[0] === "request") {
      const request: RidRequest = { recv_connection_id: "R", rid: step[2] };
      if (step[1] !== undefined) request.send_connection_id = step[1];
      state = withRidRequest(state, request);
    } else {
      state = withRidReset(state, "R", step[1]);
    }
  }
  return Object.fromEntries(senders.map((s) => [s, requestedRid(state, "R", s)]));
}

describe("rid requests", () => {
  it("applies a per-sender request to that sender only", () => {
    expect(replay([["request", "A", "r2"]])).toEqual({ A: "r2", B: undefined, C: undefined });
  });

  it("moves every sender with a later request without a sender, even after per-sender requests", () => {
    expect(replay([["request", "A", "r2"], ["request", "B", "r0"], ["request", undefined, "r1"]])).toEqual({ A: "r1", B: "r1", C: "r1" });
  });

  it("lets a later per-sender request override the all-senders one for that pair", () => {
    expect(replay([["request", undefined, "r1"], ["request", "A", "r2"]])).toEqual({ A: "r2", B: "r1", C: "r1" });
  });

  it("returns a pair to its connect-time rid on reset, whatever request covered it", () => {
    expect(replay([["request", "A", "r2"], ["reset", "A"]])).toEqual({ A: undefined, B: undefined, C: undefined });
    expect(replay([["request", undefined, "r1"], ["reset", "A"]])).toEqual({ A: undefined, B: "r1", C: "r1" });
    expect(replay([["request", undefined, "r1"], ["request", "A", "r2"], ["reset", "A"]])).toEqual({ A: undefined, B: "r1", C: "r1" });
  });

  it("lets a request after a pair reset cover the pair again", () => {
    expect(replay([["request", undefined, "r1"], ["reset", "A"], ["request", "A", "r0"]])).toEqual({ A: "r0", B: "r1", C: "r1" });
    expect(replay([["request", undefined, "r1"], ["reset", "A"], ["request", undefined, "r2"]])).toEqual({ A: "r2", B: "r2", C: "r2" });
  });

  it("returns every pair of the receiver on a reset without a sender", () => {
    expect(replay([["request", undefined, "r1"], ["request", "A", "r2"], ["reset", "A"], ["request", "B", "r0"], ["reset", undefined]])).toEqual({
      A: undefined,
      B: undefined,
      C: undefined,
    });
  });

  it("keeps other receivers' requests apart and the state small", () => {
    let state: RidRequest[] = [{ recv_connection_id: "Q", send_connection_id: "A", rid: "r2" }];
    state = withRidRequest(state, { recv_connection_id: "R", send_connection_id: "A", rid: "r0" });
    state = withRidRequest(state, { recv_connection_id: "R", rid: "r1" });
    expect(state).toEqual([
      { recv_connection_id: "Q", send_connection_id: "A", rid: "r2" },
      { recv_connection_id: "R", rid: "r1" },
    ]);
    // A reset of a pair nothing covers adds nothing.
    expect(withRidReset(state, "Q", "B")).toEqual(state);
    state = withRidReset(state, "R");
    expect(state).toEqual([{ recv_connection_id: "Q", send_connection_id: "A", rid: "r2" }]);
    expect(requestedRid(state, "Q", "A")).toBe("r2");
    expect(requestedRid(state, "R", "A")).toBeUndefined();
  });
});
