import { RtpPacket, type RTCRtpReceiver } from "werift";
import { FastTransport } from "./fast-transport.js";
import { fastPathEnabled } from "./rtp-egress.js";

// The receive side of the fast path for one publication. The first packet of each SSRC arrives
// through werift (which maps rid/MID to the track and layer); from then on the SSRC is claimed
// on the FastTransport: its packets are authenticated/decrypted in place by our SRTP context
// and parsed once (werift's RtpPacket, so Publication and its subscribers see the same type),
// skipping werift's second parse, clones, Event chains and per-packet async work. werift's
// receiver still gets what it needs for RTCP: its per-SSRC statistics (receiver reports) and,
// for video, its NACK generator.

interface ReceiverInternals {
  remoteStreams?: Record<number, { add(packet: RtpPacket): void } | undefined>;
  nack?: { addPacket(packet: RtpPacket): void };
  nackEnabled?: boolean;
  track?: { kind: string };
  dtlsTransport: RTCRtpReceiver["dtlsTransport"];
}

export class RtpIngress {
  private readonly claimed = new Set<number>();
  private fast?: FastTransport;

  constructor(private readonly deliver: (packet: RtpPacket, layer: number) => void) {}

  /** Called for every packet reaching the publication; takes werift-delivered SSRCs over. */
  seen(receiver: RTCRtpReceiver | undefined, ssrc: number, layer: number): void {
    if (receiver === undefined || this.claimed.has(ssrc) || !fastPathEnabled()) return;
    const r = receiver as unknown as ReceiverInternals;
    const fast = FastTransport.of(r.dtlsTransport);
    if (fast === undefined) return;
    const stats = r.remoteStreams?.[ssrc];
    const nack = r.nackEnabled && r.track?.kind === "video" ? r.nack : undefined;
    const deliver = this.deliver;
    const ok = fast.claim(ssrc, (buf, length) => {
      const packet = RtpPacket.deSerialize(buf.subarray(0, length));
      if (stats !== undefined) stats.add(packet);
      if (nack !== undefined) nack.addPacket(packet);
      deliver(packet, layer);
    });
    if (!ok) return;
    this.claimed.add(ssrc);
    this.fast = fast;
  }

  /** The publication closed: its SSRCs go back to werift (FastTransport.release). */
  release(): void {
    const fast = this.fast;
    if (fast !== undefined) for (const ssrc of this.claimed) fast.release(ssrc);
    this.claimed.clear();
    this.fast = undefined;
  }
}
