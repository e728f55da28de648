import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RtpHeader, RtpPacket, SrtcpSession, SrtpSession, ReceiverEstimatedMaxBitrate } from "werift";
import { SrtpContext, SRTP_AUTH_TAG_LENGTH, rtpHeaderLength } from "../../media-node/src/rtp/srtp.js";

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
