import { connect, type ClientHttp2Session } from "node:http2";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { Channel } from "../sfu/channel.js";
import type { Connection } from "../sfu/connection.js";
import type { PacketSource } from "./packet-source.js";
import { AudioStream } from "./audio-stream.js";
import { refuse, succeed, type EgressOutcome } from "./outcome.js";

// Sora's audio streaming (StartAudioStreaming / StopAudioStreaming, session-scoped): while on,
// every eligible connection of the channel — role sendrecv/sendonly, publishing audio, with an
// `audio_streaming_language_code` on its connect (required, as Sora does; sora-js-sdk sends it
// from the `audioStreamingLanguageCode` option) — has its Opus streamed to `audioStreamingUrl`
// over HTTP/2 (one POST per connection, multiplexed on one HTTP/2 session per channel:
// http:// = h2c with prior knowledge, https:// = h2). Connections that join while it is on are
// added; leavers' streams end; everything ends with the session.
//
// Each JSON object the gateway answers becomes a `push` to the connections subscribed with
// SubscribeAudioStreamingResultPush (any role), as
//   {"type":"push","data":{...the gateway's object, "channel_id":…, "connection_id":…}}
// where channel_id/connection_id name the channel and the connection whose audio produced the
// result (set by the node, overriding same-named gateway fields) so a subscriber can attribute it.
// The edge owns the subscriber list and sends it whole (set_audio_streaming_subscribers); it is
// kept per channel whether or not streaming is on, and forgotten with the session.

class ChannelStreaming {
  readonly streams = new Map<string, AudioStream>();
  private http?: ClientHttp2Session;

  constructor(
    readonly channel: Channel,
    readonly url: URL,
    private readonly log: Logger,
  ) {}

  /** The channel's HTTP/2 session to the gateway; a new one after the previous failed or closed. */
  session(): ClientHttp2Session {
    const current = this.http;
    if (current && !current.closed && !current.destroyed) return current;
    const session = connect(this.url.origin);
    session.on("error", (err) => this.log.warn({ err, channel_id: this.channel.channelId }, "audio streaming gateway session error"));
    session.on("close", () => {
      if (this.http === session) this.http = undefined;
    });
    this.http = session;
    return session;
  }

  close(): void {
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
    const http = this.http;
    this.http = undefined;
    // Every stream is closed; close() lets their RST_STREAMs out before the socket goes.
    http?.close();
  }
}

export interface AudioStreamingStatus {
  session_id: string;
  connections: { connection_id: string; packets_sent: number; packets_dropped: number; results_received: number }[];
}

export class AudioStreaming {
  private readonly active = new Map<string, ChannelStreaming>();
  private readonly subscribers = new Map<string, Set<string>>();

  /** Audio streams open now (one HTTP/2 POST per sending connection), for /metrics. */
  streamCount(): number {
    let n = 0;
    for (const s of this.active.values()) n += s.streams.size;
    return n;
  }

  constructor(
    private readonly source: PacketSource,
    private readonly config: NodeConfig,
    private readonly log: Logger,
  ) {
    source.listeners.push({
      connectionCreated: (conn) => {
        const streaming = this.active.get(conn.channel.channelId);
        if (streaming?.channel === conn.channel) this.addConnection(streaming, conn);
      },
      connectionDestroyed: (conn) => {
        const streams = this.active.get(conn.channel.channelId)?.streams;
        streams?.get(conn.id)?.close();
        streams?.delete(conn.id);
        this.subscribers.get(conn.channel.channelId)?.delete(conn.id);
      },
      sessionDestroyed: (channel) => {
        this.subscribers.delete(channel.channelId);
        const streaming = this.active.get(channel.channelId);
        if (streaming?.channel !== channel) return;
        this.active.delete(channel.channelId);
        streaming.close();
        this.log.info({ channel_id: channel.channelId, session_id: channel.sessionId }, "audio streaming ended with the session");
      },
    });
  }

  start(channelId: string): EgressOutcome<{ session_id: string }> {
    const channel = this.source.channels.get(channelId);
    if (!channel) return refuse("CHANNEL-NOT-FOUND", { channel_id: channelId });
    if (this.active.has(channelId)) return refuse("ALREADY-STARTED", { channel_id: channelId, session_id: channel.sessionId });
    const url = this.gatewayUrl();
    if (!url) return refuse("FEATURE-NOT-AVAILABLE", { feature: "audio_streaming", reason: "audio_streaming_url is not configured" });
    const streaming = new ChannelStreaming(channel, url, this.log);
    this.active.set(channelId, streaming);
    for (const conn of channel.connections.values()) if (conn.connected) this.addConnection(streaming, conn);
    this.log.info({ channel_id: channelId, session_id: channel.sessionId, connections: streaming.streams.size }, "audio streaming started");
    return succeed({ session_id: channel.sessionId });
  }

