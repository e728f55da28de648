import { createCipheriv, hash, type Cipher } from "node:crypto";
import { nativeFastPath, type NativeFastPath } from "../transport/native-fastpath.js";

// SRTP/SRTCP with AES_CM_128_HMAC_SHA1_80 (RFC 3711), in place over caller-owned Buffers.
//
// node:crypto's per-object cost (createCipheriv/createHmac ≈ 9 µs a packet) dwarfs the cipher
// work itself, so this context builds every crypto object once:
// - the AES-CM keystream comes from ONE reusable `aes-128-ecb` cipher (no padding) run over a
//   preallocated buffer of counter blocks, then XORed into the payload;
// - HMAC-SHA1 is one native one-shot `crypto.hash("sha1")` over (K^ipad | message) plus one
//   SHA-1 block in JS for the outer hash, from the state after (K^opad) computed once.
// One context = one direction (a master key/salt pair). No per-packet closures or objects
// besides the keystream and digest Buffers node:crypto returns.
// When the native addon is there (transport/native-fastpath.ts), SRTP's packet crypto is one
// call into it instead (AES-CTR + HMAC-SHA1 in C on Node's OpenSSL); the ROC and replay state
// below stay here either way. SRTCP always runs in TypeScript (a few packets a second).

export const SRTP_AUTH_TAG_LENGTH = 10;
export const SRTCP_INDEX_LENGTH = 4;
const SHA1_BLOCK = 64;
const MAX_MESSAGE = 65_536;

/**
 * Replay window in packets (RFC 3711 §3.3.2 asks for at least 64). 1024 as libwebrtc uses: a NACKed
 * retransmission of high-rate video can arrive hundreds of packets after the newest one.
 */
export const REPLAY_WINDOW = 1024;
const REPLAY_MASK = REPLAY_WINDOW - 1;
/** unprotectRtp's answer for an authentic packet already received, or too old to tell. */
export const SRTP_REPLAYED = -2;

/** Per-SSRC rollover state (RFC 3711 §3.3.1). */
interface SsrcState {
  roc: number;
  /** Highest sequence number seen (s_l). */
  s_l: number;
  /** Next SRTCP index (sending side). */
  srtcpIndex: number;
  /** Receiving side: highest packet index (2^16·ROC + SEQ) accepted, -1 before the first. */
  replayTop: number;
  /** Receiving side: one bit per index in (replayTop − REPLAY_WINDOW, replayTop], at index mod REPLAY_WINDOW. */
  replaySeen?: Uint32Array;
}

/** RFC 3711 §4.3.1 key derivation (kdr = 0): AES-CM(master key, (label << 48) ^ salt). */
function derive(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0, 0, 14);
  iv[7]! ^= label;
  const ecb = createCipheriv("aes-128-ecb", masterKey, null);
  ecb.setAutoPadding(false);
  const blocks = Math.ceil(length / 16);
  const input = Buffer.alloc(blocks * 16);
  for (let i = 0; i < blocks; i++) {
    iv.copy(input, i * 16);
    input.writeUInt16BE(i, i * 16 + 14);
  }
  return ecb.update(input).subarray(0, length);
}

/**
 * Counter blocks for AesCm.xor, shared by every context of the process (xor() is synchronous and
 * node:crypto returns the keystream in a new Buffer): per-context copies were RSS per connection.
 */
let counterBytes = Buffer.alloc(0);
let counterWords = new Int32Array(0);
function growCounters(bytes: number): void {
  const ab = new ArrayBuffer(Math.ceil(bytes / 16) * 16);
  counterBytes = Buffer.from(ab);
  counterWords = new Int32Array(ab);
}
growCounters(2048);

/** AES-128 counter-mode keystream from a reusable ECB cipher. */
class AesCm {
  private readonly ecb: Cipher;

  constructor(
    key: Buffer,
    private readonly salt: Buffer,
  ) {
    this.ecb = createCipheriv("aes-128-ecb", key, null);
    this.ecb.setAutoPadding(false);
  }

