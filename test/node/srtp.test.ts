import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RtpHeader, RtpPacket, SrtcpSession, SrtpSession, ReceiverEstimatedMaxBitrate } from "werift";
import { REPLAY_WINDOW, SRTP_REPLAYED, SrtpContext, SRTP_AUTH_TAG_LENGTH, rtpHeaderLength } from "../../media-node/src/rtp/srtp.js";

// The in-place SRTP context against werift's own SRTP implementation as the reference:
// encrypt with ours and decrypt with werift's, and the other way round, across the sequence wrap.

const CM = 1; // SRTP_AES128_CM_HMAC_SHA1_80
const keyA = randomBytes(16);
const saltA = randomBytes(14);
const keyB = randomBytes(16);
const saltB = randomBytes(14);
// werift side: sends with A, receives with B. Ours: one context per direction.
const weriftConfig = () => ({ keys: { localMasterKey: keyA, localMasterSalt: saltA, remoteMasterKey: keyB, remoteMasterSalt: saltB }, profile: CM });

function rtpPacket(seq: number, ssrc: number, size: number, withExtension: boolean): RtpPacket {
  const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc, marker: seq % 3 === 0 });
  if (withExtension) {
    header.extension = true;
    header.extensionProfile = 0xbede;
    header.extensions = [
      { id: 1, payload: Buffer.from("1") },
      { id: 3, payload: Buffer.from([1, 2, 3]) },
    ];
  }
  return new RtpPacket(header, randomBytes(size));
}

