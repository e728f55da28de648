import { describe, expect, it } from "vitest";
import { GenericNack, RtcpPacketConverter, RtpPacket, type ReceiverEstimatedMaxBitrate } from "werift";
import { rtcpCompoundCount } from "../../media-node/src/rtp/packet-validation.js";
import { SrtpContext } from "../../media-node/src/rtp/srtp.js";
import { filterDtlsDatagram } from "../../media-node/src/transport/dtls-record-filter.js";
import { FastTransport, SRTP_PROFILE_AES128_CM_HMAC_SHA1_80 } from "../../media-node/src/transport/fast-transport.js";
import { transportCounters } from "../../media-node/src/transport/transport-counters.js";
import { rtcpRecipients } from "../../media-node/src/transport/werift-patches.js";
import { prng } from "../support/synthetic-media.js";

// Fuzzing the receive paths with generated packets (deterministic: seeded PRNG). RTP goes
// through the real fast path (FastTransport's socket handler: header check, SRTP, padding check)
// into werift's RtpPacket parse, and through werift's parse directly (the werift SRTP path);
// RTCP compounds through werift's converter (patched) and our router. Valid and mutated packets
// alike: nothing may throw past the defences, what is accepted must parse to exactly what the
// spec says, and what the spec refuses must be dropped and counted.

const rand = prng(0x5eed);

/** A plain check: expect() per generated packet costs more than the parse under test. */
function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}
const int = (n: number) => Math.floor(rand() * n);
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

/** Spec reading of an RTP packet (RFC 3550 §5.1, RFC 8285), written independently of the code under test. */
function referenceRtp(b: Buffer): { headerLength: number; payloadEnd: number; extensions: number } | null {
  const len = b.length;
  if (len < 12 || b[0]! >> 6 !== 2) return null;
  let off = 12 + 4 * (b[0]! & 15);
  if (off > len) return null;
  let extensions = 0;
  if (b[0]! & 0x10) {
    if (off + 4 > len) return null;
    const profile = b.readUInt16BE(off);
    const end = off + 4 + 4 * b.readUInt16BE(off + 2);
    if (end > len) return null;
    let i = off + 4;
    if (profile === 0xbede) {
      while (i < end) {
        if (b[i] === 0) {
          i++;
          continue;
        }
        if (b[i]! >> 4 === 15) break;
        i += 2 + (b[i]! & 15);
        extensions++;
        if (i > end) return null;
      }
    } else if (profile === 0x1000) {
      while (i < end) {
        if (b[i] === 0) {
          i++;
          continue;
        }
        if (i + 2 > end) return null;
        i += 2 + b[i + 1]!;
        extensions++;
        if (i > end) return null;
      }
    } else {
      extensions = 1;
    }
    if (extensions > 32) return null;
    off = end;
  }
  let payloadEnd = len;
  if (b[0]! & 0x20) {
    const pad = b[len - 1]!;
    if (pad < 1 || off + pad > len) return null;
    payloadEnd = len - pad;
  }
  return { headerLength: off, payloadEnd, extensions };
}

