import {
  MediaStream,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCDataChannel,
  type RTCRtpTransceiver,
  useAbsSendTime,
  useAudioLevelIndication,
  useRepairedRtpStreamId,
  useSdesMid,
  useSdesRTPStreamId,
} from "werift";
import type { VideoCodecName } from "../config.js";
import "../transport/werift-patches.js";
import { useIceSocketPlan, type IceSocketPlan } from "../transport/ice-sockets.js";
import { DEFAULT_OPUS_FMTP, OPUS_PAYLOAD_TYPE, withOpusFormat, type OpusFormat } from "./opus-format.js";

// The server side of one client's RTCPeerConnection. werift does ICE/DTLS/SRTP/SCTP/SDP;
// forwarding bypasses werift's sender path (see subscription.ts). The server is always the
// offerer: upstream m-lines first (the SDK's addTrack picks the first matching transceivers),
// then an application m-line when DataChannel signaling is on, then one m-line per forwarded track.

export type MediaKind = "audio" | "video";

// Fixed payload types so every leg of a channel agrees (no PT rewriting between legs).
const OPUS = () =>
  new RTCRtpCodecParameters({
    mimeType: "audio/opus",
    clockRate: 48000,
    channels: 2,
    payloadType: OPUS_PAYLOAD_TYPE,
    parameters: DEFAULT_OPUS_FMTP,
    rtcpFeedback: [],
  });

const VIDEO_FEEDBACK = [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }, { type: "goog-remb" }];

export const VIDEO_CODECS: Record<VideoCodecName, () => RTCRtpCodecParameters> = {
  VP9: () =>
    new RTCRtpCodecParameters({ mimeType: "video/VP9", clockRate: 90000, payloadType: 98, parameters: "profile-id=0", rtcpFeedback: VIDEO_FEEDBACK }),
  VP8: () => new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000, payloadType: 96, rtcpFeedback: VIDEO_FEEDBACK }),
  H264: () =>
    new RTCRtpCodecParameters({
      mimeType: "video/H264",
      clockRate: 90000,
      payloadType: 102,
      parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
      rtcpFeedback: VIDEO_FEEDBACK,
    }),
  AV1: () => new RTCRtpCodecParameters({ mimeType: "video/AV1", clockRate: 90000, payloadType: 45, rtcpFeedback: VIDEO_FEEDBACK }),
};

export interface PeerOptions {
  iceAddresses: string[];
  /** The node's ICE socket plan (shared UDP port, port range, announced address); unset = werift's gathering on iceAddresses. */
  iceSockets?: IceSocketPlan;
  upstreamAudio: boolean;
  upstreamVideo: boolean;
  videoCodec: VideoCodecName;
  simulcastRids?: string[];
  /** Opus fmtp of the upstream audio m-line (connect opus_params / bit_rate); others keep the defaults. */
  upstreamOpusFormat?: OpusFormat;
  dataChannels: DataChannelSpec[];
  /** ICE-lite (transport/ice-lite.ts, config iceLite); ignored for an answerer, which stays full ICE. */
  iceLite?: boolean;
  /** Answers offers instead of making them (the pulling side of a cluster relay leg): no anchor m-line. */
  answerer?: boolean;
}

export interface DataChannelSpec {
  label: string;
  ordered?: boolean;
  maxPacketLifeTime?: number;
  maxRetransmits?: number;
  protocol?: string;
}

export class Peer {
  readonly pc: RTCPeerConnection;
  upstreamAudio?: RTCRtpTransceiver;
  upstreamVideo?: RTCRtpTransceiver;
  readonly dataChannels = new Map<string, RTCDataChannel>();
  private closed = false;
  /** ICE-lite (transport/ice-lite.ts): offering PeerConnections only — two lite agents cannot connect, so a relay leg's answering side stays full ICE. */
  readonly iceLite: boolean;

