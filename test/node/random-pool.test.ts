import * as crypto from "node:crypto";
import { expect, it } from "vitest";
import { pooledRandomBytes } from "../../media-node/src/transport/random-pool.js";

// werift's small randomBytes calls come from a pool refilled from node:crypto: each byte handed
// out once, in a Buffer that owns its memory, the same API otherwise.

it("is installed for ESM importers of node:crypto (werift's binding)", () => {
  expect((crypto.randomBytes as unknown as { __pooled?: boolean }).__pooled).toBe(true);
});

it("hands out buffers of the asked size that own their memory, never the same bytes twice", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2_000; i++) {
    const b = crypto.randomBytes(12); // > 4 KiB in total: crosses several refills
    expect(b.length).toBe(12);
    expect(b.byteOffset).toBe(0);
    expect(b.buffer.byteLength).toBe(12);
    seen.add(b.toString("hex"));
  }
  expect(seen.size).toBe(2_000);
  expect(pooledRandomBytes(0).length).toBe(0);
});

it("looks random: bytes spread over all values", () => {
  const counts = new Array<number>(256).fill(0);
  for (let i = 0; i < 1_000; i++) for (const v of pooledRandomBytes(64)) counts[v]!++;
  // 64 000 bytes: 250 expected per value; a stuck or zeroed pool would fail this by far.
  expect(Math.min(...counts)).toBeGreaterThan(150);
  expect(Math.max(...counts)).toBeLessThan(350);
});

it("leaves large and asynchronous requests to node:crypto", async () => {
  expect(crypto.randomBytes(1024).length).toBe(1024);
  const viaCallback = await new Promise<Buffer>((resolve, reject) => crypto.randomBytes(16, (err, buf) => (err ? reject(err) : resolve(buf))));
  expect(viaCallback.length).toBe(16);
  expect(() => crypto.randomBytes(-1)).toThrow();
});