/** A well-formed RTP packet with random CSRCs, extension form and padding, then (often) one mutation. */
function generateRtp(seq: number, ssrc: number): Buffer {
  const cc = rand() < 0.8 ? 0 : int(16);
  const parts: Buffer[] = [];
  const head = Buffer.alloc(12);
  head[1] = 96 + int(32); // stays out of the RTCP range 64..95 with the marker bit
  head.writeUInt16BE(seq, 2);
  head.writeUInt32BE(int(2 ** 32), 4);
  head.writeUInt32BE(ssrc, 8);
  parts.push(head, bytes(4 * cc));
  const x = rand() < 0.7;
  if (x) {
    const form = rand();
    let block: Buffer;
    if (form < 0.6) {
      const els: number[] = [];
      for (let n = int(8); n > 0; n--) {
        const l = int(16);
        els.push(((1 + int(14)) << 4) | l, ...bytes(l + 1));
        if (rand() < 0.3) els.push(0);
      }
      block = Buffer.from(els);
      parts.push(Buffer.from([0xbe, 0xde, 0, 0]));
    } else if (form < 0.8) {
      const els: number[] = [];
      for (let n = int(6); n > 0; n--) {
        const l = int(20);
        els.push(1 + int(255), l, ...bytes(l));
      }
      block = Buffer.from(els);
      parts.push(Buffer.from([0x10, 0x00, 0, 0]));
    } else {
      block = bytes(4 * int(4));
      parts.push(Buffer.from([0x12, 0x34, 0, 0]));
    }
    const padded = Buffer.concat([block, Buffer.alloc((4 - (block.length % 4)) % 4)]);
    parts[parts.length - 1]!.writeUInt16BE(padded.length / 4, 2);
    parts.push(padded);
  }
  parts.push(bytes(int(200)));
  const p = rand() < 0.2 ? 1 + int(20) : 0;
  if (p) parts.push(Buffer.concat([Buffer.alloc(p - 1), Buffer.from([p])]));
  const packet = Buffer.concat(parts);
  packet[0] = 0x80 | (p ? 0x20 : 0) | (x ? 0x10 : 0) | cc;
  // Mutations that keep sequence number and SSRC (SRTP state is keyed on them).
  const m = rand();
  if (m < 0.15) packet[0] = (packet[0]! & 0xf0) | int(16); // CSRC count
  else if (m < 0.3 && x) packet.writeUInt16BE(int(65536), 12 + 4 * cc + 2); // extension length
  else if (m < 0.4) return packet.subarray(0, int(packet.length + 1)); // truncation
  else if (m < 0.5 && packet.length > 12) packet[12 + int(packet.length - 12)] = int(256); // a byte of extension/payload
  else if (m < 0.55) packet[0] = packet[0]! ^ 0x20; // padding bit
  else if (m < 0.6) packet[packet.length - 1] = int(256); // padding count
  return packet;
}

/** A fake connected DTLS transport carrying the fast path's SRTP keys, for FastTransport.of(). */
function fakeTransport(key: Buffer, salt: Buffer) {
  const toWerift: Buffer[] = [];
  const transport = { socket: { send: () => undefined }, closed: false, onData: (data: Buffer, _addr: [string, number]) => void toWerift.push(data) };
  const nominated = { protocol: { transport }, remoteAddr: ["192.0.2.7", 40000] as [string, number] };
  const dtls = {
    state: "connected",
    srtpStarted: true,
    srtp: { config: { profile: SRTP_PROFILE_AES128_CM_HMAC_SHA1_80, keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt } } },
    iceTransport: { connection: { nominated, state: "connected" } },
  };
  return { dtls, transport, toWerift, remote: nominated.remoteAddr };
}