  stop(channelId: string): EgressOutcome<{ session_id: string }> {
    const streaming = this.active.get(channelId);
    if (!streaming) {
      const channel = this.source.channels.get(channelId);
      if (!channel) return refuse("CHANNEL-NOT-FOUND", { channel_id: channelId });
      return refuse("NOT-STARTED", { channel_id: channelId, session_id: channel.sessionId });
    }
    this.active.delete(channelId);
    streaming.close();
    this.log.info({ channel_id: channelId, session_id: streaming.channel.sessionId }, "audio streaming stopped");
    return succeed({ session_id: streaming.channel.sessionId });
  }

  /** The channel's whole subscriber set (SubscribeAudioStreamingResultPush / Unsubscribe…, kept by the edge). */
  setSubscribers(channelId: string, connectionIds: string[]): EgressOutcome<Record<string, never>> {
    if (!this.source.channels.has(channelId)) return refuse("CHANNEL-NOT-FOUND", { channel_id: channelId });
    this.subscribers.set(channelId, new Set(connectionIds));
    return succeed({});
  }

  subscribe(channelId: string, connectionId: string): EgressOutcome<Record<string, never>> {
    return this.setSubscribers(channelId, [...(this.subscribers.get(channelId) ?? []), connectionId]);
  }

  unsubscribe(channelId: string, connectionId: string): EgressOutcome<Record<string, never>> {
    return this.setSubscribers(channelId, [...(this.subscribers.get(channelId) ?? [])].filter((id) => id !== connectionId));
  }

  isStreaming(channelId: string): boolean {
    return this.active.has(channelId);
  }

  status(channelId: string): AudioStreamingStatus | undefined {
    const streaming = this.active.get(channelId);
    if (!streaming) return undefined;
    return {
      session_id: streaming.channel.sessionId,
      connections: [...streaming.streams.values()].map((s) => ({
        connection_id: s.identity.connectionId,
        packets_sent: s.packetsSent,
        packets_dropped: s.packetsDropped,
        results_received: s.resultsReceived,
      })),
    };
  }

  /** Node shutdown: every stream and HTTP/2 session is released. */
  stopAll(): void {
    for (const streaming of this.active.values()) streaming.close();
    this.active.clear();
  }

  private gatewayUrl(): URL | undefined {
    const raw = this.config.audioStreamingUrl;
    if (!raw) return undefined;
    try {
      const url = new URL(raw);
      return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
    } catch {
      return undefined;
    }
  }

  private addConnection(streaming: ChannelStreaming, conn: Connection): void {
    if (streaming.streams.has(conn.id) || conn.role === "recvonly") return;
    const languageCode = conn.options.audioStreamingLanguageCode;
    if (!languageCode) return;
    const audio = conn.publications.find((p) => p.kind === "audio");
    if (!audio) return;
    const channel = streaming.channel;
    const url = streaming.url;
    const stream = new AudioStream(
      audio,
      { channelId: channel.channelId, sessionId: channel.sessionId, clientId: conn.clientId, connectionId: conn.id, languageCode },
      {
        path: `${url.pathname}${url.search}`,
        withHeader: this.config.audioStreamingHeader,
        session: () => streaming.session(),
        onResult: (result) => this.pushResult(channel, conn.id, result),
      },
      this.log.child({ channel_id: channel.channelId }),
    );
    streaming.streams.set(conn.id, stream);
    stream.start();
  }

  private pushResult(channel: Channel, sourceConnectionId: string, result: Record<string, unknown>): void {
    const subscribers = this.subscribers.get(channel.channelId);
    if (!subscribers || subscribers.size === 0) return;
    const data = { ...result, channel_id: channel.channelId, connection_id: sourceConnectionId };
    let elsewhere: string[] | undefined;
    for (const id of subscribers) {
      const conn = channel.connections.get(id);
      if (conn) {
        if (conn.connected) conn.sendPush(data);
      } else if (channel.relay) (elsewhere ??= []).push(id);
    }
    // Subscribers served by other nodes of the session get it through the relay (docs/relay.md).
    if (elsewhere) channel.relay!.pushToOtherNodes(elsewhere, data);
  }
}
