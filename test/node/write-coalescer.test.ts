import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { holdFor, WriteCoalescer, type Corkable } from "../../media-node/src/signaling/write-coalescer.js";

describe("holdFor", () => {
  it("writes through after a quiet spell", () => {
    expect(holdFor(1_000, -Infinity, 100)).toBe(0);
    expect(holdFor(1_000, 900, 100)).toBe(0);
    expect(holdFor(1_000, 500, 100)).toBe(0);
  });

  it("holds a write inside the window until the window ends", () => {
    expect(holdFor(1_000, 975, 100)).toBe(75);
    expect(holdFor(1_000, 999, 100)).toBe(99);
    expect(holdFor(1_000, 1_000, 100)).toBe(100);
  });

  it("writes through when the clock went backwards", () => {
    expect(holdFor(1_000, 2_000, 100)).toBe(0);
  });
});

/** A socket that records what reaches the wire: writes while corked go out together on uncork. */
class FakeSocket implements Corkable {
  corked = 0;
  private pending: string[] = [];
  readonly flushes: string[][] = [];
  cork(): void {
    this.corked++;
  }
  uncork(): void {
    if (this.corked > 0) this.corked--;
    if (this.corked === 0 && this.pending.length > 0) {
      this.flushes.push(this.pending);
      this.pending = [];
    }
  }
  write(text: string): void {
    if (this.corked > 0) this.pending.push(text);
    else this.flushes.push([text]);
  }
}

describe("WriteCoalescer", () => {
  let now = 0;
  let socket: FakeSocket;
  let coalescer: WriteCoalescer;
  const deferrable = (text: string) => {
    coalescer.beforeDeferrable();
    socket.write(text);
  };
  const urgent = (text: string) => {
    socket.write(text);
    coalescer.afterUrgent();
  };
  const advance = (ms: number) => {
    now += ms;
    vi.advanceTimersByTime(ms);
  };

  beforeEach(() => {
    vi.useFakeTimers();
    now = 10_000;
    socket = new FakeSocket();
    coalescer = new WriteCoalescer(socket, 100, () => now);
  });
  afterEach(() => vi.useRealTimers());

  it("sends a lone notify at once", () => {
    deferrable("n1");
    expect(socket.flushes).toEqual([["n1"]]);
    expect(coalescer.holding).toBe(false);
  });

  it("sends a burst as one write per window, in order", () => {
    deferrable("n1");
    advance(25);
    deferrable("n2");
    advance(25);
    deferrable("n3");
    expect(socket.flushes).toEqual([["n1"]]);
    expect(coalescer.holding).toBe(true);
    advance(49);
    expect(socket.flushes).toEqual([["n1"]]);
    advance(1); // 100 ms after n1 went out
    expect(socket.flushes).toEqual([["n1"], ["n2", "n3"]]);
    expect(socket.corked).toBe(0);
    advance(25);
    deferrable("n4"); // 25 ms after the last flush: held again
    advance(75);
    expect(socket.flushes).toEqual([["n1"], ["n2", "n3"], ["n4"]]);
  });

  it("lets an urgent message flush what is held, behind it in order", () => {
    deferrable("n1");
    advance(10);
    deferrable("n2");
    urgent("re-offer");
    expect(socket.flushes).toEqual([["n1"], ["n2", "re-offer"]]);
    expect(socket.corked).toBe(0);
    advance(200); // the cancelled timer does nothing
    expect(socket.flushes).toEqual([["n1"], ["n2", "re-offer"]]);
  });

  it("does not hold urgent messages on an idle socket", () => {
    urgent("offer");
    urgent("ping");
    expect(socket.flushes).toEqual([["offer"], ["ping"]]);
  });

  it("flushes on demand (before the WebSocket closes)", () => {
    deferrable("n1");
    advance(1);
    deferrable("n2");
    coalescer.flush();
    expect(socket.flushes).toEqual([["n1"], ["n2"]]);
    expect(socket.corked).toBe(0);
    coalescer.flush();
    expect(socket.corked).toBe(0);
  });
});
