import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  useAbsSendTime,
  useSdesMid,
  type RTCDataChannel,
} from "werift";
import WebSocket from "ws";
import { startDtlsClientImmediately } from "../../media-node/src/transport/werift-patches.js";

// Like libwebrtc-based Sora SDKs, send the ClientHello as soon as ICE connects (werift waits 100 ms).
startDtlsClientImmediately(true);

// A headless Sora client built on werift, speaking the same signaling as sora-js-sdk: used by
// protocol tests and the load tool. Sends synthetic RTP and counts what arrives per sender.

export interface WeriftClientOptions {
  url: string;
  channelId: string;
  role: "sendrecv" | "sendonly" | "recvonly";
  dataChannelSignaling?: boolean;
  ignoreDisconnectWebSocket?: boolean;
  signalingNotifyMetadata?: unknown;
  extra?: Record<string, unknown>;
  /**
   * Send this `connect` exactly (an SDK's message, test/fixtures/sdk-connect/) instead of building
   * one; like every SDK, `redirect: true` is added when it is re-sent after a redirect.
   */
  connectMessage?: Record<string, unknown>;
  /** The first answer waits for this (a test lines up a re-offer behind it). */
  answerAfter?: Promise<unknown>;
  /** Each re-answer waits this long after it is ready (a client slow to apply re-offers). */
  reAnswerDelayMs?: number;
}

export interface ReceivedStream {
  kind: string;
  packets: number;
  bytes: number;
  lastSeq: number;
}

export class WeriftSoraClient {
  ws!: WebSocket;
  pc!: RTCPeerConnection;
  connectionId = "";
  offer: Record<string, unknown> = {};
  readonly messages: Record<string, unknown>[] = [];
  /** WebSocket message types received and re-answers sent, in order. */
  readonly order: string[] = [];
  readonly received = new Map<string, ReceivedStream>(); // key: `${streamId}:${kind}`
  readonly dataChannels = new Map<string, RTCDataChannel>();
  readonly dataChannelMessages: { label: string; data: Buffer }[] = [];
  audioTrack?: MediaStreamTrack;
  videoTrack?: MediaStreamTrack;
  closeInfo?: { code: number; reason: string };
  private seq = { audio: 0, video: 0 };
  private timer?: NodeJS.Timeout;
  private reofferChain: Promise<void> = Promise.resolve();
  onPacket?: (streamKey: string, packet: RtpPacket) => void;
  /** ms from connect() to each step of the last connect (the load tool's connect breakdown). */
  readonly phases: { offer?: number; answer?: number; ice?: number; connected?: number } = {};

  constructor(readonly options: WeriftClientOptions) {}

  /** Resolves once the PeerConnection is connected (like sora-js-sdk's connect()). */
  async connect(timeoutMs = 15_000): Promise<void> {
    this.connectStartedAt = performance.now();
    await this.connectTo(this.options.url, false, timeoutMs);
    this.phases.connected = performance.now() - this.connectStartedAt;
  }

  private connectStartedAt = 0;

  /** Every signaling URL this client was sent to by `redirect` (sora-js-sdk follows them the same way). */
  readonly redirects: string[] = [];

