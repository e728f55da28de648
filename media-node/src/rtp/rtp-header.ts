// Writing RTP headers straight into an output buffer (no header objects on the hot path).
// The subscriber leg's extensions are rebuilt: MID (RFC 8843) and abs-send-time, one-byte form.

/** abs-send-time (6.18 fixed-point seconds, 24 bits) of a wall-clock time in ms. NTP and Unix epochs agree mod 64 s. */
export function absSendTime(nowMs: number): number {
  return Math.floor(nowMs * 262.144) & 0xffffff;
}

/**
 * Writes a 12-byte RTP header plus a one-byte-form extension block carrying MID (`midId` > 0)
 * and abs-send-time (`astId` > 0). Returns the header length (a multiple of 4).
 */
export function writeRtpHeader(
  out: Buffer,
  payloadType: number,
  marker: boolean,
  sequenceNumber: number,
  timestamp: number,
  ssrc: number,
  midId: number,
  mid: Buffer,
  astId: number,
  ast: number,
): number {
  const hasExtension = midId > 0 || astId > 0;
  out[0] = hasExtension ? 0x90 : 0x80;
  out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out[2] = (sequenceNumber >>> 8) & 0xff;
  out[3] = sequenceNumber & 0xff;
  out.writeUInt32BE(timestamp >>> 0, 4);
  out.writeUInt32BE(ssrc >>> 0, 8);
  if (!hasExtension) return 12;
  out[12] = 0xbe;
  out[13] = 0xde;
  let i = 16;
  if (midId > 0 && mid.length > 0) {
    out[i++] = (midId << 4) | (mid.length - 1);
    for (let k = 0; k < mid.length; k++) out[i++] = mid[k]!;
  }
  if (astId > 0) {
    out[i++] = (astId << 4) | 2;
    out[i++] = (ast >>> 16) & 0xff;
    out[i++] = (ast >>> 8) & 0xff;
    out[i++] = ast & 0xff;
  }
  while ((i & 3) !== 0) out[i++] = 0;
  out.writeUInt16BE((i - 16) >>> 2, 14);
  return i;
}