describe("SRTP AES_CM_128_HMAC_SHA1_80", () => {
  it("werift encrypts, ours decrypts (across the 16-bit wrap)", () => {
    const werift = new SrtpSession(weriftConfig());
    const ours = new SrtpContext(keyA, saltA);
    for (let i = 0; i < 200; i++) {
      const seq = (65_450 + i) & 0xffff;
      const p = rtpPacket(seq, 0x11223344, 1 + ((i * 37) % 1200), i % 2 === 0);
      const enc = Buffer.from(werift.encrypt(p.payload, p.header));
      const n = ours.unprotectRtp(enc);
      expect(n).toBe(enc.length - SRTP_AUTH_TAG_LENGTH);
      expect(Buffer.compare(enc.subarray(0, n), p.serialize())).toBe(0);
    }
  });

  it("ours encrypts, werift decrypts (across the wrap, with a retransmission from before it)", () => {
    const werift = new SrtpSession({ ...weriftConfig(), keys: { ...weriftConfig().keys, remoteMasterKey: keyA, remoteMasterSalt: saltA } });
    const ours = new SrtpContext(keyA, saltA);
    const seqs: number[] = [];
    for (let i = 0; i < 150; i++) seqs.push((65_480 + i) & 0xffff);
    seqs.push(65_530); // late retransmission of a pre-wrap packet after the wrap
    for (const [i, seq] of seqs.entries()) {
      const p = rtpPacket(seq, 0xdeadbeef, 1 + ((i * 53) % 1300), i % 3 !== 0);
      const plain = p.serialize();
      const buf = Buffer.alloc(plain.length + SRTP_AUTH_TAG_LENGTH);
      plain.copy(buf);
      const n = ours.protectRtp(buf, rtpHeaderLength(plain, plain.length), plain.length);
      const dec = werift.decrypt(buf.subarray(0, n));
      expect(Buffer.compare(dec, plain)).toBe(0);
    }
  });

  it("rejects replays and packets older than the window, accepts late and reordered ones (across the wrap)", () => {
    const sender = new SrtpContext(keyA, saltA);
    const receiver = new SrtpContext(keyA, saltA);
    const sealed = new Map<number, Buffer>();
    const seal = (seq: number) => {
      const plain = rtpPacket(seq & 0xffff, 0x5eed, 40, false).serialize();
      const buf = Buffer.alloc(plain.length + SRTP_AUTH_TAG_LENGTH);
      plain.copy(buf);
      const sealedPacket = buf.subarray(0, sender.protectRtp(buf, 12, plain.length));
      sealed.set(seq, Buffer.from(sealedPacket));
    };
    const open = (seq: number) => receiver.unprotectRtp(Buffer.from(sealed.get(seq)!));
    const start = 65_536 - 600; // the window straddles the sequence wrap
    for (let i = 0; i <= 1_200; i++) seal(start + i);
    const plainLength = 12 + 40;
    // Every other packet first; then a duplicate of a received one.
    for (let i = 0; i <= 1_000; i += 2) expect(open(start + i)).toBe(plainLength);
    expect(open(start + 1_000)).toBe(SRTP_REPLAYED);
    expect(open(start + 500)).toBe(SRTP_REPLAYED);
    // Late packets never received inside the window are accepted once (a NACK retransmission).
    expect(open(start + 999)).toBe(plainLength);
    expect(open(start + 999)).toBe(SRTP_REPLAYED);
    expect(open(start + 1)).toBe(plainLength); // 999 behind the newest: still inside the window
    // Jump ahead: what fell out of the window is refused even if never received.
    expect(open(start + 1_200)).toBe(plainLength);
    expect(open(start + 1_200 - REPLAY_WINDOW)).toBe(SRTP_REPLAYED); // exactly the window's age
    expect(open(start + 1_200 - REPLAY_WINDOW + 1)).toBe(plainLength);
    expect(open(start + 1_199)).toBe(plainLength);
    // A tampered copy of a new packet is an authentication failure and does not mark it received.
    seal(start + 1_201);
    const tampered = Buffer.from(sealed.get(start + 1_201)!);
    tampered[20]! ^= 1;
    expect(receiver.unprotectRtp(tampered)).toBe(-1);
    expect(open(start + 1_201)).toBe(plainLength);
    // Another SSRC has its own window: its low index is neither old nor seen.
    const plain = rtpPacket(start + 2, 0x07e5, 40, false).serialize();
    const other = Buffer.alloc(plain.length + SRTP_AUTH_TAG_LENGTH);
    plain.copy(other);
    const otherSealed = other.subarray(0, sender.protectRtp(other, 12, plain.length));
    expect(receiver.unprotectRtp(Buffer.from(otherSealed))).toBe(plainLength);
    expect(receiver.unprotectRtp(Buffer.from(otherSealed))).toBe(SRTP_REPLAYED);
  });

  it("forgets what slid out of the replay window (a late packet one lap later is new)", () => {
    const sender = new SrtpContext(keyB, saltB);
    const receiver = new SrtpContext(keyB, saltB);
    const sealed: Buffer[] = [];
    for (let seq = 0; seq <= REPLAY_WINDOW + 1; seq++) {
      const plain = rtpPacket(seq, 0xabc, 20, false).serialize();
      const buf = Buffer.alloc(plain.length + SRTP_AUTH_TAG_LENGTH);
      plain.copy(buf);
      sealed.push(Buffer.from(buf.subarray(0, sender.protectRtp(buf, 12, plain.length))));
    }
    for (let seq = 0; seq < REPLAY_WINDOW; seq++) expect(receiver.unprotectRtp(Buffer.from(sealed[seq]!))).toBe(32);
    // REPLAY_WINDOW itself is skipped, then arrives late: it shares its bit with seq 0 (received a lap earlier).
    expect(receiver.unprotectRtp(Buffer.from(sealed[REPLAY_WINDOW + 1]!))).toBe(32);
    expect(receiver.unprotectRtp(Buffer.from(sealed[REPLAY_WINDOW]!))).toBe(32);
    expect(receiver.unprotectRtp(Buffer.from(sealed[REPLAY_WINDOW]!))).toBe(SRTP_REPLAYED);
    expect(receiver.unprotectRtp(Buffer.from(sealed[1]!))).toBe(SRTP_REPLAYED); // now out of the window
  });

  it("rejects a tampered packet", () => {
    const werift = new SrtpSession(weriftConfig());
    const ours = new SrtpContext(keyA, saltA);
    const p = rtpPacket(7, 1, 100, false);
    const enc = Buffer.from(werift.encrypt(p.payload, p.header));
    enc[20]! ^= 1;
    expect(ours.unprotectRtp(enc)).toBe(-1);
  });

  it("SRTCP both ways", () => {
    const rtcp = () => new ReceiverEstimatedMaxBitrate({ senderSsrc: 5, mediaSsrc: 0, brExp: 3, brMantissa: 100_000, ssrcFeedbacks: [42] }).serialize();
    const wSend = new SrtcpSession(weriftConfig());
    const ours = new SrtpContext(keyA, saltA);
    for (let i = 0; i < 3; i++) {
      const plain = rtcp();
      const enc = Buffer.from(wSend.encrypt(plain));
      const n = ours.unprotectRtcp(enc);
      expect(Buffer.compare(enc.subarray(0, n), plain)).toBe(0);
    }
    const wRecv = new SrtcpSession({ ...weriftConfig(), keys: { ...weriftConfig().keys, remoteMasterKey: keyB, remoteMasterSalt: saltB } });
    const oursB = new SrtpContext(keyB, saltB);
    for (let i = 0; i < 3; i++) {
      const plain = rtcp();
      const buf = Buffer.alloc(plain.length + 14);
      plain.copy(buf);
      const n = oursB.protectRtcp(buf, plain.length);
      expect(Buffer.compare(wRecv.decrypt(buf.subarray(0, n)), plain)).toBe(0);
    }
  });
});
