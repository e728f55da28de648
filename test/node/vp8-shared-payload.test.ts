import { RtpHeader, RtpPacket, type RTCRtpTransceiver } from "werift";
import { afterEach, describe, expect, it } from "vitest";
import { SrtpContext, rtpHeaderLength } from "../../media-node/src/rtp/srtp.js";
import { Publication } from "../../media-node/src/sfu/publication.js";
import { Subscription } from "../../media-node/src/sfu/subscription.js";
import { RtpEgress, configureFastPath } from "../../media-node/src/transport/rtp-egress.js";

// A received VP8 payload is shared by every subscriber of the track and by the publication's
// NACK cache. Two subscribers whose picture ids run at different offsets (one was paused, so it
// continues its own count) each get their own rewrite, and the shared payload keeps the
// sender's picture ids: on the fast path (header + copied payload in a send buffer, SRTP in
// place, to the socket) and on werift's sendRtp fallback. No network: the DTLS transport is a
// stand-in that is "connected" with fixed SRTP keys, its socket a recorder.

const KEYS = {
  localMasterKey: Buffer.alloc(16, 1),
  localMasterSalt: Buffer.alloc(14, 2),
  remoteMasterKey: Buffer.alloc(16, 3),
  remoteMasterSalt: Buffer.alloc(14, 4),
};
const noEvent = { subscribe: () => ({ unSubscribe: () => undefined }) };

/** VP8 payload: descriptor with X, I (15-bit picture id); then the VP8 header byte (bit 0 clear = keyframe). */
function vp8(pictureId: number, key: boolean): Buffer {
  return Buffer.from([0x90, 0x80, 0x80 | (pictureId >> 8), pictureId & 0xff, key ? 0x00 : 0x01, 0x9d, 0x01, 0x2a]);
}
const pictureIdOf = (payload: Buffer) => ((payload[2]! & 0x7f) << 8) | payload[3]!;

/** A subscriber leg whose transport records what it is given, as (ssrc, payload) after decryption. */
/** The packet being fanned out now, and its picture id as the sender sent it. */
const current: { payload: Buffer; pictureId: number } = { payload: Buffer.alloc(0), pictureId: 0 };
/** While any leg sends, the shared payload must hold the sender's picture id (an in-place rewrite undone later would show here). */
const sharedUntouched = () => expect(pictureIdOf(current.payload)).toBe(current.pictureId);

function subscriber(pub: Publication, ssrc: number, sent: { ssrc: number; payload: Buffer }[]) {
  const srtp = new SrtpContext(KEYS.localMasterKey, KEYS.localMasterSalt);
  const socket = {
    send: (buf: Buffer) => {
      sharedUntouched();
      const copy = Buffer.from(buf);
      const length = srtp.unprotectRtp(copy);
      expect(length).toBeGreaterThan(0);
      sent.push({ ssrc: copy.readUInt32BE(8), payload: copy.subarray(rtpHeaderLength(copy, length), length) });
    },
  };
  const dtls = {
    state: "connected",
    srtpStarted: true,
    srtp: { config: { profile: 1, keys: KEYS } },
    iceTransport: { connection: { state: "connected", nominated: { protocol: { transport: { closed: false, socket } }, remoteAddr: ["127.0.0.1", 9] } } },
    // werift's path (fast path off): the header object and the payload it would serialize.
    sendRtp: async (payload: Buffer, header: RtpHeader) => {
      sharedUntouched();
      expect(payload).not.toBe(current.payload); // a copy carries the rewrite
      sent.push({ ssrc: header.ssrc, payload: Buffer.from(payload) });
    },
  };
  const transceiver = {
    mid: "1",
    headerExtensions: [],
    sender: { codec: { payloadType: 96 }, ssrc, onGenericNack: noEvent, onPictureLossIndication: noEvent, onRtcp: noEvent, dtlsTransport: dtls },
  } as unknown as RTCRtpTransceiver;
  const sub = new Subscription(pub, transceiver, `RECV${ssrc}`, new RtpEgress());
  sub.refreshNegotiated();
  pub.addSubscription(sub);
  return sub;
}

afterEach(() => configureFastPath(false));

describe.each([
  ["fast path", true],
  ["werift sendRtp fallback", false],
])("VP8 picture id rewrite (%s)", (_name, fast) => {
  it("rewrites each subscriber's copy and never the shared payload", () => {
    configureFastPath(fast);
    const pub = new Publication("SENDER", "video", "VP8", 90000);
    const sent: { ssrc: number; payload: Buffer }[] = [];
    subscriber(pub, 111, sent);
    const b = subscriber(pub, 222, sent);
    const received: Buffer[] = [];
    const send = (seq: number, pictureId: number, key: boolean) => {
      const payload = vp8(pictureId, key);
      received.push(payload);
      current.payload = payload;
      current.pictureId = pictureId;
      pub.onRtp(new RtpPacket(new RtpHeader({ payloadType: 96, ssrc: 5, sequenceNumber: seq, timestamp: seq * 3000 }), payload), 0);
    };
    send(1, 1000, true);
    send(2, 1001, false);
    b.setPaused(true);
    for (let i = 3; i < 10; i++) send(i, 998 + i, false); // b misses picture ids 1001..1007
    b.setPaused(false); // b continues its own count at 1002
    send(10, 1008, true);
    send(11, 1009, false);

    const pids = (ssrc: number) => sent.filter((s) => s.ssrc === ssrc).map((s) => pictureIdOf(s.payload));
    expect(pids(111)).toEqual([1000, 1001, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009]);
    expect(pids(222)).toEqual([1000, 1001, 1002, 1003]);
    // The payloads the sender sent, as held by the publication's NACK cache, are unchanged.
    expect(received.map(pictureIdOf)).toEqual([1000, 1001, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009]);
    expect(pub.layers[0]!.cached(10)!.payload).toBe(received[9]);
    expect(pictureIdOf(pub.layers[0]!.cached(10)!.payload)).toBe(1008);
  });
});
