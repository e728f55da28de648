import { deflateSync, inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { MAX_MESSAGE_BYTES, MessageFanOut, decodeMessage, relayBytes, type MessagingEncoding } from "../../media-node/src/sfu/messaging.js";

// The relay decision of DataChannel messaging, pure: what one receiver gets for what one sender
// sent, given each side's `compress` / `header`. Compressed = a zlib stream (RFC 1950), what
// sora-js-sdk's CompressionStream("deflate") writes and DecompressionStream("deflate") reads.

const SENDER = "SENDERCONNECTIONID00000001"; // 26 characters, like Sora's ids
const text = Buffer.from("hello, どうも");
const plain: MessagingEncoding = { compress: false, header: false };
const compressed: MessagingEncoding = { compress: true, header: false };
const withHeader: MessagingEncoding = { compress: false, header: true };
const both: MessagingEncoding = { compress: true, header: true };

describe("relayBytes", () => {
  it("plain → plain passes the bytes as they are", () => {
    expect(relayBytes(text, SENDER, plain, plain)).toEqual(text);
  });

  it("compressed sender → plain receiver: decompressed", () => {
    expect(relayBytes(deflateSync(text), SENDER, compressed, plain)).toEqual(text);
  });

  it("plain sender → compressed receiver: a zlib stream of the payload", () => {
    const out = relayBytes(text, SENDER, plain, compressed)!;
    expect(out[0]).toBe(0x78); // zlib header (CMF: deflate, 32K window)
    expect(inflateSync(out)).toEqual(text);
  });

  it("header receiver: the 26-byte sender_connection_id, then the payload, no separator", () => {
    const out = relayBytes(deflateSync(text), SENDER, compressed, withHeader)!;
    expect(out.length).toBe(26 + text.length);
    expect(out.subarray(0, 26).toString("ascii")).toBe(SENDER);
    expect(out.subarray(26)).toEqual(text);
  });

  it("header + compress: the header is inside the zlib payload (the SDK decompresses, then reads it)", () => {
    const out = relayBytes(text, SENDER, plain, both)!;
    const inflated = inflateSync(out);
    expect(inflated.subarray(0, 26).toString("ascii")).toBe(SENDER);
    expect(inflated.subarray(26)).toEqual(text);
  });

  it("a sender's header setting does not shape what it sends (header is a receiving option)", () => {
    expect(relayBytes(text, SENDER, withHeader, plain)).toEqual(text);
    expect(inflateSync(relayBytes(deflateSync(text), SENDER, both, compressed)!)).toEqual(text);
  });
});

describe("malformed or oversized payloads are dropped (undefined)", () => {
  it("a compress sender's bytes that are not a zlib stream", () => {
    expect(decodeMessage(Buffer.from("not zlib at all"), { compress: true })).toBeUndefined();
    expect(relayBytes(Buffer.from("not zlib at all"), SENDER, compressed, plain)).toBeUndefined();
  });

  it("a truncated zlib stream, and one with a wrong checksum", () => {
    const good = deflateSync(Buffer.alloc(1000, 7));
    expect(decodeMessage(good.subarray(0, good.length - 6), { compress: true })).toBeUndefined();
    const badChecksum = Buffer.from(good);
    badChecksum[badChecksum.length - 1]! ^= 0xff;
    expect(decodeMessage(badChecksum, { compress: true })).toBeUndefined();
  });

  it("a zlib bomb: inflating stops at the limit", () => {
    const bomb = deflateSync(Buffer.alloc(MAX_MESSAGE_BYTES + 1));
    expect(bomb.length).toBeLessThan(1024);
    expect(decodeMessage(bomb, { compress: true })).toBeUndefined();
    expect(decodeMessage(deflateSync(Buffer.alloc(MAX_MESSAGE_BYTES)), { compress: true })?.length).toBe(MAX_MESSAGE_BYTES);
  });

  it("an uncompressed message beyond the limit", () => {
    expect(decodeMessage(Buffer.alloc(MAX_MESSAGE_BYTES + 1), { compress: false })).toBeUndefined();
    expect(decodeMessage(Buffer.alloc(MAX_MESSAGE_BYTES), { compress: false })?.length).toBe(MAX_MESSAGE_BYTES);
  });
});

describe("MessageFanOut", () => {
  it("gives each receiver its variant and reuses the sender's bytes when the settings match", () => {
    const original = deflateSync(text);
    const fan = new MessageFanOut(original, text, SENDER, compressed);
    expect(fan.bytesFor(compressed)).toBe(original);
    expect(fan.bytesFor(plain)).toEqual(text);
    const h1 = fan.bytesFor(withHeader);
    expect(fan.bytesFor(withHeader)).toBe(h1); // encoded once per variant
    expect(h1.subarray(0, 26).toString()).toBe(SENDER);
    expect(inflateSync(fan.bytesFor(both)).subarray(26)).toEqual(text);
  });
});
