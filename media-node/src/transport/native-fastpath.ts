import type { Socket } from "node:dgram";
import { createRequire } from "node:module";

// The optional native half of the fast path (media-node/native/fastpath.c, built at install by
// media-node/native/build.mjs). Everything it does has a TypeScript twin (rtp/srtp.ts, dgram
// sends in fast-transport.ts) used when the addon is missing, fails to load, or is switched off
// with SFU_NATIVE_FAST_PATH=0.

export interface NativeFastPath {
  /** One direction's RTP keys (session key, 14-byte salt, 20-byte auth key) as an opaque handle. */
  srtpKey(cipherKey: Buffer, salt: Buffer, authKey: Buffer): object;
  /** Encrypts buf[headerLength, length), writes the 10-byte tag at buf[length]; returns the SRTP length (-1 on an OpenSSL error). */
  protectRtp(key: object, buf: Buffer, headerLength: number, length: number, roc: number): number;
  /** Checks the tag at buf[rtpLength] and, if authentic, decrypts buf[headerLength, rtpLength) in place. */
  unprotectRtp(key: object, buf: Buffer, headerLength: number, rtpLength: number, roc: number): boolean;
  /**
   * Queues buf[0, length) for `fd` to the address in `sockaddr` (a struct sockaddr_in); flushes
   * itself when 1024 are queued. The caller keeps `buf` referenced and unchanged until the flush.
   */
  queueSend(fd: number, buf: Buffer, length: number, sockaddr: Buffer): number;
  /** Forgets what is queued for `fd` (its socket closed before the flush; the number may be reused). */
  discardSends(fd: number): void;
  /** Hands every queued datagram to the kernel (one sendmmsg per run of the same socket); returns datagrams dropped so far. */
  flushSends(): number;
}

const API: readonly (keyof NativeFastPath)[] = ["srtpKey", "protectRtp", "unprotectRtp", "queueSend", "discardSends", "flushSends"];

let loaded: NativeFastPath | null | undefined;

/** The addon, or undefined (not built, not loadable, or SFU_NATIVE_FAST_PATH=0). Loaded once. */
export function nativeFastPath(): NativeFastPath | undefined {
  if (loaded === undefined) {
    loaded = null;
    if (process.env.SFU_NATIVE_FAST_PATH !== "0") {
      try {
        const require = createRequire(import.meta.url);
        const addon = require(new URL("../../native/build/fastpath.node", import.meta.url).pathname) as Partial<NativeFastPath>;
        // A binary built from another version of fastpath.c is not used.
        if (API.every((name) => typeof addon[name] === "function")) loaded = addon as NativeFastPath;
      } catch {
        loaded = null; // not built here: the TypeScript path does the same work
      }
    }
  }
  return loaded ?? undefined;
}

/** struct sockaddr_in for an IPv4 address (Linux layout), or undefined for anything else. */
export function sockaddrIn(ip: string, port: number): Buffer | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4 || !Number.isInteger(port) || port <= 0 || port > 0xffff) return undefined;
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(2, 0); // AF_INET, host byte order (little-endian on the platforms the addon builds for)
  sa.writeUInt16BE(port, 2);
  for (let i = 0; i < 4; i++) {
    const s = parts[i]!;
    const b = Number(s);
    if (!/^\d{1,3}$/.test(s) || b > 255) return undefined;
    sa[4 + i] = b;
  }
  return sa;
}

let stateSymbol: symbol | null | undefined;

/**
 * The OS descriptor of a bound dgram socket (libuv's UDPWrap.fd, Unix only), or -1 (not bound,
 * closed). Read through the socket's internal state symbol: the public `_handle` alias prints a
 * deprecation warning.
 */
export function datagramSocketFd(socket: Socket): number {
  if (stateSymbol === undefined) stateSymbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === "state symbol") ?? null;
  if (stateSymbol === null) return -1;
  const fd = (socket as unknown as Record<symbol, { handle?: { fd?: number } | null } | undefined>)[stateSymbol]?.handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : -1;
}
