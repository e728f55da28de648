import crypto from "node:crypto";
import { syncBuiltinESMExports } from "node:module";

// crypto.randomBytes(n) for small n costs ≈ 6–8 µs here (OpenSSL 3's RAND_bytes per call, plus a
// crypto job object); werift calls it for every STUN transaction id, ICE ufrag/password, RTP
// sender SSRC/sequence/timestamp, DTLS random and SRTP setup: in a 1 → 100 join burst profile
// that was ≈ 3.5 % of the node's CPU per join (docs/performance.md, "Connect → connected").
// Small synchronous requests are served from a pool refilled 4 KiB at a time from the same
// CSPRNG (Node's own crypto.randomUUID() keeps such a cache): the bytes are the CSPRNG's,
// each handed out once, copied into a Buffer of its own (`.buffer` is its own, as randomBytes
// returns) and zeroed in the pool. Calls with a callback or over 64 bytes go to node:crypto.
//
// Installed process-wide (werift imports `randomBytes` from "crypto" as an ESM binding, which
// syncBuiltinESMExports updates), on import of werift-patches.ts.

const POOL_BYTES = 4096;
const MAX_POOLED = 64;

let pool = Buffer.alloc(0);
let offset = 0;

type RandomBytes = typeof crypto.randomBytes;
const nodeRandomBytes: RandomBytes & { __pooled?: boolean } = crypto.randomBytes;

/** `size` bytes from the pool (refilled from node:crypto when it runs short). */
export function pooledRandomBytes(size: number): Buffer {
  if (offset + size > pool.length) {
    pool = nodeRandomBytes(POOL_BYTES);
    offset = 0;
  }
  const out = Buffer.alloc(size);
  pool.copy(out, 0, offset, offset + size);
  pool.fill(0, offset, offset + size);
  offset += size;
  return out;
}

if (!nodeRandomBytes.__pooled) {
  const randomBytes = function (size: number, callback?: (err: Error | null, buf: Buffer) => void): Buffer | void {
    if (callback === undefined && Number.isInteger(size) && size >= 0 && size <= MAX_POOLED) return pooledRandomBytes(size);
    return (nodeRandomBytes as (size: number, callback?: unknown) => Buffer | void)(size, callback);
  };
  crypto.randomBytes = Object.assign(randomBytes, { __pooled: true }) as unknown as RandomBytes;
  syncBuiltinESMExports();
}
