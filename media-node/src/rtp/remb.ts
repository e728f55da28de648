// REMB (draft-alvestrand-rmcat-remb): the receiver's estimate of what a sender may send. With
// goog-remb negotiated and no transport-cc, Chrome's send-side estimator caps itself at this
// value, so without it a publisher stays near its 300 kbps start rate and drops simulcast
// layers. Built into a caller-owned buffer; no allocation per report.

const REMB_FIXED_BYTES = 20;

/** Bytes a REMB for `ssrcCount` media SSRCs needs. */
export function rembSize(ssrcCount: number): number {
  return REMB_FIXED_BYTES + 4 * ssrcCount;
}

/** Writes a REMB into `out` (at least rembSize bytes) and returns its length. */
export function writeRemb(out: Buffer, senderSsrc: number, bitrateBps: number, mediaSsrcs: readonly number[]): number {
  const length = rembSize(mediaSsrcs.length);
  out[0] = 0x80 | 15; // V=2, FMT=15 (application layer feedback)
  out[1] = 206; // PSFB
  out.writeUInt16BE(length / 4 - 1, 2);
  out.writeUInt32BE(senderSsrc >>> 0, 4);
  out.writeUInt32BE(0, 8); // media source SSRC: unused for REMB
  out.write("REMB", 12, "ascii");
  // bitrate = mantissa (18 bits) * 2^exp (6 bits)
  let mantissa = Math.max(0, Math.floor(bitrateBps));
  let exp = 0;
  while (mantissa > 0x3ffff) {
    mantissa = Math.floor(mantissa / 2);
    exp++;
  }
  out[16] = mediaSsrcs.length;
  out[17] = (exp << 2) | (mantissa >>> 16);
  out[18] = (mantissa >>> 8) & 0xff;
  out[19] = mantissa & 0xff;
  for (let i = 0; i < mediaSsrcs.length; i++) out.writeUInt32BE(mediaSsrcs[i]! >>> 0, 20 + 4 * i);
  return length;
}

/** Reads back the bitrate of a REMB (tests, and subscribers' REMBs). Undefined if `p` is not a REMB. */
export function readRembBitrate(p: Buffer): number | undefined {
  if (p.length < REMB_FIXED_BYTES || p[1] !== 206 || (p[0]! & 0x1f) !== 15 || p.toString("ascii", 12, 16) !== "REMB") return undefined;
  const exp = p[17]! >>> 2;
  const mantissa = ((p[17]! & 0x03) << 16) | (p[18]! << 8) | p[19]!;
  return mantissa * 2 ** exp;
}