describe("RTP fuzz", () => {
  it("5,000 generated packets through the fast path and werift's parse: accepted iff well-formed, parsed as the spec says", () => {
    const key = bytes(16);
    const salt = bytes(14);
    const { dtls, transport, toWerift, remote } = fakeTransport(key, salt);
    const fast = FastTransport.of(dtls as never)!;
    expect(fast).toBeDefined();
    const ssrc = 0x1234abcd;
    let delivered: { length: number; headerLength: number; packet: RtpPacket } | undefined;
    expect(
      fast.claim(ssrc, (buf, length, headerLength) => {
        delivered = { length, headerLength, packet: RtpPacket.deSerialize(buf.subarray(0, length)) };
      }),
    ).toBe(true);
    const sender = new SrtpContext(key, salt);
    const outcome = { accepted: 0, refused: 0, wellFormedByWerift: 0, refusedByWerift: 0 };
    for (let i = 0; i < 5000; i++) {
      const plain = generateRtp(1000 + i, ssrc);
      const ref = referenceRtp(plain);

      // werift's own parse (its SRTP path parses the decrypted packet the same way).
      let parsed: RtpPacket | undefined;
      try {
        parsed = RtpPacket.deSerialize(Buffer.from(plain));
      } catch (err) {
        check(err instanceof RangeError, `werift threw ${String(err)} on ${plain.toString("hex")}`);
      }
      if (ref && parsed) {
        outcome.wellFormedByWerift++;
        check(parsed.header.payloadOffset === ref.headerLength, `payload offset ${parsed.header.payloadOffset} != ${ref.headerLength}: ${plain.toString("hex")}`);
        check(parsed.payload.equals(plain.subarray(ref.headerLength, ref.payloadEnd)), `payload differs: ${plain.toString("hex")}`);
      } else if (!ref) {
        // The header part of the reference (no padding check) decides whether werift may parse.
        if (parsed === undefined) outcome.refusedByWerift++;
      } else {
        throw new Error(`werift refused a well-formed packet: ${plain.toString("hex")}`);
      }

      // The fast path: protected with the peer's keys, from the selected pair's address.
      if (plain.length < 12) continue; // not RTP-shaped: the fast path hands it to werift
      const wire = Buffer.alloc(plain.length + 10);
      plain.copy(wire);
      const n = sender.protectRtp(wire, ref ? ref.headerLength : 12, plain.length);
      const malformedBefore = transportCounters.rtpMalformed;
      const weriftBefore = toWerift.length;
      delivered = undefined;
      transport.onData(wire.subarray(0, n), remote);
      if (ref) {
        check(delivered !== undefined, `well-formed packet ${i} not delivered: ${plain.toString("hex")}`);
        check(delivered!.headerLength === ref.headerLength, `fast path header length ${delivered!.headerLength} != ${ref.headerLength}`);
        check(delivered!.packet.payload.equals(plain.subarray(ref.headerLength, ref.payloadEnd)), `fast path payload differs: ${plain.toString("hex")}`);
        outcome.accepted++;
      } else if (plain[0]! >> 6 === 2) {
        check(delivered === undefined, `malformed packet delivered: ${plain.toString("hex")}`);
        check(transportCounters.rtpMalformed - malformedBefore + (toWerift.length - weriftBefore) === 1, `malformed packet neither counted nor left to werift: ${plain.toString("hex")}`);
        outcome.refused++;
      }
    }
    // Both kinds were generated in numbers.
    expect(outcome.accepted).toBeGreaterThan(1500);
    expect(outcome.refused).toBeGreaterThan(500);
    expect(outcome.refusedByWerift).toBeGreaterThan(500);
    fast.close();
  });

  it("the fast path leaves datagrams from other addresses to werift's source filter", () => {
    const key = bytes(16);
    const salt = bytes(14);
    const { dtls, transport, toWerift } = fakeTransport(key, salt);
    const fast = FastTransport.of(dtls as never)!;
    let delivered = 0;
    fast.claim(0x01020304, () => delivered++);
    const wire = Buffer.alloc(40);
    const plain = Buffer.from("80600001000000010102030400000000", "hex");
    plain.copy(wire);
    const n = new SrtpContext(key, salt).protectRtp(wire, 12, plain.length);
    transport.onData(wire.subarray(0, n), ["192.0.2.99", 40000]);
    expect(delivered).toBe(0);
    expect(toWerift).toHaveLength(1);
    fast.close();
  });
});

/** Spec-valid RTCP packets of the kinds a node meets (RFC 3550, 4585, 5104, REMB, transport-cc). */
function generateRtcpPacket(): Buffer {
  const ssrc = () => bytes(4);
  const withHeader = (count: number, type: number, body: Buffer) => {
    const pad = (4 - (body.length % 4)) % 4;
    const b = Buffer.concat([Buffer.from([0x80 | count, type, 0, 0]), body, Buffer.alloc(pad)]);
    b.writeUInt16BE(b.length / 4 - 1, 2);
    return b;
  };
  switch (int(9)) {
    case 0: {
      const k = int(4);
      return withHeader(k, 200, Buffer.concat([ssrc(), bytes(20), bytes(24 * k)]));
    }
    case 1: {
      const k = int(4);
      return withHeader(k, 201, Buffer.concat([ssrc(), bytes(24 * k)]));
    }
    case 2: {
      const text = Buffer.from("cname-" + int(1000));
      return withHeader(1, 202, Buffer.concat([ssrc(), Buffer.from([1, text.length]), text, Buffer.from([0])]));
    }
    case 3:
      return withHeader(1, 205, Buffer.concat([ssrc(), ssrc(), bytes(4 * (1 + int(6)))]));
    case 4:
      return withHeader(1, 206, Buffer.concat([ssrc(), ssrc()]));
    case 5: {
      const k = 1 + int(3);
      return withHeader(4, 206, Buffer.concat([ssrc(), Buffer.alloc(4), bytes(8 * k)]));
    }
    case 6: {
      const k = 1 + int(3);
      return withHeader(15, 206, Buffer.concat([ssrc(), Buffer.alloc(4), Buffer.from("REMB"), Buffer.from([k]), bytes(3), bytes(4 * k)]));
    }
    case 7: {
      const run = 1 + int(20);
      return withHeader(15, 205, Buffer.concat([ssrc(), ssrc(), Buffer.from([0, 1, 0, run, 0, 0, 1, 0]), Buffer.from([0x20, run]), bytes(run)]));
    }
    default:
      return withHeader(0, 203, ssrc()); // BYE
  }
}