  /**
   * XORs the keystream for (ssrc, 48-bit index hi:lo) into buf[start, end).
   * IV = salt ^ (ssrc << 64) ^ (index << 16); block i counts in the low 16 bits.
   */
  xor(buf: Buffer, start: number, end: number, ssrc: number, indexHi: number, indexLo: number): void {
    const length = end - start;
    if (length <= 0) return;
    const blocks = (length + 15) >>> 4;
    if (blocks * 16 > counterBytes.length) growCounters(blocks * 16);
    const s = this.salt;
    // IV bytes, big-endian order, with the block counter bytes 14..15 zero.
    const b4 = s[4]! ^ (ssrc >>> 24);
    const b5 = s[5]! ^ ((ssrc >>> 16) & 0xff);
    const b6 = s[6]! ^ ((ssrc >>> 8) & 0xff);
    const b7 = s[7]! ^ (ssrc & 0xff);
    const b8 = s[8]! ^ ((indexHi >>> 8) & 0xff);
    const b9 = s[9]! ^ (indexHi & 0xff);
    const b10 = s[10]! ^ (indexLo >>> 24);
    const b11 = s[11]! ^ ((indexLo >>> 16) & 0xff);
    const b12 = s[12]! ^ ((indexLo >>> 8) & 0xff);
    const b13 = s[13]! ^ (indexLo & 0xff);
    // Little-endian words over the counter buffer (x86/ARM Node is little-endian).
    const w0 = s[0]! | (s[1]! << 8) | (s[2]! << 16) | (s[3]! << 24);
    const w1 = b4 | (b5 << 8) | (b6 << 16) | (b7 << 24);
    const w2 = b8 | (b9 << 8) | (b10 << 16) | (b11 << 24);
    const w3 = b12 | (b13 << 8);
    const w = counterWords;
    for (let i = 0, j = 0; i < blocks; i++, j += 4) {
      w[j] = w0;
      w[j + 1] = w1;
      w[j + 2] = w2;
      w[j + 3] = w3 | ((i >>> 8) << 16) | ((i & 0xff) << 24);
    }
    const ks = this.ecb.update(counterBytes.subarray(0, blocks * 16));
    let i = 0;
    // Word-wise XOR when both sides are 4-byte aligned (the send path lays packets out so).
    if (((buf.byteOffset + start) & 3) === 0 && (ks.byteOffset & 3) === 0) {
      const n = length >>> 2;
      const dst = new Int32Array(buf.buffer, buf.byteOffset + start, n);
      const src = new Int32Array(ks.buffer, ks.byteOffset, n);
      for (let k = 0; k < n; k++) dst[k] ^= src[k]!;
      i = n << 2;
    }
    for (; i < length; i++) buf[start + i] ^= ks[i]!;
  }
}

/** SHA-1 compression of one 64-byte block (16 big-endian words in `w[0..16)`) into `h`. */
function sha1Block(h: Int32Array, w: Int32Array): void {
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
    w[i] = (x << 1) | (x >>> 31);
  }
  for (let i = 0; i < 80; i++) {
    let f: number;
    let k: number;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc | 0;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6 | 0;
    }
    const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
}

/**
 * (K^ipad | message | ROC) is assembled here for the one-shot hash. One buffer for every context
 * of the process (digest() is synchronous): a 64 KiB buffer per context was 256 KiB of RSS per
 * connection (two contexts, RTP and RTCP keys each).
 */
const innerScratch = Buffer.alloc(SHA1_BLOCK + MAX_MESSAGE + 4);

/**
 * HMAC-SHA1 with the pads precomputed; message must fit MAX_MESSAGE. The inner hash is one
 * native one-shot `crypto.hash` over (K^ipad | message); the outer one needs a single SHA-1
 * block after the (K^opad) block, whose state is computed once, so it runs in JS and saves a
 * second native call.
 */
class HmacSha1 {
  private readonly ipad = Buffer.alloc(SHA1_BLOCK);
  private readonly outerState = new Int32Array(5);
  private readonly state = new Int32Array(5);
  private readonly words = new Int32Array(80);
  /** Last tag, 20 bytes (only the first 10 are used). */
  readonly tag = Buffer.alloc(20);

