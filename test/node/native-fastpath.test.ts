import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { existsSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SRTP_AUTH_TAG_LENGTH, SrtpContext } from "../../media-node/src/rtp/srtp.js";
import { datagramSocketFd, nativeFastPath, sockaddrIn } from "../../media-node/src/transport/native-fastpath.js";

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
