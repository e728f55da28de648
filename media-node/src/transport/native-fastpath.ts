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
  /**
   * Builds and sends `count` RTP packets described by rows of `rows` (16 words each, layout in
   * fastpath.c ROW_* and fast-transport.ts SendBatch.queueRtp): header written, payload
   * `payloads[row.payload]` copied, VP8 descriptor rewritten, SRTP with `keys[row.key]` and the
   * row's ROC, one sendmmsg per run of the same socket. Returns datagrams dropped so far by it.
   */
  sendRtpRows(rows: Int32Array, count: number, keys: readonly object[], payloads: readonly Uint8Array[]): number;
  /** Rows sendRtpRows could not build so far (a bad index or key, an oversized packet). */
  rowsRejected(): number;
}

const API: readonly (keyof NativeFastPath)[] = ["srtpKey", "protectRtp", "unprotectRtp", "queueSend", "discardSends", "flushSends", "sendRtpRows", "rowsRejected"];

// One row of sendRtpRows: the layout of fastpath.c's ROW_* (keep both in step).
export const RTP_ROW_WORDS = 16;
const ROW_KEY = 0;
export const RTP_ROW_FD = 1;
const ROW_PAYLOAD = 2;
const ROW_BITS = 3;
const ROW_SEQ = 4;
const ROW_TS = 5;
const ROW_SSRC = 6;
const ROW_ROC = 7;
const ROW_ADDR = 8;
const ROW_PORT = 9;
const ROW_MID = 10;
const ROW_VP8 = 14;
const ROW_AST = 15;
/** MID bytes a row carries (the one-byte header extension's limit). */
export const RTP_ROW_MAX_MID = 16;

/**
 * Writes row `r` of a sendRtpRows batch (`words` and `bytes` view the same memory): the fields of
 * rtp/rtp-header.ts writeRtpHeader, the SRTP ROC, the destination (`addr`: 4 IPv4 address bytes),
 * the VP8 rewrite (rtp/vp8-munger.ts packVp8, 0 = none) and the indices of its key and payload.
 */
export function writeRtpRow(
  words: Int32Array,
  bytes: Uint8Array,
  r: number,
  keyIndex: number,
  fd: number,
  payloadIndex: number,
  addr: Uint8Array,
  port: number,
  roc: number,
  payloadType: number,
  marker: boolean,
  sequenceNumber: number,
  timestamp: number,
  ssrc: number,
  midId: number,
  mid: Uint8Array,
  absSendTimeId: number,
  ast: number,
  vp8: number,
): void {
  const o = r * RTP_ROW_WORDS;
  words[o + ROW_KEY] = keyIndex;
  words[o + RTP_ROW_FD] = fd;
  words[o + ROW_PAYLOAD] = payloadIndex;
  words[o + ROW_BITS] = (payloadType & 0x7f) | (marker ? 0x80 : 0) | ((midId & 0xf) << 8) | ((absSendTimeId & 0xf) << 12) | (Math.min(mid.length, RTP_ROW_MAX_MID) << 16);
  words[o + ROW_SEQ] = sequenceNumber;
  words[o + ROW_TS] = timestamp;
  words[o + ROW_SSRC] = ssrc;
  words[o + ROW_ROC] = roc;
  const ab = (o + ROW_ADDR) * 4;
  bytes[ab] = addr[0]!;
  bytes[ab + 1] = addr[1]!;
  bytes[ab + 2] = addr[2]!;
  bytes[ab + 3] = addr[3]!;
  words[o + ROW_PORT] = port;
  const mb = (o + ROW_MID) * 4;
  const n = Math.min(mid.length, RTP_ROW_MAX_MID);
  for (let i = 0; i < n; i++) bytes[mb + i] = mid[i]!;
  words[o + ROW_VP8] = vp8;
  words[o + ROW_AST] = ast;
}

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