  constructor(key: Buffer) {
    const opad = Buffer.alloc(SHA1_BLOCK);
    for (let i = 0; i < SHA1_BLOCK; i++) {
      const k = i < key.length ? key[i]! : 0;
      this.ipad[i] = k ^ 0x36;
      opad[i] = k ^ 0x5c;
    }
    this.outerState.set([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0]);
    for (let i = 0; i < 16; i++) this.words[i] = opad.readInt32BE(i * 4);
    sha1Block(this.outerState, this.words);
  }

  /** Tag of buf[0, length) followed by the 4-byte `trailer` (the ROC for SRTP; none for SRTCP when trailer < 0). */
  digest(buf: Buffer, length: number, trailer: number): Buffer {
    const inner = innerScratch;
    this.ipad.copy(inner, 0);
    buf.copy(inner, SHA1_BLOCK, 0, length);
    let n = SHA1_BLOCK + length;
    if (trailer >= 0) {
      inner.writeUInt32BE(trailer >>> 0, n);
      n += 4;
    }
    const d = hash("sha1", inner.subarray(0, n), "buffer") as unknown as Buffer;
    // Outer: state after the opad block, then one block = inner digest | 0x80 | zeros | length (84 bytes = 672 bits).
    const w = this.words;
    w[0] = d.readInt32BE(0);
    w[1] = d.readInt32BE(4);
    w[2] = d.readInt32BE(8);
    w[3] = d.readInt32BE(12);
    w[4] = d.readInt32BE(16);
    w[5] = 0x80000000 | 0;
    for (let i = 6; i < 15; i++) w[i] = 0;
    w[15] = (SHA1_BLOCK + 20) * 8;
    const h = this.state;
    h.set(this.outerState);
    sha1Block(h, w);
    const tag = this.tag;
    tag.writeInt32BE(h[0]!, 0);
    tag.writeInt32BE(h[1]!, 4);
    tag.writeInt32BE(h[2]!, 8);
    return tag;
  }
}

function tagEquals(buf: Buffer, at: number, tag: Buffer): boolean {
  let diff = 0;
  for (let i = 0; i < SRTP_AUTH_TAG_LENGTH; i++) diff |= buf[at + i]! ^ tag[i]!;
  return diff === 0;
}

/** Length of the RTP header (fixed part, CSRCs, extension) or -1 if malformed. */
export function rtpHeaderLength(buf: Buffer, length: number): number {
  if (length < 12 || buf[0]! >> 6 !== 2) return -1;
  let n = 12 + (buf[0]! & 0x0f) * 4;
  if (buf[0]! & 0x10) {
    if (n + 4 > length) return -1;
    n += 4 + buf.readUInt16BE(n + 2) * 4;
  }
  return n > length ? -1 : n;
}

export class SrtpContext {
  private readonly rtpCipher: AesCm;
  private readonly rtpAuth: HmacSha1;
  private readonly rtcpCipher: AesCm;
  private readonly rtcpAuth: HmacSha1;
  private readonly ssrcs = new Map<number, SsrcState>();
  private readonly rtcpSsrcs = new Map<number, SsrcState>();
  private readonly native?: NativeFastPath;
  /** The RTP keys as the addon's handle (undefined without it): native-built packets (sendRtpRows) use it. */
  readonly nativeKey?: object;
  /** The last two SSRCs' states (a transport's audio and video legs alternate), so their packets skip the map lookup. */
  private lastSsrc = -1;
  private lastState?: SsrcState;
  private otherSsrc = -1;
  private otherState?: SsrcState;

  /** `useNative: false` keeps the TypeScript crypto even when the addon is loaded (tests compare both). */
  constructor(masterKey: Buffer, masterSalt: Buffer, useNative = true) {
    if (masterKey.length !== 16 || masterSalt.length < 14) throw new Error("AES_CM_128_HMAC_SHA1_80 needs a 16-byte key and 14-byte salt");
    const rtpKey = derive(masterKey, masterSalt, 0, 16);
    const rtpSalt = derive(masterKey, masterSalt, 2, 14);
    const rtpAuthKey = derive(masterKey, masterSalt, 1, 20);
    this.rtpCipher = new AesCm(rtpKey, rtpSalt);
    this.rtpAuth = new HmacSha1(rtpAuthKey);
    const native = useNative ? nativeFastPath() : undefined;
    if (native !== undefined) {
      this.native = native;
      this.nativeKey = native.srtpKey(rtpKey, rtpSalt, rtpAuthKey);
    }
    this.rtcpCipher = new AesCm(derive(masterKey, masterSalt, 3, 16), derive(masterKey, masterSalt, 5, 14));
    this.rtcpAuth = new HmacSha1(derive(masterKey, masterSalt, 4, 20));
  }