  private async connectTo(url: string, redirected: boolean, timeoutMs: number): Promise<void> {
    const o = this.options;
    this.ws = new WebSocket(url);
    this.ws.on("close", (code, reason) => (this.closeInfo = { code, reason: reason.toString() }));
    await new Promise<void>((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
    const offerPromise = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.ws.on("message", (raw) => {
        const msg = JSON.parse(raw.toString()) as Record<string, unknown>;
        this.messages.push(msg);
        this.order.push(String(msg.type));
        if (msg.type === "offer") resolve(msg);
        else if (msg.type === "redirect") resolve(msg);
        else if (msg.type === "re-offer") this.queueReOffer(String(msg.sdp), (m) => this.send(m));
        else if (msg.type === "ping") {
          // Like the SDKs: answer stats when asked (a minimal RTCStatsReport-shaped list).
          const stats = [{ id: "PC", type: "peer-connection", timestamp: Date.now(), dataChannelsOpened: this.dataChannels.size }];
          this.send(msg.stats === true ? { type: "pong", stats } : { type: "pong" });
        }
      });
      this.ws.once("close", (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
    });
    const built = {
      type: "connect",
      role: o.role,
      channel_id: o.channelId,
      sora_client: "werift test client",
      environment: "node",
      audio: true,
      video: { codec_type: "VP8" },
      multistream: true,
      ...(o.dataChannelSignaling ? { data_channel_signaling: true, ignore_disconnect_websocket: o.ignoreDisconnectWebSocket ?? false } : {}),
      ...(o.signalingNotifyMetadata !== undefined ? { signaling_notify_metadata: o.signalingNotifyMetadata } : {}),
      ...o.extra,
    };
    this.send({ ...(o.connectMessage ?? built), ...(redirected ? { redirect: true } : {}) });
    const offer = await offerPromise;
    if (offer.type === "redirect") {
      const location = String(offer.location);
      this.redirects.push(location);
      if (this.redirects.length > 3) throw new Error("redirect loop");
      this.ws.removeAllListeners("close");
      this.ws.close();
      return this.connectTo(location, true, timeoutMs);
    }
    this.offer = offer;
    this.phases.offer = performance.now() - this.connectStartedAt;
    this.connectionId = String(offer.connection_id);
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceInterfaceAddresses: { udp4: "127.0.0.1" },
      iceAdditionalHostAddresses: ["127.0.0.1"],
      iceUseIpv6: false,
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111 })],
        video: [
          new RTCRtpCodecParameters({
            mimeType: "video/VP8",
            clockRate: 90000,
            payloadType: 96,
            rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }],
          }),
        ],
      },
      headerExtensions: { audio: [useSdesMid(), useAbsSendTime()], video: [useSdesMid(), useAbsSendTime()] },
    });
    this.pc.onDataChannel.subscribe((dc) => {
      this.dataChannels.set(dc.label, dc);
      dc.onMessage.subscribe((data) => {
 const text = typeof data === "string" ? data : data.toString();
        if (dc.label.startsWith("#") || dc.label === "rpc") this.dataChannelMessages.push({ label: dc.label, data: Buffer.from(data) });
        if (dc.label === "signaling" || dc.label === "notify" || dc.label === "push") {
          const msg = JSON.parse(text) as Record<string, unknown>;
          this.messages.push(msg);
          if (msg.type === "re-offer") this.queueReOffer(String(msg.sdp), (m) => dc.send(JSON.stringify(m)));
        }
      });
    });
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        const streamKey = this.streamKeyOf(track);
        let r = this.received.get(streamKey);
        if (!r) this.received.set(streamKey, (r = { kind: track.kind, packets: 0, bytes: 0, lastSeq: -1 }));
        r.packets++;
        r.bytes += rtp.payload.length;
        r.lastSeq = rtp.header.sequenceNumber;
        this.onPacket?.(streamKey, rtp);
      });
    });
    await this.pc.setRemoteDescription({ type: "offer", sdp: String(offer.sdp) });
    const mids = (offer.mid ?? {}) as { audio?: string; video?: string };
    for (const t of this.pc.getTransceivers()) {
      if (t.mid === mids.audio && o.role !== "recvonly") {
        this.audioTrack = new MediaStreamTrack({ kind: "audio" });
        t.setDirection("sendonly");
        await t.sender.replaceTrack(this.audioTrack);
      } else if (t.mid === mids.video && o.role !== "recvonly") {
        this.videoTrack = new MediaStreamTrack({ kind: "video" });
        t.setDirection("sendonly");
        await t.sender.replaceTrack(this.videoTrack);
      }
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    // Like the C++ SDK without trickle: the answer carries the gathered candidates.
    if (this.pc.iceGatheringState !== "complete") {
      await new Promise<void>((resolve) => {
        const { unSubscribe } = this.pc.iceGatheringStateChange.subscribe((s) => {
          if (s === "complete") {
            unSubscribe();
            resolve();
          }
        });
        // werift occasionally never reports "complete" under load; host candidates are there within ms.
        setTimeout(() => {
          unSubscribe();
          resolve();
        }, 1000).unref();
      });
    }
    await this.options.answerAfter;
    this.send({ type: "answer", sdp: this.pc.localDescription!.sdp });
    this.phases.answer = performance.now() - this.connectStartedAt;
    this.pc.iceConnectionStateChange.subscribe((state) => {
      if (state === "connected" && this.phases.ice === undefined) this.phases.ice = performance.now() - this.connectStartedAt;
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("connect timeout")), timeoutMs);
      const check = () => {
        if (this.pc.connectionState === "connected") {
          clearTimeout(t);
          resolve();
        }
      };
      this.pc.connectionStateChange.subscribe(check);
      check();
    });
  }

  private streamKeyOf(track: MediaStreamTrack): string {
    const t = this.pc.getTransceivers().find((x) => x.receiver.track === track || x.receiver.tracks.includes(track));
    const msid = t ? this.remoteMsid(t.mid) : undefined;
    return `${msid ?? "unknown"}:${track.kind}`;
  }

  private remoteMsid(mid: string | null): string | undefined {
    const sdp = this.pc.remoteDescription?.sdp ?? "";
    const sections = sdp.split(/\r?\nm=/);
    for (const s of sections) {
      if (s.includes(`a=mid:${mid}\r`) || s.includes(`a=mid:${mid}\n`)) {
        const m = /a=msid:(\S+)/.exec(s);
        return m?.[1];
      }
    }
    return undefined;
  }

  private queueReOffer(sdp: string, reply: (m: Record<string, unknown>) => void): void {
    this.reofferChain = this.reofferChain.then(async () => {
      await this.pc.setRemoteDescription({ type: "offer", sdp });
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      if (this.options.reAnswerDelayMs) await new Promise((r) => setTimeout(r, this.options.reAnswerDelayMs));
      this.order.push("re-answer sent");
      reply({ type: "re-answer", sdp: this.pc.localDescription!.sdp });
    }).catch((err: unknown) => {
      // A re-offer racing our own close is expected; anything else is a real failure.
      if (this.pc.connectionState !== "closed") throw err;
    });
  }

  send(message: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Synthetic media: `pps` video packets per second of `size` bytes plus 50 audio packets/s. */
  startMedia(pps = 100, size = 1000): void {
    const payload = Buffer.alloc(size, 0xab);
    const audioPayload = Buffer.alloc(80, 0xcd);
    const t0 = Date.now();
    let sentVideo = 0;
    let sentAudio = 0;
    this.timer = setInterval(() => {
      const elapsed = Date.now() - t0;
      while (this.videoTrack && sentVideo < (elapsed * pps) / 1000) {
        this.seq.video = (this.seq.video + 1) & 0xffff;
        const header = new RtpHeader({ payloadType: 96, sequenceNumber: this.seq.video, timestamp: (elapsed * 90) >>> 0, marker: true });
        this.videoTrack.writeRtp(new RtpPacket(header, payload));
        sentVideo++;
      }
      while (this.audioTrack && sentAudio < elapsed / 20) {
        this.seq.audio = (this.seq.audio + 1) & 0xffff;
        const header = new RtpHeader({ payloadType: 111, sequenceNumber: this.seq.audio, timestamp: (sentAudio * 960) >>> 0 });
        this.audioTrack.writeRtp(new RtpPacket(header, audioPayload));
        sentAudio++;
      }
    }, 10);
  }

  packetsFrom(connectionId: string, kind: "audio" | "video"): number {
    return this.received.get(`${connectionId}:${kind}`)?.packets ?? 0;
  }

  notifies(eventType?: string): Record<string, unknown>[] {
    return this.messages.filter((m) => m.type === "notify" && (!eventType || m.event_type === eventType));
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.send({ type: "disconnect", reason: "NO-ERROR" });
      this.ws.close();
    }
    await this.pc?.close().catch(() => undefined);
  }
}
