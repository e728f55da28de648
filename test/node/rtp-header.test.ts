import { describe, expect, it } from "vitest";
import { RtpHeader } from "werift";
import { absSendTime, writeRtpHeader } from "../../media-node/src/rtp/rtp-header.js";

// The fast path's header writer against werift's RtpHeader serializer (same bytes).

describe("writeRtpHeader", () => {
  for (const [midId, mid, astId] of [
    [1, "0", 3],
    [4, "12", 0],
    [0, "", 2],
    [0, "", 0],
    [9, "abcdefghijklmnop", 11],
  ] as const) {
    it(`matches werift (mid id ${midId} "${mid}", abs-send-time id ${astId})`, () => {
      const ast = 0x123456;
      const out = Buffer.alloc(64);
      const n = writeRtpHeader(out, 96, true, 65_535, 0xfedcba98, 0x11223344, midId, Buffer.from(mid), astId, ast);
      const extensions: { id: number; payload: Buffer }[] = [];
      if (midId) extensions.push({ id: midId, payload: Buffer.from(mid) });
      if (astId) extensions.push({ id: astId, payload: Buffer.from([0x12, 0x34, 0x56]) });
      const h = new RtpHeader({ payloadType: 96, marker: true, sequenceNumber: 65_535, timestamp: 0xfedcba98, ssrc: 0x11223344 });
      h.extensions = extensions;
      h.extension = extensions.length > 0;
      h.extensionProfile = 0xbede;
      expect(out.subarray(0, n).toString("hex")).toBe(h.serialize(h.serializeSize).toString("hex"));
    });
  }

  it("abs-send-time is the middle 24 bits of the NTP time (werift's ntpTime fraction is wrong, so not compared to it)", () => {
    for (const ms of [0, 1_234.5, 1_795_374_406_944, 1_795_374_470_000.25]) {
      const ntp = ((BigInt(Math.floor(ms / 1000)) + 2_208_988_800n) << 32n) + BigInt(Math.floor(((ms % 1000) / 1000) * 2 ** 32));
      const expected = Number((ntp >> 14n) & 0xffffffn);
      expect(Math.abs(absSendTime(ms) - expected)).toBeLessThanOrEqual(1);
    }
  });
});