  private state(map: Map<number, SsrcState>, ssrc: number): SsrcState {
    let s = map.get(ssrc);
    if (s === undefined) {
      s = { roc: -1, s_l: 0, srtcpIndex: 0, replayTop: -1 };
      map.set(ssrc, s);
    }
    return s;
  }

  /** Seeds the rollover counter of an SSRC (handover from another SRTP implementation). */
  setRolloverCounter(ssrc: number, roc: number, highestSeq: number): void {
    const s = this.state(this.ssrcs, ssrc >>> 0);
    s.roc = roc;
    s.s_l = highestSeq;
  }

  /** RFC 3711 §3.3.1 estimate of the ROC a sequence number belongs to (v). */
  private static guess(s: SsrcState, seq: number): number {
    if (s.roc < 0) return 0;
    if (s.s_l < 32768) return seq - s.s_l > 32768 ? s.roc - 1 : s.roc;
    return s.s_l - 32768 > seq ? s.roc + 1 : s.roc;
  }

  private static commit(s: SsrcState, seq: number, v: number): void {
    if (s.roc < 0) {
      s.roc = v;
      s.s_l = seq;
    } else if (v === s.roc) {
      if (seq > s.s_l) s.s_l = seq;
    } else if (v === s.roc + 1) {
      s.roc = v;
      s.s_l = seq;
    }
  }

