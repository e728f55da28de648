import { describe, expect, it } from "vitest";
import { RtcpPacketConverter, RtpPacket, type GenericNack, type RtcpTransportLayerFeedback } from "werift";
import {
  MAX_RTP_HEADER_EXTENSIONS,
  rtcpCompoundCount,
  rtcpPacketValid,
  rtpHeaderCheck,
  rtpPacketCheck,
  rtpPaddingValid,
} from "../../media-node/src/rtp/packet-validation.js";
import { filterDtlsDatagram, type DtlsFilterContext } from "../../media-node/src/transport/dtls-record-filter.js";
import { acceptsDataFrom, isStunShaped, rtcpRecipients } from "../../media-node/src/transport/werift-patches.js";

// The pure parts of the hostile-input defences (see hostile-transport.test.ts for them on live
// connections): packet validity checks, the DTLS record filter, the ICE source rule, RTCP routing.

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ""), "hex");

describe("RTP header checks", () => {
  const base = "80600001 00000001 0000abcd";
  it("accepts plain, CSRC and RFC 8285 one-byte / two-byte extension headers and returns their length", () => {
    expect(rtpHeaderCheck(hex(base + "ffff"), 14)).toBe(12);
    expect(rtpHeaderCheck(hex("82600001 00000001 0000abcd 00000001 00000002 ff"), 21)).toBe(20);
    const oneByte = hex("90600001 00000001 0000abcd bede0002 10aa 22bbccdd 00 ff"); // mid (1 byte), a 3-byte element, padding
    expect(rtpHeaderCheck(oneByte, oneByte.length)).toBe(24);
    const twoByte = hex("90600001 00000001 0000abcd 10000001 0102aabb ff");
    expect(rtpHeaderCheck(twoByte, twoByte.length)).toBe(20);
  });

  it("rejects truncated headers, CSRCs or extensions past the end, elements past their block, and too many elements", () => {
    expect(rtpHeaderCheck(hex("806000"), 3)).toBe(-1);
    expect(rtpHeaderCheck(hex("40600001 00000001 0000abcd"), 12)).toBe(-1); // version 1
    expect(rtpHeaderCheck(hex("8f600001 00000001 0000abcd" + "00".repeat(40)), 52)).toBe(-1); // 15 CSRCs need 72 bytes
    expect(rtpHeaderCheck(hex("90600001 00000001 0000abcd bede"), 14)).toBe(-1);
    expect(rtpHeaderCheck(hex("90600001 00000001 0000abcd bedeffff 00"), 17)).toBe(-1);
    expect(rtpHeaderCheck(hex("90600001 00000001 0000abcd bede0001 1f000000 ffff"), 22)).toBe(-1); // 16-byte element in a 4-byte block
    const many = Buffer.concat([hex("90600001 00000001 0000abcd bede0011"), Buffer.from(Array.from({ length: 68 }, (_, i) => (i % 2 ? 0 : 0x10)))]);
    expect(rtpHeaderCheck(many, many.length)).toBe(-1);
    const limit = Buffer.concat([hex("90600001 00000001 0000abcd bede0010"), Buffer.from(Array.from({ length: 64 }, (_, i) => (i % 2 ? 0 : 0x10)))]);
    expect(MAX_RTP_HEADER_EXTENSIONS).toBe(32);
    expect(rtpHeaderCheck(limit, limit.length)).toBe(80);
  });

  it("checks padding against the header", () => {
    const padded = hex("a0600001 00000001 0000abcd aabb0002");
    expect(rtpPaddingValid(padded, 16, 12)).toBe(true);
    expect(rtpPacketCheck(padded, 16)).toBe(12);
    padded[15] = 5;
    expect(rtpPacketCheck(padded, 16)).toBe(-1);
    padded[15] = 0;
    expect(rtpPacketCheck(padded, 16)).toBe(-1);
  });

  it("werift's RtpPacket parse (patched) refuses what the check refuses instead of walking past the end", () => {
    expect(() => RtpPacket.deSerialize(hex("90600001 00000001 0000abcd bedeffff 10"))).toThrow(RangeError);
    expect(() => RtpPacket.deSerialize(hex("8f600001 00000001 0000abcd"))).toThrow(RangeError);
    const ok = RtpPacket.deSerialize(hex("90600001 00000001 0000abcd bede0001 10aa0000 c0ffee"));
    expect(ok.header.extensions).toEqual([{ id: 1, payload: hex("aa") }]);
    expect(ok.payload).toEqual(hex("c0ffee"));
  });
});

