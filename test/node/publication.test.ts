import { RtpHeader, RtpPacket, type RTCRtpReceiver } from "werift";
import { expect, it } from "vitest";
import { Publication, type PacketTap } from "../../media-node/src/sfu/publication.js";

// A publication's own hot-path state without a network: the per-layer packet cache NACKs are
// answered from, the keyframe-request throttle towards the sender, and its egress taps.

const packet = (seq: number, payload: number[]) => new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 3000, ssrc: 0xa0, payloadType: 96 }), Buffer.from(payload));
// VP8 descriptor without extensions (S=1, PID=0), then the VP8 header's P bit: 0 = keyframe.
const KEY = [0x10, 0x00, 0xaa];
const DELTA = [0x10, 0x01, 0xbb];

function withReceiver(pub: Publication): number[] {
  const plis: number[] = [];
  pub.attach({ sendRtcpPLI: async (ssrc: number) => void plis.push(ssrc) } as unknown as RTCRtpReceiver);
  return plis;
}

it("answers from its cache only the exact sequence number still held, across the 16-bit wrap", () => {
  const pub = new Publication("SENDER", "video", "VP8", 90000);
  for (let i = 0; i < 1100; i++) pub.onRtp(packet((65000 + i) & 0xffff, DELTA), 0);
  const layer = pub.layers[0]!;
  expect(layer.cached((65000 + 1099) & 0xffff)?.header.sequenceNumber).toBe((65000 + 1099) & 0xffff);
  expect(layer.cached(65535)?.header.sequenceNumber).toBe(65535);
  expect(layer.cached(65000)).toBeUndefined(); // overwritten by 65000 + 1024
  expect(layer.cached(2000)).toBeUndefined(); // never received
});

it("throttles keyframe requests per layer to one per 300 ms unless urgent, and asks nothing before the layer's SSRC is known", () => {
  const pub = new Publication("SENDER", "video", "VP8", 90000, true);
  const plis = withReceiver(pub);
  pub.requestKeyframe(1);
  expect(plis).toEqual([]); // r1 has sent nothing yet
  pub.onRtp(new RtpPacket(new RtpHeader({ sequenceNumber: 1, timestamp: 0, ssrc: 0xb1, payloadType: 96 }), Buffer.from(DELTA)), 1);
  pub.requestKeyframe(1);
  pub.requestKeyframe(1);
  expect(plis).toEqual([0xb1]);
  pub.requestKeyframe(1, true);
  expect(plis).toEqual([0xb1, 0xb1]);
  const audio = new Publication("SENDER", "audio", "OPUS", 48000);
  const audioPlis = withReceiver(audio);
  audio.onRtp(packet(1, [0xf8]), 0);
  audio.requestKeyframe(0, true);
  expect(audioPlis).toEqual([]);
});

it("hands every packet to its taps once each, with the keyframe flag detected once", () => {
  const pub = new Publication("SENDER", "video", "VP8", 90000);
  const seen: [number, boolean][] = [];
  const tap: PacketTap = { onPacket: (p, _layer, keyframe) => void seen.push([p.header.sequenceNumber, keyframe]) };
  pub.addTap(tap);
  pub.addTap(tap); // idempotent
  pub.onRtp(packet(1, KEY), 0);
  pub.onRtp(packet(2, DELTA), 0);
  pub.removeTap(tap);
  pub.onRtp(packet(3, KEY), 0);
  expect(seen).toEqual([
    [1, true],
    [2, false],
  ]);
  expect(pub.taps).toEqual([]);
});
