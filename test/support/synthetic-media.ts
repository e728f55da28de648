import { RtpHeader, RtpPacket } from "werift";
import type { WeriftSoraClient } from "./werift-sora-client.js";

// Generated media and randomness for the node tests that need traffic but no real encoder.

/** A running synthetic media pump: stop() ends it, sent() counts the RTP packets written. */
export interface MediaPump {
  stop(): void;
  sent(): number;
}

/**
 * Video at 100 packets/s whose every packet reads as a VP8 keyframe (so the node never needs to
 * ask for one) and audio at 50/s, written through the client's werift tracks.
 */
export function pumpKeyframeMedia(c: WeriftSoraClient): MediaPump {
  const video = Buffer.alloc(600, 0xab);
  video[0] = 0x10; // VP8 descriptor: S=1, PID 0
  video[1] = 0x00; // VP8 header: P=0 (key frame)
  const audio = Buffer.alloc(80, 0xcd);
  let n = 0;
  let sent = 0;
  const timer = setInterval(() => {
    n++;
    c.videoTrack?.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: n & 0xffff, timestamp: n * 900, marker: true }), video));
    sent++;
    if (n % 2 === 0) {
      c.audioTrack?.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: (n / 2) & 0xffff, timestamp: n * 480 }), audio));
      sent++;
    }
  }, 10);
  return { stop: () => clearInterval(timer), sent: () => sent };
}

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