describe("RTCP checks", () => {
  const rr = "81c90007 00000001 00000002 00000000 00000000 00000000 00000000 00000000";
  const nack = "81cd0003 00000001 00000002 0010 0003";
  const pli = "81ce0002 00000001 00000002";
  const fir = "84ce0004 00000001 00000000 00000002 05000000";
  const remb = "8fce0005 00000001 00000000 52454d42 01000100 00000002";

  it("delimits compound packets by their lengths and refuses lengths that do not add up", () => {
    expect(rtcpCompoundCount(hex(rr + nack + pli), hex(rr + nack + pli).length)).toBe(3);
    expect(rtcpCompoundCount(hex(rr + "00"), hex(rr).length + 1)).toBe(-1);
    expect(rtcpCompoundCount(hex("81c90064 00000001"), 8)).toBe(-1);
    expect(rtcpCompoundCount(hex("41c90001 00000001"), 8)).toBe(-1); // version 1
    expect(rtcpCompoundCount(Buffer.alloc(0), 0)).toBe(-1);
  });

  it("checks each type's body: report blocks, NACK words, FIR entries, REMB SSRC count", () => {
    const valid = (h: string) => rtcpPacketValid(hex(h), 0, hex(h).length);
    for (const p of [rr, nack, pli, fir, remb]) expect(valid(p)).toBe(true);
    expect(valid("82c90007 00000001 00000002 00000000 00000000 00000000 00000000 00000000")).toBe(false); // 2 report blocks claimed
    expect(valid("81cd0001 00000001")).toBe(false);
    expect(valid("84ce0003 00000001 00000000 00000002")).toBe(false);
    expect(valid("8fce0005 00000001 00000000 52454d42 09000100 00000002")).toBe(false);
    expect(valid("8fce0005 00000001 00000000 58585858 01000100 00000002")).toBe(false);
    expect(valid("a1c90007 00000001 00000002 00000000 00000000 00000000 00000000 000000ff")).toBe(false); // padding past the body
  });

  it("checks transport-wide CC feedback: chunks cover the status count, zero runs refused, deltas present", () => {
    const twcc = (chunksAndDeltas: string, statusCount: number) => {
      const body = hex(`00000001 00000002 0001 ${statusCount.toString(16).padStart(4, "0")} 00000001 ${chunksAndDeltas}`);
      const pad = (4 - (body.length % 4)) % 4;
      const packet = Buffer.concat([hex("8fcd0000"), body, Buffer.alloc(pad)]);
      packet.writeUInt16BE(packet.length / 4 - 1, 2);
      return rtcpPacketValid(packet, 0, packet.length);
    };
    expect(twcc("2003 0a0b0c", 3)).toBe(true); // run of 3 small deltas
    expect(twcc("2003 0a", 3)).toBe(false); // deltas missing
    expect(twcc("2000", 3)).toBe(false); // zero-length run
    expect(twcc("1fff", 8191)).toBe(true); // 8191 "not received": no deltas
    expect(twcc("", 5)).toBe(false);
  });

  it("werift's converter (patched) parses each packet from its own bytes and drops lying compounds whole", () => {
    const packets = RtcpPacketConverter.deSerialize(hex(rr + nack)) as { type: number }[];
    expect(packets.map((p) => p.type)).toEqual([201, 205]);
    const parsed = (packets[1] as RtcpTransportLayerFeedback).feedback as GenericNack;
    expect(parsed.lost).toEqual([16, 17, 18]);
    // A NACK first, then a packet: werift handed the NACK parser both and read the second as FCI.
    const first = RtcpPacketConverter.deSerialize(hex(nack + pli)) as RtcpTransportLayerFeedback[];
    expect((first[0]!.feedback as GenericNack).lost).toEqual([16, 17, 18]);
    expect(RtcpPacketConverter.deSerialize(hex(nack + "ffff"))).toEqual([]);
    expect(RtcpPacketConverter.deSerialize(hex("81c9"))).toEqual([]);
  });
});

