import type { VideoCodecName } from "../config.js";

// Does this RTP payload start a keyframe? Layer switches (simulcast, resume after pause) may
// only happen on one, or the subscriber's decoder sees a picture it has no reference for.
// Reads a few bytes of the payload descriptor; no allocation.

/** VP8 (RFC 7741): start of partition 0 and the P (inter-frame) bit of the VP8 header clear. */
export function isVp8Keyframe(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const b0 = p[0]!;
  if ((b0 & 0x10) === 0 || (b0 & 0x07) !== 0) return false; // S=1 and PID=0
  let i = 1;
  if (b0 & 0x80) {
    if (p.length < 2) return false;
    const x = p[1]!;
    i = 2;
    if (x & 0x80) i += p.length > i && p[i]! & 0x80 ? 2 : 1; // picture id (7 or 15 bits)
    if (x & 0x40) i += 1; // TL0PICIDX
    if (x & 0x30) i += 1; // TID/Y/KEYIDX
  }
  return p.length > i && (p[i]! & 0x01) === 0;
}

/** VP9 (RFC 9628): beginning of a frame that is not inter-predicted, in spatial layer 0. */
export function isVp9Keyframe(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const b0 = p[0]!;
  if ((b0 & 0x40) !== 0 || (b0 & 0x08) === 0) return false; // P=0, B=1
  if ((b0 & 0x20) === 0) return true; // no layer indices: a single spatial layer
  let i = 1;
  if (b0 & 0x80) i += p.length > i && p[i]! & 0x80 ? 2 : 1;
  return p.length > i && (p[i]! & 0x0e) === 0; // SID = 0
}

const H264_IDR = 5;
const H264_SPS = 7;

/** H.264 (RFC 6184): an IDR or SPS NAL unit, alone, aggregated in STAP-A, or starting a FU-A. */
export function isH264Keyframe(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const type = p[0]! & 0x1f;
  if (type === H264_IDR || type === H264_SPS) return true;
  if (type === 24) {
    for (let i = 1; i + 2 < p.length; ) {
      const size = (p[i]! << 8) | p[i + 1]!;
      const nal = p[i + 2]! & 0x1f;
      if (nal === H264_IDR || nal === H264_SPS) return true;
      i += 2 + size;
    }
    return false;
  }
  if (type === 28 && p.length > 1) {
    const fu = p[1]!;
    const nal = fu & 0x1f;
    return (fu & 0x80) !== 0 && (nal === H264_IDR || nal === H264_SPS);
  }
  return false;
}

/** AV1 (RTP payload format §4.4): the N bit marks the first packet of a coded video sequence. */
export function isAv1Keyframe(p: Uint8Array): boolean {
  return p.length > 0 && (p[0]! & 0x08) !== 0;
}

export function keyframeDetector(codec: VideoCodecName): (payload: Uint8Array) => boolean {
  switch (codec) {
    case "VP8":
      return isVp8Keyframe;
    case "VP9":
      return isVp9Keyframe;
    case "H264":
      return isH264Keyframe;
    case "AV1":
      return isAv1Keyframe;
  }
}
