// Validity checks for RTP and RTCP from the network, run before werift's parsers see a packet.
// werift 0.25.2 parses without bounds checks (see docs/ARCHITECTURE.md, "Hostile input"): an RTP
// extension length past the end walks a quarter-million phantom elements through an O(n²)
// array copy; an RTCP packet's parser is handed the rest of the compound packet instead of its
// own `length` words, so one NACK whose length lies grows its lost list from the packets after
// it. These checks are pure and allocate nothing.

/** More header-extension elements than any sender uses (RFC 8285 one-byte ids are 1..14). */
export const MAX_RTP_HEADER_EXTENSIONS = 32;

/**
 * Length of a well-formed RTP header in buf[0, length) — version 2, CSRCs and extension block
 * inside the packet, RFC 8285 elements inside their block and at most MAX_RTP_HEADER_EXTENSIONS
 * of them — or -1. Padding is not looked at (see rtpPaddingValid): on SRTP the last byte is
 * still encrypted when the header is parsed.
 */
export function rtpHeaderCheck(buf: Uint8Array, length: number): number {
  if (length < 12 || length > buf.length || buf[0]! >> 6 !== 2) return -1;
  let n = 12 + (buf[0]! & 0x0f) * 4;
  if ((buf[0]! & 0x10) === 0) return n > length ? -1 : n;
  if (n + 4 > length) return -1;
  const profile = (buf[n]! << 8) | buf[n + 1]!;
  const end = n + 4 + ((buf[n + 2]! << 8) | buf[n + 3]!) * 4;
  if (end > length) return -1;
  let i = n + 4;
  let elements = 0;
  if (profile === 0xbede) {
    // RFC 8285 §4.2: id 15 stops the parse; 0 bytes are padding.
    while (i < end) {
      const b = buf[i]!;
      if (b === 0) {
        i++;
        continue;
      }
      if (b >> 4 === 15) break;
      i += 1 + (b & 0x0f) + 1;
      if (i > end || ++elements > MAX_RTP_HEADER_EXTENSIONS) return -1;
    }
  } else if (profile === 0x1000) {
    // werift reads the two-byte form only for appbits 0 (profile 0x1000).
    while (i < end) {
      if (buf[i] === 0) {
        i++;
        continue;
      }
      if (i + 2 > end) return -1;
      i += 2 + buf[i + 1]!;
      if (i > end || ++elements > MAX_RTP_HEADER_EXTENSIONS) return -1;
    }
  }
  return end;
}

/** RFC 3550 §5.1: with P set, the last octet counts the padding (itself included) and may not reach into the header. */
export function rtpPaddingValid(buf: Uint8Array, length: number, headerLength: number): boolean {
  if ((buf[0]! & 0x20) === 0) return true;
  const padding = buf[length - 1]!;
  return padding >= 1 && headerLength + padding <= length;
}

/** Full check of a decrypted RTP packet: header length, or -1. */
export function rtpPacketCheck(buf: Uint8Array, length: number): number {
  const h = rtpHeaderCheck(buf, length);
  return h >= 0 && rtpPaddingValid(buf, length, h) ? h : -1;
}

/**
 * RFC 3550 §6.4 / appendix A.2: every packet of a compound is version 2 and its `length` words
 * end inside the datagram, and the last one ends exactly at its end. Returns the number of
 * packets, or -1 (the whole compound is discarded: its boundaries cannot be trusted).
 */
export function rtcpCompoundCount(buf: Uint8Array, length: number): number {
  let pos = 0;
  let count = 0;
  while (pos < length) {
    if (pos + 4 > length || buf[pos]! >> 6 !== 2) return -1;
    pos += 4 + ((buf[pos + 2]! << 8) | buf[pos + 3]!) * 4;
    count++;
  }
  return pos === length && count > 0 ? count : -1;
}

/**
 * Whether one RTCP packet buf[off, off + len) (a slice whose length already matches its header)
 * holds what werift's parser for its type will read: report blocks, feedback FCI, REMB SSRC list.
 * Types werift does not parse are accepted (werift skips them).
 */
export function rtcpPacketValid(buf: Uint8Array, off: number, len: number): boolean {
  const count = buf[off]! & 0x1f;
  const type = buf[off + 1]!;
  let body = len - 4;
  if (buf[off]! & 0x20) {
    const padding = buf[off + len - 1]!;
    if (padding < 1 || padding > body) return false;
    body -= padding;
  }
  const p = off + 4;
  switch (type) {
    case 200: // SR: sender SSRC, sender info, report blocks
      return body >= 24 + 24 * count;
    case 201: // RR: sender SSRC, report blocks
      return body >= 4 + 24 * count;
    case 205: // RTPFB
      if (body < 8) return false;
      if (count === 1) return (body - 8) % 4 === 0; // generic NACK: PID + BLP words
      if (count === 15) return transportCcValid(buf, p, body);
      return true;
    case 206: // PSFB
      if (body < 8) return false;
      if (count === 4) return body >= 16 && (body - 8) % 8 === 0; // FIR: SSRC + seq entries (RFC 5104 §4.3.1)
      if (count === 15) {
        // REMB (draft-alvestrand-rmcat-remb): "REMB", SSRC count, exponent/mantissa, SSRCs.
        if (body < 16 || buf[p + 8] !== 0x52 || buf[p + 9] !== 0x45 || buf[p + 10] !== 0x4d || buf[p + 11] !== 0x42) return false;
        return body === 16 + 4 * buf[p + 12]!;
      }
      return true;
    default:
      return true;
  }
}

/** RTCP transport-wide CC feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1) fits its packet: chunks cover the status count, deltas present. */
function transportCcValid(buf: Uint8Array, p: number, body: number): boolean {
  if (body < 16) return false;
  const statusCount = (buf[p + 10]! << 8) | buf[p + 11]!;
  const end = p + body;
  let i = p + 16;
  let covered = 0;
  let deltaBytes = 0;
  while (covered < statusCount) {
    if (i + 2 > end) return false;
    const chunk = (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
    if ((chunk & 0x8000) === 0) {
      const run = chunk & 0x1fff;
      if (run === 0) return false;
      const status = (chunk >> 13) & 3;
      const n = Math.min(run, statusCount - covered);
      if (status === 1) deltaBytes += n;
      else if (status === 2) deltaBytes += 2 * n;
      covered += run;
    } else if ((chunk & 0x4000) === 0) {
      for (let s = 0; s < 14; s++) if ((chunk >> (13 - s)) & 1) deltaBytes++;
      covered += 14;
    } else {
      for (let s = 0; s < 7; s++) {
        const status = (chunk >> (12 - 2 * s)) & 3;
        if (status === 1) deltaBytes++;
        else if (status === 2) deltaBytes += 2;
      }
      covered += 7;
    }
    if (i + deltaBytes > end) return false;
  }
  return true;
}
