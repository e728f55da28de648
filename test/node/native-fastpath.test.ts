import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { existsSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SRTP_AUTH_TAG_LENGTH, SrtpContext } from "../../media-node/src/rtp/srtp.js";
import { absSendTime, writeRtpHeader } from "../../media-node/src/rtp/rtp-header.js";
import { packVp8, Vp8Munger } from "../../media-node/src/rtp/vp8-munger.js";
import { datagramSocketFd, nativeFastPath, RTP_ROW_WORDS, sockaddrIn, writeRtpRow } from "../../media-node/src/transport/native-fastpath.js";

// The optional native fast path (media-node/native/fastpath.c) must do byte for byte what the
// TypeScript path does. Where the addon was built (npm ci runs media-node/native/build.mjs) it
// must also load: a silent fallback would hide a broken build behind slower packets.

const built = existsSync(new URL("../../media-node/native/build/fastpath.node", import.meta.url));
const native = nativeFastPath();

function rtp(seq: number, ssrc: number, payloadBytes: number): { buf: Buffer; length: number } {
  const buf = Buffer.alloc(12 + payloadBytes + SRTP_AUTH_TAG_LENGTH);
  buf[0] = 0x80;
  buf[1] = 96;
  buf.writeUInt16BE(seq, 2);
  buf.writeUInt32BE(seq * 90, 4);
  buf.writeUInt32BE(ssrc, 8);
  randomBytes(payloadBytes).copy(buf, 12);
  return { buf, length: 12 + payloadBytes };
}

describe("sockaddrIn", () => {
  it("lays out struct sockaddr_in for dotted IPv4 and refuses anything else", () => {
    expect(sockaddrIn("127.0.0.1", 5004)!.toString("hex")).toBe("0200138c7f0000010000000000000000");
    expect(sockaddrIn("10.1.255.0", 1)!.subarray(0, 8).toString("hex")).toBe("020000010a01ff00");
    for (const [ip, port] of [["::1", 5004], ["1.2.3", 5004], ["1.2.3.256", 5004], ["1.2.3.4", 0], ["1.2.3.4", 70000], ["a.b.c.d", 1], ["1.2.3.04x", 1]] as const) {
      expect(sockaddrIn(ip, port)).toBeUndefined();
    }
  });
});

