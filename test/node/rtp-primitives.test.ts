import { expect, it } from "vitest";
import { isAv1Keyframe, isH264Keyframe, isVp8Keyframe, isVp9Keyframe } from "../../media-node/src/rtp/keyframe.js";
import { readRembBitrate, rembSize, writeRemb } from "../../media-node/src/rtp/remb.js";
import { SequenceRebaser } from "../../media-node/src/rtp/sequence-rebaser.js";
import { Vp8Munger } from "../../media-node/src/rtp/vp8-munger.js";
import { Spotlight, AudioActivity } from "../../media-node/src/sfu/spotlight.js";

// The media path's small pure pieces: keyframe detection per codec, VP8 picture id continuity
// across layer switches, REMB encoding, and the spotlight's focus decisions.

/** VP8 payload: descriptor with X, I (15-bit picture id), L (TL0PICIDX); then the VP8 header byte. */
function vp8(pictureId: number, tl0: number, opts: { start?: boolean; key?: boolean } = {}): Buffer {
  const b0 = 0x80 | (opts.start === false ? 0 : 0x10);
  return Buffer.from([b0, 0xc0, 0x80 | (pictureId >> 8), pictureId & 0xff, tl0, opts.key ? 0x00 : 0x01, 0x9d, 0x01, 0x2a]);
}

it("detects VP8 keyframes only at the start of partition 0 with the P bit clear", () => {
  expect(isVp8Keyframe(vp8(10, 1, { key: true }))).toBe(true);
  expect(isVp8Keyframe(vp8(10, 1, { key: false }))).toBe(false);
  expect(isVp8Keyframe(vp8(10, 1, { key: true, start: false }))).toBe(false);
  expect(isVp8Keyframe(Buffer.from([0x10, 0x00]))).toBe(true); // no extension byte
  expect(isVp8Keyframe(Buffer.alloc(0))).toBe(false);
});

it("detects VP9, H.264 and AV1 keyframes", () => {
  expect(isVp9Keyframe(Buffer.from([0x08]))).toBe(true); // B=1, P=0
  expect(isVp9Keyframe(Buffer.from([0x48]))).toBe(false); // inter-predicted
  expect(isVp9Keyframe(Buffer.from([0x00]))).toBe(false); // not the start of a frame
  expect(isVp9Keyframe(Buffer.from([0xa8, 0x05, 0x02]))).toBe(false); // L set, SID = 1
  expect(isH264Keyframe(Buffer.from([0x65]))).toBe(true); // IDR
  expect(isH264Keyframe(Buffer.from([0x41]))).toBe(false); // non-IDR slice
  expect(isH264Keyframe(Buffer.from([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce]))).toBe(true); // STAP-A with SPS
  expect(isH264Keyframe(Buffer.from([0x7c, 0x85]))).toBe(true); // FU-A start of an IDR
  expect(isH264Keyframe(Buffer.from([0x7c, 0x05]))).toBe(false); // FU-A continuation
  expect(isAv1Keyframe(Buffer.from([0x18]))).toBe(true);
  expect(isAv1Keyframe(Buffer.from([0x10]))).toBe(false);
});

it("keeps VP8 picture id and TL0PICIDX continuous across a layer switch, writing only the outgoing copy", () => {
  const m = new Vp8Munger();
  const read = (p: Buffer) => ({ pid: ((p[2]! & 0x7f) << 8) | p[3]!, tl0: p[4]! });
  const seen: { pid: number; tl0: number }[] = [];
  const send = (p: Buffer) => {
    const out = Buffer.concat([Buffer.alloc(12), p]); // header room, then the payload copied after it
    m.apply(out, 12, out.length);
    seen.push(read(out.subarray(12)));
  };
  for (const [pid, tl0] of [[100, 7], [101, 8]] as const) {
    const p = vp8(pid, tl0);
    send(p);
    expect(read(p)).toEqual({ pid, tl0 }); // the shared payload is never written
  }
  m.rebase(); // switch to a layer whose counters are elsewhere
  for (const [pid, tl0] of [[30000, 200], [30001, 201]] as const) {
    const p = vp8(pid, tl0, { key: pid === 30000 });
    send(p);
    expect(read(p)).toEqual({ pid, tl0 });
  }
  expect(seen).toEqual([
    { pid: 100, tl0: 7 },
    { pid: 101, tl0: 8 },
    { pid: 102, tl0: 9 },
    { pid: 103, tl0: 10 },
  ]);
});