function generateCompound(): Buffer {
  const b = Buffer.concat(Array.from({ length: 1 + int(4) }, generateRtcpPacket));
  const m = rand();
  if (m < 0.15) b.writeUInt16BE(int(65536), 2); // the first length lies
  else if (m < 0.3) {
    const at = 4 * int(b.length / 4);
    if (at + 4 <= b.length) b.writeUInt16BE(int(64), at + 2); // some word read as a length
  } else if (m < 0.4) return b.subarray(0, int(b.length + 1));
  else if (m < 0.5) return Buffer.concat([b, bytes(1 + int(7))]);
  else if (m < 0.6) b[int(b.length)] = int(256);
  else if (m < 0.7) b[0] = (b[0]! & 0xe0) | int(32); // count bits
  return b;
}

describe("RTCP fuzz", () => {
  it("5,000 generated compounds through werift's converter (patched) and the router: no throw, nothing read past its own packet", () => {
    const owner = { handleRtcpPacket: () => undefined };
    const table: Record<number, typeof owner> = {};
    let accepted = 0;
    let dropped = 0;
    for (let i = 0; i < 5000; i++) {
      const data = generateCompound();
      const malformedBefore = transportCounters.rtcpMalformed;
      const packets = RtcpPacketConverter.deSerialize(data) as { type: number; feedback?: unknown; reports?: unknown[] }[];
      if (rtcpCompoundCount(data, data.length) < 0) {
        check(packets.length === 0 && transportCounters.rtcpMalformed - malformedBefore === 1, `lying compound not dropped and counted: ${data.toString("hex")}`);
        dropped++;
        continue;
      }
      accepted++;
      const words = data.length / 4;
      for (const p of packets) {
        const fb = p.feedback as (GenericNack & ReceiverEstimatedMaxBitrate & { fir: unknown[] }) | undefined;
        if (fb instanceof GenericNack) check(fb.lost.length <= 17 * words, `NACK lost list of ${fb.lost.length} from ${data.length} bytes`);
        if (p.type === 206 && fb?.count === 4) check(fb.fir.length <= words / 2, `FIR of ${fb.fir.length} entries from ${data.length} bytes`);
        if (p.type === 206 && fb?.count === 15) check(fb.ssrcFeedbacks.length === fb.ssrcNum, "REMB SSRC list does not match its count");
        for (const r of p.reports ?? []) check(r !== undefined, "missing report block");
        rtcpRecipients(table, p as never);
      }
    }
    expect(accepted).toBeGreaterThan(1500);
    expect(dropped).toBeGreaterThan(500);
  });
});

describe("DTLS record filter fuzz", () => {
  it("2,000 random datagrams: never throws; what passes is whole records of known types, none in epoch 0 after the handshake", () => {
    for (let i = 0; i < 2000; i++) {
      const connected = rand() < 0.5;
      const records: Buffer[] = [];
      for (let n = 1 + int(3); n > 0; n--) {
        const fragment = bytes(int(60));
        const h = Buffer.alloc(13);
        h[0] = 18 + int(10);
        h[1] = 0xfe;
        h[2] = 0xfd;
        h.writeUInt16BE(int(3), 3);
        h.writeUInt16BE(rand() < 0.8 ? fragment.length : int(200), 11);
        records.push(h, fragment);
      }
      let data = Buffer.concat(records);
      if (rand() < 0.2) data = data.subarray(0, int(data.length + 1));
      const passed = filterDtlsDatagram(data, {
        connected,
        authenticate: () => (rand() < 0.5 ? Buffer.from([int(3), int(256)]) : undefined),
        onAlert: () => undefined,
        onDrop: () => undefined,
      });
      if (passed === undefined) continue;
      let pos = 0;
      while (pos < passed.length) {
        expect(pos + 13).toBeLessThanOrEqual(passed.length);
        const type = passed[pos]!;
        const epoch = passed.readUInt16BE(pos + 3);
        expect(type >= 20 && type <= 23).toBe(true);
        if (connected) expect(epoch).toBeGreaterThan(0);
        if (type === 21) expect(epoch).toBe(0);
        pos += 13 + passed.readUInt16BE(pos + 11);
      }
      expect(pos).toBe(passed.length);
    }
  });
});