describe("DTLS record filter", () => {
  const record = (type: number, epoch: number, fragment: Buffer) => {
    const h = Buffer.alloc(13);
    h[0] = type;
    h[1] = 0xfe;
    h[2] = 0xfd;
    h.writeUInt16BE(epoch, 3);
    h.writeUInt16BE(fragment.length, 11);
    return Buffer.concat([h, fragment]);
  };
  const context = (connected: boolean, authentic?: Buffer) => {
    const seen = { drops: 0, alerts: [] as [number, number][], authenticated: 0 };
    const ctx: DtlsFilterContext = {
      connected,
      authenticate: () => {
        seen.authenticated++;
        return authentic;
      },
      onAlert: (level, description) => seen.alerts.push([level, description]),
      onDrop: () => seen.drops++,
    };
    return { ctx, seen };
  };

  it("passes handshake traffic untouched", () => {
    const { ctx, seen } = context(false);
    const flight = Buffer.concat([record(22, 0, Buffer.alloc(30)), record(20, 0, Buffer.from([1])), record(22, 1, Buffer.alloc(40))]);
    expect(filterDtlsDatagram(flight, ctx)).toBe(flight);
    const plaintextAlert = record(21, 0, Buffer.from([2, 40])); // a handshake failure is reported in epoch 0
    expect(filterDtlsDatagram(plaintextAlert, ctx)).toBe(plaintextAlert);
    expect(seen.drops).toBe(0);
  });

  it("drops the 14-byte unknown-type record, epoch-0 records after the handshake, and truncated records", () => {
    const { ctx, seen } = context(true);
    expect(filterDtlsDatagram(record(24, 0, Buffer.from([0])), ctx)).toBeUndefined();
    expect(filterDtlsDatagram(record(63, 1, Buffer.alloc(3)), ctx)).toBeUndefined();
    expect(filterDtlsDatagram(record(21, 0, Buffer.from([1, 0])), ctx)).toBeUndefined();
    expect(filterDtlsDatagram(record(22, 0, Buffer.alloc(12)), ctx)).toBeUndefined();
    expect(filterDtlsDatagram(record(22, 1, Buffer.alloc(12)).subarray(0, 20), ctx)).toBeUndefined();
    expect(filterDtlsDatagram(Buffer.from([23, 0xfe]), ctx)).toBeUndefined();
    expect(seen.drops).toBe(6);
    const data = record(23, 1, Buffer.alloc(20));
    const mixed = Buffer.concat([record(24, 0, Buffer.from([0])), data]);
    expect(filterDtlsDatagram(mixed, ctx)).toEqual(data);
  });

  it("authenticates alerts of epoch > 0 itself: reports authentic ones, drops the rest, hands neither to werift", () => {
    const alert = record(21, 1, Buffer.alloc(26));
    const forged = context(true, undefined);
    expect(filterDtlsDatagram(alert, forged.ctx)).toBeUndefined();
    expect(forged.seen).toEqual({ drops: 1, alerts: [], authenticated: 1 });
    const real = context(true, Buffer.from([1, 0]));
    expect(filterDtlsDatagram(alert, real.ctx)).toBeUndefined();
    expect(real.seen).toEqual({ drops: 0, alerts: [[1, 0]], authenticated: 1 });
  });
});