it("writes REMB with exponent and mantissa that Chrome reads back", () => {
  const buf = Buffer.alloc(rembSize(2));
  const length = writeRemb(buf, 0x11223344, 2_500_000, [0xaaaa, 0xbbbb]);
  expect(length).toBe(28);
  expect(buf.readUInt16BE(2)).toBe(length / 4 - 1);
  expect(buf[16]).toBe(2);
  const bitrate = readRembBitrate(buf)!;
  expect(bitrate).toBeLessThanOrEqual(2_500_000);
  expect(bitrate).toBeGreaterThan(2_500_000 * 0.9999);
  expect(buf.readUInt32BE(24)).toBe(0xbbbb);
});

it("spotlight: fills slots by join order, gives a silent slot to a new speaker, keeps speaking ones", () => {
  const spotlight = new Spotlight(2);
  const activity = (loudness: number) => Object.assign(new AudioActivity(), { loudness });
  const senders = [
    { id: "a", activity: activity(0) },
    { id: "b", activity: activity(0) },
    { id: "c", activity: activity(0) },
  ];
  expect(spotlight.evaluate(senders).map((c) => c.focused)).toEqual(["a", "b"]);
  expect(spotlight.evaluate(senders)).toEqual([]); // stable
  senders[1]!.activity = activity(30); // b speaks
  senders[2]!.activity = activity(20); // c speaks; a is silent: c takes a's slot
  const change = spotlight.evaluate(senders);
  expect(change).toHaveLength(1);
  expect(change[0]).toMatchObject({ focused: "c", unfocused: "a" });
  expect(spotlight.focused().sort()).toEqual(["b", "c"]);
  senders[0]!.activity = activity(50); // a speaks loudly, but both focused are speaking: no flap
  expect(spotlight.evaluate(senders)).toEqual([]);
  expect(spotlight.evaluate([senders[0]!, senders[2]!]).map((c) => c.focused)).toEqual(["a"]); // b left
});

it("continues one outgoing sequence/timestamp space across source changes, timestamps advanced by wall-clock time", () => {
  const r = new SequenceRebaser(65534, 0xfffffff0);
  const sent: [number, number][] = [];
  const map = (seq: number, ts: number, nowMs: number) => {
    r.map(seq, ts, 90_000, nowMs);
    sent.push([r.outSeq, r.outTs]);
  };
  map(1000, 5000, 1_000); // first packet continues right after the initial values (across the 16/32-bit wrap)
  map(1001, 8000, 1_033);
  expect(sent).toEqual([
    [65535, 0xfffffff1],
    [0, (0xfffffff1 + 3000) >>> 0],
  ]);
  map(999, 2000, 1_040); // reordered: mapped with the same offsets, does not move the continuation point
  expect(sent[2]).toEqual([65534, (0xfffffff1 - 3000) >>> 0]);
  r.restart(); // another layer, unrelated numbering: next seq, ts + 100 ms of 90 kHz
  map(40_000, 123_456, 1_133);
  expect(sent[3]).toEqual([1, (0xfffffff1 + 3000 + 9000) >>> 0]);
  map(40_001, 126_456, 1_166);
  expect(sent[4]).toEqual([2, (0xfffffff1 + 3000 + 9000 + 3000) >>> 0]);
  // Restarted twice in the same millisecond: the timestamp still moves forward (by 1).
  r.restart();
  map(7, 7, 1_166);
  expect(sent[5]).toEqual([3, (0xfffffff1 + 3000 + 9000 + 3000 + 1) >>> 0]);
});

it("starts a fresh space at sequence 0", () => {
  const r = new SequenceRebaser();
  r.map(31_337, 42, 48_000, 500);
  expect([r.outSeq, r.outTs]).toEqual([0, 1]);
});

it("resizes the spotlight: dropped slots unfocus their senders now, new slots fill at the next round", () => {
  const spotlight = new Spotlight(3);
  const senders = ["a", "b", "c", "d"].map((id) => ({ id, activity: new AudioActivity() }));
  expect(spotlight.evaluate(senders).map((c) => c.focused)).toEqual(["a", "b", "c"]);
  const ids = spotlight.evaluate([]).map((c) => c.spotlightId); // everyone left: three slot ids
  expect(spotlight.evaluate(senders)).toHaveLength(3);
  const dropped = spotlight.resize(1);
  expect(dropped).toEqual([
    { slot: 2, spotlightId: ids[2], unfocused: "c" },
    { slot: 1, spotlightId: ids[1], unfocused: "b" },
  ]);
  expect(spotlight.number).toBe(1);
  expect(spotlight.focused()).toEqual(["a"]);
  expect(spotlight.evaluate(senders)).toEqual([]);
  expect(spotlight.resize(2)).toEqual([]);
  const filled = spotlight.evaluate(senders);
  expect(filled).toEqual([{ slot: 1, spotlightId: expect.any(String), focused: "b", unfocused: undefined }]);
  expect(filled[0]!.spotlightId).not.toBe(ids[1]);
  expect(spotlight.focused()).toEqual(["a", "b"]);
});
