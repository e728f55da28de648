import { createSocket, type Socket } from "node:dgram";
import { isIP, isIPv6 } from "node:net";
import type { Logger } from "../logger.js";
import type { Connection } from "../sfu/connection.js";
import type { PacketSource } from "./packet-source.js";
import { FORWARD_AUDIO_PAYLOAD_TYPE, FORWARD_VIDEO_PAYLOAD_TYPE, forwardingSdp, type ForwardedTrack } from "./forwarding-sdp.js";
import { refuse, succeed, type EgressOutcome } from "./outcome.js";
import { ForwardedStream, RtpLeg } from "./rtp-leg.js";

// StartForwardingRtp / StopForwardingRtp: one connection's audio and video sent as plain RTP
// over UDP (one socket per forward) to ip:audio_port / ip:video_port.
//
// Whose media: the named connection_id; without one, the channel's first sender — the
// connected connection that joined earliest and publishes audio or video — chosen at start and
// kept (Sora forwards one connection's media, it does not mix). The forward is registered under
// (channel_id, connection_id as given), which is what StopForwardingRtp names; a second start
// under the same key, or towards a port another forward already feeds, is ALREADY-STARTED.
// It ends by itself when the forwarded connection leaves or the session ends.
//
// A stopped forward's RTP streams are remembered per destination (address, port) while their
// track lives: a later start that sends the same track there continues the same stream (SSRC,
// sequence numbers, timestamps; see rtp-leg.ts ForwardedStream), so a receiver that kept
// listening across StopForwardingRtp / StartForwardingRtp goes on decoding.

export interface ForwardingRequest {
  channel_id: string;
  connection_id?: string;
  ip_address: string;
  audio_port: number;
  video_port: number;
}

export interface ForwardingInfo extends ForwardingRequest {
  source_connection_id: string;
  audio_packets_sent: number;
  video_packets_sent: number;
  /** SSRC of each forwarded RTP stream (0: that kind is not forwarded). */
  audio_ssrc: number;
  video_ssrc: number;
}

class Forward {
  constructor(
    readonly request: ForwardingRequest,
    readonly source: Connection,
    readonly socket: Socket,
    readonly legs: RtpLeg[],
  ) {}

  get channelId(): string {
    return this.request.channel_id;
  }

  usesPort(address: string, port: number): boolean {
    return this.request.ip_address === address && (this.request.audio_port === port || this.request.video_port === port);
  }

  info(): ForwardingInfo {
    const leg = (kind: "audio" | "video") => this.legs.find((l) => l.publication.kind === kind);
    return {
      ...this.request,
      source_connection_id: this.source.id,
      audio_packets_sent: leg("audio")?.packetsSent ?? 0,
      video_packets_sent: leg("video")?.packetsSent ?? 0,
      audio_ssrc: leg("audio")?.stream.ssrc ?? 0,
      video_ssrc: leg("video")?.stream.ssrc ?? 0,
    };
  }

  close(): void {
    for (const leg of this.legs) leg.publication.removeTap(leg);
    this.socket.close();
  }
}

const keyOf = (channelId: string, connectionId: string | undefined) => `${channelId}\n${connectionId ?? ""}`;
const destinationOf = (address: string, port: number) => `${address}\n${port}`;
/** Stopped forwards' streams kept for a restart; the oldest go first beyond this. */
const MAX_STOPPED_STREAMS = 256;

export class RtpForwarding {
  private readonly forwards = new Map<string, Forward>();
  /** Destination → the stream last sent there by a forward that was stopped (insertion order = age). */
  private readonly stoppedStreams = new Map<string, ForwardedStream>();

  /** RTP forwarding legs sending now (one per forwarded track), for /metrics. */
  legCount(): number {
    let n = 0;
    for (const f of this.forwards.values()) n += f.legs.length;
    return n;
  }

  constructor(
    private readonly source: PacketSource,
    private readonly log: Logger,
  ) {
    source.listeners.push({
      connectionDestroyed: (conn) => {
        this.stopWhere((f) => f.source === conn, "forwarded connection left");
        this.forgetStreamsOf(conn);
      },
      sessionDestroyed: (channel) => this.stopWhere((f) => f.channelId === channel.channelId, "session ended"),
    });
  }