  constructor(private readonly options: PeerOptions) {
    const codecNames = Object.keys(VIDEO_CODECS) as VideoCodecName[];
    this.iceLite = (options.iceLite ?? false) && !options.answerer;
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceLite: this.iceLite,
      bundlePolicy: "max-bundle",
      // werift leaves loopback out of its host addresses; bind and advertise exactly what is configured.
      iceInterfaceAddresses: options.iceAddresses.length > 0 ? { udp4: options.iceAddresses[0] } : undefined,
      iceAdditionalHostAddresses: options.iceAddresses.length > 0 ? [...options.iceAddresses] : undefined,
      iceUseIpv6: false,
      codecs: {
        audio: [OPUS()],
        // The client's own codec first so the upstream m-line is offered with it alone below.
        video: [options.videoCodec, ...codecNames.filter((c) => c !== options.videoCodec)].map((c) => VIDEO_CODECS[c]()),
      },
      headerExtensions: {
        audio: [useSdesMid(), useAbsSendTime(), useAudioLevelIndication()],
        video: [useSdesMid(), useAbsSendTime(), useSdesRTPStreamId(), useRepairedRtpStreamId()],
      },
    });
    // Before any transceiver: the ICE transport is created with the first one.
    if (options.iceSockets) useIceSocketPlan(this.pc, options.iceSockets);
    if (options.upstreamAudio) {
      this.upstreamAudio = this.pc.addTransceiver("audio", { direction: "recvonly" });
    }
    if (options.upstreamVideo) {
      this.upstreamVideo = this.pc.addTransceiver("video", {
        direction: "recvonly",
        simulcast: options.simulcastRids?.map((rid) => ({ rid, direction: "recv" as const })),
      });
      this.upstreamVideo.setCodecPreferences([VIDEO_CODECS[options.videoCodec]()]);
    }
    if (!options.answerer && !options.upstreamAudio && !options.upstreamVideo && options.dataChannels.length === 0) {
      // A receiver alone in its channel would get an offer without any m-line, and Chrome never
      // starts ICE for it (sora-js-sdk's connect() times out). An inactive audio m-line anchors
      // the transport until re-offers bring real tracks; it fires no `track` event.
      this.pc.addTransceiver("audio", { direction: "inactive" });
    }
    for (const spec of options.dataChannels) {
      const dc = this.pc.createDataChannel(spec.label, {
        ordered: spec.ordered ?? true,
        maxPacketLifeTime: spec.maxPacketLifeTime,
        maxRetransmits: spec.maxRetransmits,
        protocol: spec.protocol ?? "",
      });
      this.dataChannels.set(spec.label, dc);
    }
  }

  /** A sendonly m-line carrying one forwarded track; msid stream id = the sender's connection_id (the SDK's remote id). */
  addDownstream(kind: MediaKind, sourceConnectionId: string, codec: VideoCodecName | "OPUS"): RTCRtpTransceiver {
    const transceiver = this.pc.addTransceiver(kind, {
      direction: "sendonly",
      streams: [new MediaStream({ id: sourceConnectionId })],
    });
    if (kind === "video" && codec !== "OPUS") transceiver.setCodecPreferences([VIDEO_CODECS[codec]()]);
    return transceiver;
  }

  removeDownstream(transceiver: RTCRtpTransceiver): void {
    try {
      transceiver.stop();
    } catch {
      // Already stopped by a concurrent removal; nothing else to release.
    }
  }

  /** Creates an offer, applies it and waits for ICE gathering so the SDP carries every server candidate (servers never trickle). */
  async createOffer(): Promise<string> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await this.waitGatheringComplete();
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new Error("no local description");
    return this.withUpstreamOpusFormat(this.withSessionIceLite(this.keepConfiguredCandidates(sdp)));
  }

  /**
   * werift writes `a=ice-lite` in each media section only; RFC 8839 §5.3 puts it at session level,
   * where libwebrtc reads it (its media-level copy is ignored there). Added after the `t=` line.
   */
  private withSessionIceLite(sdp: string): string {
    if (!this.iceLite) return sdp;
    const t = sdp.indexOf("\r\nt=");
    if (t < 0) return sdp;
    const end = sdp.indexOf("\r\n", t + 2);
    if (end < 0) return sdp;
    return sdp.slice(0, end) + "\r\na=ice-lite" + sdp.slice(end);
  }

  /**
   * werift writes one Opus fmtp for the whole PeerConnection; the sender's own m-line gets its
   * connect's format in the text sent (the fmtp only instructs the client's encoder; what
   * werift receives does not depend on it).
   */
  private withUpstreamOpusFormat(sdp: string): string {
    const format = this.options.upstreamOpusFormat;
    const mid = this.upstreamAudio?.mid;
    if (!format || mid == null || (format.fmtp === DEFAULT_OPUS_FMTP && format.ptime === undefined)) return sdp;
    return withOpusFormat(sdp, mid, format);
  }

  /** werift also advertises the machine's other interfaces (on sockets bound to the configured address): drop those. */
  private keepConfiguredCandidates(sdp: string): string {
    const allowed = this.options.iceSockets ? [this.options.iceSockets.announcedAddress] : this.options.iceAddresses;
    if (allowed.length === 0) return sdp;
    return sdp
      .split("\r\n")
      .filter((line) => {
        if (!line.startsWith("a=candidate:")) return true;
        const address = line.split(" ")[4];
        return address !== undefined && allowed.includes(address);
      })
      .join("\r\n");
  }

  /** The answering side (cluster relay pull): applies the offer and answers with every local candidate (no trickle). */
  async answer(offerSdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: "offer", sdp: offerSdp });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    await this.waitGatheringComplete();
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new Error("no local description");
    return this.keepConfiguredCandidates(sdp);
  }

  async setAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  async addIceCandidate(candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): Promise<void> {
    if (!candidate.candidate) return;
    await this.pc.addIceCandidate({
      candidate: candidate.candidate,
      sdpMid: candidate.sdpMid ?? undefined,
      sdpMLineIndex: candidate.sdpMLineIndex ?? 0,
    });
  }

  get mids(): { audio?: string; video?: string } {
    const mids: { audio?: string; video?: string } = {};
    if (this.upstreamAudio?.mid != null) mids.audio = this.upstreamAudio.mid;
    if (this.upstreamVideo?.mid != null) mids.video = this.upstreamVideo.mid;
    return mids;
  }

  private waitGatheringComplete(): Promise<void> {
    if (this.pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const { unSubscribe } = this.pc.iceGatheringStateChange.subscribe((state) => {
        if (state === "complete") {
          unSubscribe();
          resolve();
        }
      });
      // Host-only gathering finishes in milliseconds; never hang an offer on it.
      setTimeout(() => {
        unSubscribe();
        resolve();
      }, 3000).unref();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const dc of this.dataChannels.values()) {
      try {
        dc.close();
      } catch {
        // The SCTP association may already be gone.
      }
    }
    await this.pc.close().catch(() => undefined);
  }
}