  /** Whether packet `index` was accepted already or is older than the window. */
  private static replayed(s: SsrcState, index: number): boolean {
    if (index > s.replayTop) return false;
    if (s.replayTop - index >= REPLAY_WINDOW) return true;
    const bit = index & REPLAY_MASK; // ToInt32 keeps the low bits of an index below 2^48
    return (s.replaySeen![bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  private static markReceived(s: SsrcState, index: number): void {
    const seen = (s.replaySeen ??= new Uint32Array(REPLAY_WINDOW / 32));
    if (index > s.replayTop) {
      // The indices that slide out of the window give their bits to the new ones.
      if (s.replayTop < 0 || index - s.replayTop >= REPLAY_WINDOW) seen.fill(0);
      else for (let i = s.replayTop + 1; i < index; i++) seen[(i & REPLAY_MASK) >>> 5]! &= ~(1 << (i & 31));
      s.replayTop = index;
    }
    const bit = index & REPLAY_MASK;
    seen[bit >>> 5]! |= 1 << (bit & 31);
  }

  /**
   * The ROC a packet (ssrc, seq) about to be protected belongs to, committed: protectRtp's, and
   * for packets whose crypto is done elsewhere (the addon's sendRtpRows) with this context's keys.
   */
  outboundRoc(ssrc: number, seq: number): number {
    let s = this.lastState;
    if (ssrc !== this.lastSsrc || s === undefined) {
      s = ssrc === this.otherSsrc && this.otherState !== undefined ? this.otherState : this.state(this.ssrcs, ssrc);
      this.otherSsrc = this.lastSsrc;
      this.otherState = this.lastState;
      this.lastSsrc = ssrc;
      this.lastState = s;
    }
    let v = SrtpContext.guess(s, seq);
    if (v < 0) v = 0;
    SrtpContext.commit(s, seq, v);
    return v;
  }

  /**
   * Encrypts buf[headerLength, length) in place and writes the 10-byte tag at buf[length].
   * `buf` needs SRTP_AUTH_TAG_LENGTH spare bytes. Returns the SRTP length.
   */
  protectRtp(buf: Buffer, headerLength: number, length: number): number {
    const ssrc = buf.readUInt32BE(8);
    const seq = (buf[2]! << 8) | buf[3]!;
    const v = this.outboundRoc(ssrc, seq);
    if (this.nativeKey !== undefined) return this.native!.protectRtp(this.nativeKey, buf, headerLength, length, v);
    this.rtpCipher.xor(buf, headerLength, length, ssrc, v >>> 16, ((v & 0xffff) << 16) | seq);
    const tag = this.rtpAuth.digest(buf, length, v);
    tag.copy(buf, length, 0, SRTP_AUTH_TAG_LENGTH);
    return length + SRTP_AUTH_TAG_LENGTH;
  }

  /**
   * Authenticates and decrypts an SRTP packet in place. Returns the RTP length, -1 (bad tag /
   * malformed) or SRTP_REPLAYED (a copy of a packet already accepted, or older than the window).
   */
  unprotectRtp(buf: Buffer, length = buf.length): number {
    const rtpLength = length - SRTP_AUTH_TAG_LENGTH;
    const headerLength = rtpHeaderLength(buf, rtpLength);
    if (headerLength < 0) return -1;
    const ssrc = buf.readUInt32BE(8);
    const seq = (buf[2]! << 8) | buf[3]!;
    const s = this.state(this.ssrcs, ssrc);
    let v = SrtpContext.guess(s, seq);
    if (v < 0) v = 0;
    const index = v * 0x10000 + seq;
    if (SrtpContext.replayed(s, index)) return SRTP_REPLAYED;
    if (this.nativeKey !== undefined) {
      // Authenticates, then decrypts in place only if authentic.
      if (!this.native!.unprotectRtp(this.nativeKey, buf, headerLength, rtpLength, v)) return -1;
    } else {
      if (!tagEquals(buf, rtpLength, this.rtpAuth.digest(buf, rtpLength, v))) return -1;
      this.rtpCipher.xor(buf, headerLength, rtpLength, ssrc, v >>> 16, ((v & 0xffff) << 16) | seq);
    }
    SrtpContext.commit(s, seq, v);
    SrtpContext.markReceived(s, index);
    return rtpLength;
  }

  /** Decrypts only buf[headerLength, headerLength + bytes) without authenticating or updating state (load-test receivers). */
  peekPayload(buf: Buffer, headerLength: number, bytes: number): void {
    const ssrc = buf.readUInt32BE(8);
    const seq = (buf[2]! << 8) | buf[3]!;
    const s = this.state(this.ssrcs, ssrc);
    let v = SrtpContext.guess(s, seq);
    if (v < 0) v = 0;
    SrtpContext.commit(s, seq, v);
    this.rtpCipher.xor(buf, headerLength, headerLength + bytes, ssrc, v >>> 16, ((v & 0xffff) << 16) | seq);
  }

  /**
   * Encrypts a compound RTCP packet buf[0, length) in place, appends E|index and the tag.
   * `buf` needs 14 spare bytes. Returns the SRTCP length.
   */
  protectRtcp(buf: Buffer, length: number): number {
    const ssrc = buf.readUInt32BE(4);
    const s = this.state(this.rtcpSsrcs, ssrc);
    const index = s.srtcpIndex;
    s.srtcpIndex = (index + 1) & 0x7fffffff;
    this.rtcpCipher.xor(buf, 8, length, ssrc, 0, index);
    buf.writeUInt32BE((index | 0x80000000) >>> 0, length);
    const tag = this.rtcpAuth.digest(buf, length + SRTCP_INDEX_LENGTH, -1);
    tag.copy(buf, length + SRTCP_INDEX_LENGTH, 0, SRTP_AUTH_TAG_LENGTH);
    return length + SRTCP_INDEX_LENGTH + SRTP_AUTH_TAG_LENGTH;
  }

  /** Authenticates and decrypts SRTCP in place. Returns the RTCP length, or -1. */
  unprotectRtcp(buf: Buffer, length = buf.length): number {
    const tagAt = length - SRTP_AUTH_TAG_LENGTH;
    const indexAt = tagAt - SRTCP_INDEX_LENGTH;
    if (indexAt < 8) return -1;
    if (!tagEquals(buf, tagAt, this.rtcpAuth.digest(buf, tagAt, -1))) return -1;
    const e = buf.readUInt32BE(indexAt);
    if (e & 0x80000000) this.rtcpCipher.xor(buf, 8, indexAt, buf.readUInt32BE(4), 0, e & 0x7fffffff);
    return indexAt;
  }
}