  start(request: ForwardingRequest): EgressOutcome<{ sdp: string }> {
    const { channel_id, connection_id, ip_address, audio_port, video_port } = request;
    if (isIP(ip_address) === 0) return refuse("INVALID-COMMAND", { ip_address });
    for (const port of [audio_port, video_port]) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) return refuse("INVALID-COMMAND", { port });
    }
    const channel = this.source.channels.get(channel_id);
    if (!channel) return refuse("CHANNEL-NOT-FOUND", { channel_id });
    const key = keyOf(channel_id, connection_id);
    if (this.forwards.has(key)) return refuse("ALREADY-STARTED", connection_id === undefined ? { channel_id } : { channel_id, connection_id });
    let source: Connection | undefined;
    if (connection_id !== undefined) {
      source = channel.connections.get(connection_id);
      if (!source?.connected) return refuse("CONNECTION-NOT-FOUND", { channel_id, connection_id });
      if (source.publications.length === 0) return refuse("NOT-A-SENDER", { channel_id, connection_id });
    } else {
      for (const c of channel.connections.values()) {
        if (c.connected && c.publications.length > 0) {
          source = c;
          break;
        }
      }
      if (!source) return refuse("NOT-A-SENDER", { channel_id, reason: "no connection of the channel sends media" });
    }
    for (const f of this.forwards.values()) {
      for (const port of [audio_port, video_port]) {
        if (f.usesPort(ip_address, port)) return refuse("ALREADY-STARTED", { ip_address, port });
      }
    }

    const socket = createSocket(isIPv6(ip_address) ? "udp6" : "udp4");
    let socketErrors = 0;
    socket.on("error", (err) => {
      // Logged once per forward: a send error repeats for every packet while the target is unreachable.
      if (socketErrors++ === 0) this.log.warn({ err, channel_id, ip_address }, "rtp forwarding socket error");
    });
    const legs: RtpLeg[] = [];
    const tracks: ForwardedTrack[] = [];
    for (const pub of source.publications) {
      const audio = pub.kind === "audio";
      const port = audio ? audio_port : video_port;
      const destination = destinationOf(ip_address, port);
      const stopped = this.stoppedStreams.get(destination);
      const stream = stopped?.publication === pub ? stopped : undefined;
      this.stoppedStreams.delete(destination);
      legs.push(new RtpLeg(pub, socket, ip_address, port, audio ? FORWARD_AUDIO_PAYLOAD_TYPE : FORWARD_VIDEO_PAYLOAD_TYPE, stream));
      tracks.push({ kind: pub.kind, port, codec: pub.codec });
    }
    // Audio m-line first, as Sora writes it.
    tracks.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "audio" ? -1 : 1));
    this.forwards.set(key, new Forward({ ...request }, source, socket, legs));
    for (const leg of legs) {
      leg.publication.addTap(leg);
      leg.start();
    }
    this.log.info({ channel_id, connection_id: source.id, ip_address, audio_port, video_port }, "rtp forwarding started");
    return succeed({ sdp: forwardingSdp(ip_address, tracks) });
  }

  stop(channelId: string, connectionId?: string): EgressOutcome<{ channel_id: string; connection_id?: string }> {
    const key = keyOf(channelId, connectionId);
    const forward = this.forwards.get(key);
    const echo = connectionId === undefined ? { channel_id: channelId } : { channel_id: channelId, connection_id: connectionId };
    if (!forward) {
      if (!this.source.channels.has(channelId)) return refuse("CHANNEL-NOT-FOUND", { channel_id: channelId });
      return refuse("NOT-STARTED", echo);
    }
    this.forwards.delete(key);
    forward.close();
    this.keepStreams(forward);
    this.log.info({ ...echo }, "rtp forwarding stopped");
    return succeed(echo);
  }

  /** Live forwards (tests, diagnostics). */
  list(channelId?: string): ForwardingInfo[] {
    return [...this.forwards.values()].filter((f) => channelId === undefined || f.channelId === channelId).map((f) => f.info());
  }

  /** Node shutdown: every forward's socket is released. */
  stopAll(): void {
    this.stopWhere(() => true, "node stopping");
    this.stoppedStreams.clear();
  }

  /** A stopped forward's streams, for a start that sends the same tracks to the same ports. */
  private keepStreams(forward: Forward): void {
    for (const leg of forward.legs) {
      const destination = destinationOf(forward.request.ip_address, leg.port);
      this.stoppedStreams.delete(destination);
      this.stoppedStreams.set(destination, leg.stream);
    }
    for (const destination of this.stoppedStreams.keys()) {
      if (this.stoppedStreams.size <= MAX_STOPPED_STREAMS) break;
      this.stoppedStreams.delete(destination);
    }
  }

  private forgetStreamsOf(conn: Connection): void {
    for (const [destination, stream] of this.stoppedStreams) {
      if (conn.publications.includes(stream.publication)) this.stoppedStreams.delete(destination);
    }
  }

  private stopWhere(match: (f: Forward) => boolean, reason: string): void {
    for (const [key, f] of this.forwards) {
      if (!match(f)) continue;
      this.forwards.delete(key);
      f.close();
      this.log.info({ channel_id: f.channelId, connection_id: f.source.id, reason }, "rtp forwarding stopped");
    }
  }
}