describe("ICE data sources and RTCP routing", () => {
  it("takes data only from the nominated or a validated pair's address and socket; before nomination from a check-list pair", () => {
    const udp = {};
    const other = {};
    const pair = { protocol: udp, remoteAddr: ["10.0.0.2", 5000] as [string, number], state: 3 };
    const waiting = { protocol: udp, remoteAddr: ["10.0.0.3", 6000] as [string, number], state: 1 };
    const checking = { nominated: undefined, checkList: [pair, waiting], ensureProtocol: () => undefined };
    expect(acceptsDataFrom(checking, udp, ["10.0.0.2", 5000])).toBe(true);
    expect(acceptsDataFrom(checking, udp, ["10.0.0.3", 6000])).toBe(true);
    expect(acceptsDataFrom(checking, udp, ["10.0.0.2", 5001])).toBe(false);
    const validOther = { protocol: udp, remoteAddr: ["10.0.0.4", 7000] as [string, number], state: 3 };
    const nominated = { nominated: pair, checkList: [pair, waiting, validOther], ensureProtocol: () => undefined };
    expect(acceptsDataFrom(nominated, udp, ["10.0.0.2", 5000])).toBe(true);
    expect(acceptsDataFrom(nominated, udp, ["10.0.0.4", 7000])).toBe(true); // the peer may send on another valid pair
    expect(acceptsDataFrom(nominated, udp, ["10.0.0.3", 6000])).toBe(false); // a pair whose check has not succeeded
    expect(acceptsDataFrom(nominated, udp, ["10.0.0.9", 5000])).toBe(false);
    expect(acceptsDataFrom(nominated, other, ["10.0.0.2", 5000])).toBe(false);
    expect(isStunShaped(hex("00010000 2112a442 000000000000000000000000"))).toBe(true);
    expect(isStunShaped(hex("18fefd00 00000000 0000000001 00"))).toBe(false);
  });

  it("routes feedback by the media it is about (RFC 4585, RFC 5104), not by the sender SSRC", () => {
    const upstreamReceiver = { handleRtcpPacket: () => undefined };
    const subscriberSender = { handleRtcpPacket: () => undefined };
    const otherSender = { handleRtcpPacket: () => undefined };
    // A sendrecv client's PLI carries its own upload SSRC (owned here by the receiver of that upload).
    const table = { 111: upstreamReceiver, 222: subscriberSender, 333: otherSender };
    expect(rtcpRecipients(table, { type: 206, feedback: { count: 1, mediaSsrc: 222 } as never })).toEqual([subscriberSender]);
    expect(rtcpRecipients(table, { type: 206, feedback: { count: 1, mediaSsrc: 222, senderSsrc: 111 } as never })).toEqual([subscriberSender]);
    expect(rtcpRecipients(table, { type: 206, feedback: { count: 4, mediaSsrc: 0, fir: [{ ssrc: 333 }, { ssrc: 222 }, { ssrc: 333 }] } })).toEqual([otherSender, subscriberSender]);
    expect(rtcpRecipients(table, { type: 206, feedback: { count: 15, mediaSsrc: 0, ssrcFeedbacks: [222, 333] } })).toEqual([subscriberSender, otherSender]);
    expect(rtcpRecipients(table, { type: 205, feedback: { count: 1, mediaSourceSsrc: 333 } })).toEqual([otherSender]);
    expect(rtcpRecipients(table, { type: 200, ssrc: 111, reports: [{ ssrc: 222 }] })).toEqual([upstreamReceiver, subscriberSender]);
    expect(rtcpRecipients(table, { type: 201, reports: [{ ssrc: 333 }, { ssrc: 999 }] })).toEqual([otherSender]);
    expect(rtcpRecipients(table, { type: 206, feedback: { count: 1, mediaSsrc: 999 } })).toEqual([]);
  });
});
