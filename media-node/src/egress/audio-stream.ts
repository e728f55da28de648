import { constants, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import type { RtpPacket } from "werift";
import type { Logger } from "../logger.js";
import type { PacketTap, Publication } from "../sfu/publication.js";
import { mediaCounters } from "../sfu/media-counters.js";

// One sending connection's audio towards the audio streaming gateway: a single HTTP/2 POST
// whose request body never ends — the connection's Opus payloads back to back, each optionally
// prefixed by Sora's 20-byte header (u64 arrival time in µs since the epoch, u64 sequence
// number, u32 payload length; big-endian) — and whose response is a stream of newline-separated
// JSON objects (the gateway's results), handed to `onResult`.
//
// The sequence number is the packet's RTP sequence number extended to 64 bits (rollovers
// counted), so gaps tell the gateway about loss. A request that fails or ends (gateway down,
// non-2xx, reset) is re-opened with backoff for as long as streaming is on; packets that arrive
// meanwhile, or while the gateway does not keep up, are dropped, never queued without bound.

export const AUDIO_STREAMING_HEADER_SIZE = 20;
/** Past this much unsent body the gateway is not keeping up: drop rather than buffer. */
const MAX_PENDING_BYTES = 256 * 1024;
/** A result line longer than this is not a result; the gateway is misbehaving. */
const MAX_RESULT_LINE_BYTES = 1024 * 1024;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const TWO_32 = 0x1_0000_0000;

export interface AudioStreamIdentity {
  channelId: string;
  sessionId: string;
  clientId: string;
  connectionId: string;
  languageCode: string;
}

export interface AudioStreamOptions {
  /** Path (and query) of audio_streaming_url. */
  path: string;
  withHeader: boolean;
  /** The channel's HTTP/2 session to the gateway, (re)connected on demand. */
  session: () => ClientHttp2Session;
  onResult: (result: Record<string, unknown>) => void;
}

export class AudioStream implements PacketTap {
  private request?: ClientHttp2Stream;
  private closed = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer?: NodeJS.Timeout;
  private seqCycles = 0;
  private lastSeq = -1;
  private pendingLine = "";
  packetsSent = 0;
  packetsDropped = 0;
  resultsReceived = 0;

  constructor(
    readonly publication: Publication,
    readonly identity: AudioStreamIdentity,
    private readonly options: AudioStreamOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.publication.addTap(this);
    this.open();
  }

  /** Hot path: one call per audio packet of the connection. */
  onPacket(packet: RtpPacket): void {
    const seq = packet.header.sequenceNumber;
    if (this.lastSeq >= 0 && seq < this.lastSeq && this.lastSeq - seq > 0x8000) this.seqCycles += 0x10000;
    if (this.lastSeq < 0 || ((seq - this.lastSeq) & 0xffff) < 0x8000) this.lastSeq = seq;
    const request = this.request;
    if (!request || !request.writable || request.writableLength > MAX_PENDING_BYTES) {
      this.packetsDropped++;
      mediaCounters.audioStreamingPacketsDropped++;
      return;
    }
    const payload = packet.payload;
    let body: Buffer;
    if (this.options.withHeader) {
      body = Buffer.allocUnsafe(AUDIO_STREAMING_HEADER_SIZE + payload.length);
      const micros = Math.round((performance.timeOrigin + performance.now()) * 1000);
      const extSeq = this.seqCycles + seq;
      // u64 fields written as two u32 halves: no BigInt per packet.
      body.writeUInt32BE(Math.floor(micros / TWO_32), 0);
      body.writeUInt32BE(micros % TWO_32, 4);
      body.writeUInt32BE(Math.floor(extSeq / TWO_32), 8);
      body.writeUInt32BE(extSeq % TWO_32, 12);
      body.writeUInt32BE(payload.length, 16);
      payload.copy(body, AUDIO_STREAMING_HEADER_SIZE);
    } else {
      // A copy: the payload stays in the publication's NACK cache and the write completes later.
      body = Buffer.from(payload);
    }
    this.packetsSent++;
    mediaCounters.audioStreamingPacketsSent++;
    request.write(body);
  }

  private open(): void {
    if (this.closed) return;
    const id = this.identity;
    let request: ClientHttp2Stream;
    try {
      request = this.options.session().request(
        {
          [constants.HTTP2_HEADER_METHOD]: "POST",
          [constants.HTTP2_HEADER_PATH]: this.options.path,
          "sora-channel-id": id.channelId,
          "sora-session-id": id.sessionId,
          "sora-client-id": id.clientId,
          "sora-connection-id": id.connectionId,
          "sora-audio-codec-type": "OPUS",
          "sora-audio-sample-rate": "48000",
          "sora-audio-streaming-language-code": id.languageCode,
        },
        { endStream: false },
      );
    } catch (err) {
      this.log.warn({ err, connection_id: id.connectionId }, "audio streaming request failed");
      this.scheduleRetry();
      return;
    }
    this.request = request;
    this.pendingLine = "";
    request.setEncoding("utf8");
    request.on("response", (headers) => {
      const status = Number(headers[constants.HTTP2_HEADER_STATUS]);
      if (status >= 200 && status < 300) {
        this.retryMs = RETRY_MIN_MS;
        return;
      }
      this.log.warn({ connection_id: id.connectionId, status }, "audio streaming gateway refused the stream");
      request.close(constants.NGHTTP2_CANCEL);
    });
    request.on("data", (chunk: string) => this.onResponseData(chunk));
    request.on("error", (err) => this.log.warn({ err, connection_id: id.connectionId }, "audio streaming request error"));
    request.on("close", () => {
      if (this.request === request) this.request = undefined;
      if (!this.closed) {
        this.log.info({ connection_id: id.connectionId, retry_ms: this.retryMs }, "audio streaming request ended; re-opening");
        this.scheduleRetry();
      }
    });
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  /** Newline-separated JSON objects; a partial line waits for the rest. */
  private onResponseData(chunk: string): void {
    let text = this.pendingLine + chunk;
    let newline: number;
    while ((newline = text.indexOf("\n")) >= 0) {
      const line = text.slice(0, newline).trim();
      text = text.slice(newline + 1);
      if (line.length === 0) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        this.log.warn({ connection_id: this.identity.connectionId, line: line.slice(0, 200) }, "audio streaming result is not JSON");
        continue;
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) continue;
      this.resultsReceived++;
      this.options.onResult(parsed as Record<string, unknown>);
    }
    if (text.length > MAX_RESULT_LINE_BYTES) {
      this.log.warn({ connection_id: this.identity.connectionId }, "audio streaming result line too long; dropped");
      text = "";
    }
    this.pendingLine = text;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.publication.removeTap(this);
    const request = this.request;
    this.request = undefined;
    if (request && !request.closed) request.close(constants.NGHTTP2_NO_ERROR);
  }
}