describe.runIf((built && process.env.SFU_NATIVE_FAST_PATH !== "0") || native !== undefined)("native fast path", () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  it("loads where it was built", () => {
    expect(native).toBeDefined();
  });

  it("protects exactly like the TypeScript SRTP across the ROC wrap, and each side opens the other's packets", () => {
    const key = randomBytes(16);
    const salt = randomBytes(14);
    const nativeTx = new SrtpContext(key, salt, true);
    const tsTx = new SrtpContext(key, salt, false);
    const nativeRx = new SrtpContext(key, salt, true);
    const tsRx = new SrtpContext(key, salt, false);
    for (let i = 0; i < 300; i++) {
      const seq = (65_400 + i) & 0xffff; // crosses the sequence wrap: ROC 0 → 1
      const { buf, length } = rtp(seq, 0xdeadbeef, 1 + (i % 97) * 13);
      const plain = Buffer.from(buf.subarray(0, length));
      const a = Buffer.from(buf);
      const b = Buffer.from(buf);
      const n = nativeTx.protectRtp(a, 12, length);
      expect(n).toBe(length + SRTP_AUTH_TAG_LENGTH);
      expect(tsTx.protectRtp(b, 12, length)).toBe(n);
      expect(a.equals(b)).toBe(true);
      expect(a.subarray(12, length).equals(plain.subarray(12))).toBe(false);
      expect(tsRx.unprotectRtp(a, n)).toBe(length);
      expect(nativeRx.unprotectRtp(b, n)).toBe(length);
      expect(a.subarray(0, length).equals(plain)).toBe(true);
      expect(b.subarray(0, length).equals(plain)).toBe(true);
    }
  });

  async function boundPair(): Promise<{ tx: Socket; rx: Socket; got: Buffer[] }> {
    const tx = createSocket("udp4");
    const rx = createSocket("udp4");
    sockets.push(tx, rx);
    await Promise.all([tx, rx].map((s) => new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()))));
    rx.setRecvBufferSize(4 * 1024 * 1024);
    const got: Buffer[] = [];
    rx.on("message", (m) => got.push(m));
    return { tx, rx, got };
  }

  it("builds rows into exactly the packets the TypeScript path sends (header, payload, VP8 rewrite, SRTP across the ROC wrap)", async () => {
    const { tx, rx, got } = await boundPair();
    const fd = datagramSocketFd(tx);
    const addr = Uint8Array.of(127, 0, 0, 1);
    const masterKey = randomBytes(16);
    const salt = randomBytes(14);
    const nativeCtx = new SrtpContext(masterKey, salt, true);
    const tsCtx = new SrtpContext(masterKey, salt, false);
    const words = new Int32Array(64 * RTP_ROW_WORDS);
    const bytes = new Uint8Array(words.buffer);
    const mungerRow = new Vp8Munger();
    const mungerTs = new Vp8Munger();
    const expected: Buffer[] = [];
    const keys: object[] = [];
    const payloads: Uint8Array[] = [];
    let rows = 0;
    for (let i = 0; i < 300; i++) {
      const seq = (65_400 + i) & 0xffff;
      const ssrc = i % 3 === 0 ? 0xfedcba98 : 0x1234;
      const mid = Buffer.from(["0", "12", "abcdefghijklmnop", "x"][i % 4]!);
      const midId = i % 5 === 0 ? 0 : 1 + (i % 14);
      const astId = i % 7 === 0 ? 0 : 3;
      const marker = i % 2 === 0;
      const ast = absSendTime(1_700_000_000_000 + i * 7);
      // VP8 descriptors: 15-bit and 7-bit picture ids with TL0PICIDX, none, a truncated one; some empty payloads.
      const payload = randomBytes([0, 1, 2, 3, 5, 200, 1200][i % 7]!);
      if (payload.length >= 3) {
        payload[0] = i % 11 === 0 ? 0x10 : 0x90;
        payload[1] = [0xc0, 0x80, 0x40, 0x00][i % 4]!;
        if (i % 3 === 0) payload[2] = payload[2]! | 0x80;
        else payload[2] = payload[2]! & 0x7f;
      }
      if (i % 50 === 0) {
        mungerRow.rebase();
        mungerTs.rebase();
      }
      const vp8 = mungerRow.rewrite(payload, 0, payload.length) ? packVp8(mungerRow.pictureIdOut, mungerRow.tl0Out) : 0;
      // The TypeScript path: header written, payload copied, munged in the copy, protected.
      const out = Buffer.alloc(64 + payload.length);
      const h = writeRtpHeader(out, 96 + (i % 3), marker, seq, i * 3000, ssrc, midId, mid, astId, ast);
      payload.copy(out, h);
      mungerTs.apply(out, h, h + payload.length);
      const n = tsCtx.protectRtp(out, h, h + payload.length);
      expected.push(Buffer.from(out.subarray(0, n)));
      keys.push(nativeCtx.nativeKey!);
      payloads.push(payload);
      const roc = nativeCtx.outboundRoc(ssrc, seq);
      writeRtpRow(words, bytes, rows, rows, fd, rows, addr, rx.address().port, roc, 96 + (i % 3), marker, seq, i * 3000, ssrc, midId, mid, astId, ast, vp8);
      rows++;
      if (rows === 64 || i === 299) {
        native!.sendRtpRows(words, rows, keys, payloads);
        rows = 0;
        keys.length = 0;
        payloads.length = 0;
      }
    }
    await vi.waitFor(() => expect(got.length).toBe(expected.length));
    for (let i = 0; i < expected.length; i++) expect(got[i]!.toString("hex"), `packet ${i}`).toBe(expected[i]!.toString("hex"));
    expect(native!.rowsRejected()).toBe(0);
  });

  it("skips and counts rows it cannot build (bad indices, not a key, not a buffer, a closed socket's) and refuses a count past the rows", async () => {
    const { tx, rx, got } = await boundPair();
    const fd = datagramSocketFd(tx);
    const ctx = new SrtpContext(randomBytes(16), randomBytes(14), true);
    const words = new Int32Array(8 * RTP_ROW_WORDS);
    const bytes = new Uint8Array(words.buffer);
    const row = (r: number, key: number, payload: number, rowFd = fd) =>
      writeRtpRow(words, bytes, r, key, rowFd, payload, Uint8Array.of(127, 0, 0, 1), rx.address().port, 0, 96, false, r, r, 5, 1, Buffer.from("0"), 3, 0, 0);
    row(0, 0, 0); // good
    row(1, 7, 0); // no such key
    row(2, 1, 0); // key slot holds no key
    row(3, 0, 9); // no such payload
    row(4, 0, 1); // payload slot holds no buffer
    row(5, -1, -1);
    row(6, 0, 0, -1); // discarded (its socket closed before the flush)
    row(7, 0, 0); // good
    const rejected = native!.rowsRejected();
    const dropped = native!.sendRtpRows(words, 8, [ctx.nativeKey!, { not: "a key" }], [randomBytes(100), "not a buffer" as unknown as Uint8Array]);
    expect(native!.rowsRejected()).toBe(rejected + 5);
    expect(dropped).toBeGreaterThanOrEqual(1);
    await vi.waitFor(() => expect(got.length).toBe(2));
    expect(() => native!.sendRtpRows(words, 9, [], [])).toThrow(RangeError);
    expect(() => native!.sendRtpRows(new Float64Array(16) as unknown as Int32Array, 1, [], [])).toThrow(TypeError);
  });

  it("rejects a forged tag without decrypting", () => {
    const key = randomBytes(16);
    const salt = randomBytes(14);
    const { buf, length } = rtp(7, 42, 200);
    const n = new SrtpContext(key, salt, false).protectRtp(buf, 12, length);
    const sealed = Buffer.from(buf);
    buf[n - 1]! ^= 1;
    expect(new SrtpContext(key, salt, true).unprotectRtp(buf, n)).toBe(-1);
    buf[n - 1]! ^= 1;
    expect(buf.equals(sealed)).toBe(true);
  });

  it("queued datagrams reach their addresses in order at the flush, each with its own length", async () => {
    const rx = [createSocket("udp4"), createSocket("udp4")];
    const tx = createSocket("udp4");
    sockets.push(...rx, tx);
    expect(datagramSocketFd(tx)).toBe(-1); // not bound yet: no descriptor
    await Promise.all([...rx, tx].map((s) => new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()))));
    const fd = datagramSocketFd(tx);
    expect(fd).toBeGreaterThanOrEqual(0);
    const got: string[][] = [[], []];
    rx.forEach((s, i) => s.on("message", (m) => got[i]!.push(m.toString())));
    const slab = Buffer.alloc(4096);
    for (let i = 0; i < 20; i++) {
      const text = `packet ${i}`;
      const view = slab.subarray(i * 64, i * 64 + 64);
      view.write(text);
      native!.queueSend(fd, view, text.length, sockaddrIn("127.0.0.1", rx[i % 2]!.address().port)!);
    }
    expect(got).toEqual([[], []]); // nothing leaves before the flush
    native!.flushSends();
    await vi.waitFor(() => expect(got[0]!.length + got[1]!.length).toBe(20));
    expect(got[0]).toEqual(Array.from({ length: 10 }, (_, k) => `packet ${2 * k}`));
    expect(got[1]).toEqual(Array.from({ length: 10 }, (_, k) => `packet ${2 * k + 1}`));
  });

  it("a closed socket has no descriptor any more, and what was queued for it can be discarded (counted as dropped)", async () => {
    const tx = createSocket("udp4");
    const rx = createSocket("udp4");
    sockets.push(rx);
    await Promise.all([tx, rx].map((s) => new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()))));
    let received = 0;
    rx.on("message", () => received++);
    const fd = datagramSocketFd(tx);
    const before = native!.flushSends();
    native!.queueSend(fd, Buffer.from("late"), 4, sockaddrIn("127.0.0.1", rx.address().port)!);
    native!.queueSend(fd, Buffer.from("late"), 4, sockaddrIn("127.0.0.1", rx.address().port)!);
    tx.close();
    expect(datagramSocketFd(tx)).toBe(-1); // what fast-transport.ts's batch checks before each flush
    native!.discardSends(fd);
    expect(native!.flushSends()).toBe(before + 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(received).toBe(0);
  });
});
