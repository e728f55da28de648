import Sora, { type ConnectionOptions, type JSONType } from "sora-js-sdk";
import { RID_REQUEST_EVENT, wantedRid, type ConnectRequest, type RidRequestEvent, type SdkOptions } from "./connect-options.js";
import { pushSample, streamRows, type StatsEntry, type StreamRow } from "./stats.js";

// One sora-js-sdk connection opened from the page, with what the page shows of it: local stream,
// remote streams (one per sender; the SDK's MediaStream id is the sender's connection id), an
// event log and per-stream stats sampled once a second. Owns its SDK connection, camera tracks
// and timer; close() ends all three.

export interface RemoteStream {
  /** The sender's connection id. */
  connectionId: string;
  stream: MediaStream;
}

export interface StreamSeries {
  bitrate: number[];
  fps: number[];
}

export interface LogLine {
  at: number;
  text: string;
}

type Connection = ReturnType<ReturnType<typeof Sora.connection>["sendrecv"]> | ReturnType<ReturnType<typeof Sora.connection>["recvonly"]>;

const SAMPLE_INTERVAL_MS = 1000;
const LOG_LINES = 40;

let nextLocalId = 1;

export class ClientSession {
  readonly localId = nextLocalId++;
  state: "connecting" | "connected" | "closed" = "connecting";
  connectionId: string | null = null;
  error: string | null = null;
  localStream: MediaStream | null = null;
  remotes: RemoteStream[] = [];
  rows: StreamRow[] = [];
  readonly series = new Map<string, StreamSeries>();
  log: LogLine[] = [];
  /** Client ids of the channel's connections, from `connection.*` notifies. */
  readonly clientIds = new Map<string, string>();
  readonly labels: string[];
  private connection: Connection | null = null;
  private previous = new Map<string, StatsEntry>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private listeners = new Set<() => void>();
  /** RequestRtpStream made from this page's cluster view for this receiver: sender (or "*") → rid. */
  private ridRequests = new Map<string, string>();
  private readonly onRidRequest = (event: Event) => {
    const { recv, send, rid } = (event as CustomEvent<RidRequestEvent>).detail;
    if (recv !== this.connectionId) return;
    if (rid === null) {
      if (send === undefined) this.ridRequests.clear();
      else this.ridRequests.delete(send);
    } else {
      this.ridRequests.set(send ?? "*", rid);
    }
    this.changed();
  };

  constructor(readonly request: Extract<ConnectRequest, { ok: true }>) {
    this.labels = (request.options.dataChannels ?? []).map((d) => d.label);
  }

  get title(): string {
    return `${this.request.role} · ${this.request.channelId}`;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  private note(text: string): void {
    this.log = [...this.log.slice(-(LOG_LINES - 1)), { at: Date.now(), text }];
    this.changed();
  }

  async start(): Promise<void> {
    const { signalingUrl, channelId, role, metadata, options } = this.request;
    window.addEventListener(RID_REQUEST_EVENT, this.onRidRequest);
    try {
      const sora = Sora.connection(signalingUrl, false);
      const sdkOptions = options as SdkOptions as ConnectionOptions;
      const meta = metadata as JSONType;
      const connection = role === "recvonly" ? sora.recvonly(channelId, meta, sdkOptions) : sora[role](channelId, meta, sdkOptions);
      this.connection = connection;
      connection.on("track", (event) => this.addTrack(event));
      connection.on("removetrack", (event) => this.removeTrack(event));
      connection.on("notify", (message) => {
        const m = message as { event_type: string; connection_id?: string; client_id?: string; data?: unknown };
        this.learnClientIds(m);
        this.note(`notify ${m.event_type}${m.connection_id ? ` ${m.connection_id}` : ""}`);
      });
      connection.on("push", (message) => this.note(`push ${JSON.stringify(message.data)}`));
      connection.on("switched", () => this.note("switched to DataChannel signaling"));
      connection.on("message", (event) => this.note(`message ${event.label}: ${new TextDecoder().decode(event.data)}`));
      connection.on("disconnect", (event) => {
        const e = event as { type: string; code?: number; reason?: string; title?: string };
        this.note(`disconnected (${e.type}${e.code !== undefined ? ` ${e.code}` : ""}${e.reason ? ` ${e.reason}` : ""}${e.title ? ` ${e.title}` : ""})`);
        this.finish();
      });
      if (role === "recvonly") {
        await (connection as ReturnType<ReturnType<typeof Sora.connection>["recvonly"]>).connect();
      } else {
        this.localStream = await navigator.mediaDevices.getUserMedia({
          audio: options.audio,
          // Simulcast needs a large enough source: Chrome drops layers below its per-resolution
          // table (3 layers from 960×540), so simulcast senders capture 720p.
          video: options.video ? (options.simulcast || options.spotlight ? { width: { ideal: 1280 }, height: { ideal: 720 } } : { width: { ideal: 640 }, height: { ideal: 360 } }) : false,
        });
        await (connection as ReturnType<ReturnType<typeof Sora.connection>["sendrecv"]>).connect(this.localStream);
      }
      if (this.state === "closed") return;
      this.state = "connected";
      this.connectionId = connection.connectionId;
      this.note(`connected as ${this.connectionId}`);
      this.timer = setInterval(() => void this.sample(), SAMPLE_INTERVAL_MS);
    } catch (err) {
      this.error = (err as Error).message || String(err);
      this.note(`error: ${this.error}`);
      this.finish();
    }
  }

  async sendMessage(label: string, text: string): Promise<void> {
    try {
      await this.connection?.sendMessage(label, new TextEncoder().encode(text));
      this.note(`sent ${label}: ${text}`);
    } catch (err) {
      this.note(`send failed: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.finish();
    await connection?.disconnect().catch(() => undefined);
  }

  private finish(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    window.removeEventListener(RID_REQUEST_EVENT, this.onRidRequest);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const t of this.localStream?.getTracks() ?? []) t.stop();
    this.changed();
  }

  private addTrack(event: RTCTrackEvent): void {
    const stream = event.streams[0];
    if (!stream || this.remotes.some((r) => r.stream.id === stream.id)) return;
    this.remotes = [...this.remotes, { connectionId: stream.id, stream }];
    this.changed();
  }

  private removeTrack(event: MediaStreamTrackEvent): void {
    const stream = event.target as MediaStream;
    if (stream.getTracks().length > 0) return;
    this.remotes = this.remotes.filter((r) => r.stream !== stream);
    this.changed();
  }

  private learnClientIds(m: { event_type: string; connection_id?: string; client_id?: string; data?: unknown }): void {
    if (!m.event_type.startsWith("connection.")) return;
    // The newcomer's own connection.created lists the others in `data` (Sora's notify).
    const entries = [m, ...(Array.isArray(m.data) ? (m.data as { connection_id?: unknown; client_id?: unknown }[]) : [])];
    for (const e of entries) {
      if (typeof e.connection_id === "string" && typeof e.client_id === "string") this.clientIds.set(e.connection_id, e.client_id);
    }
  }

  /** The simulcast layer this receiver asked for of `sender` (see wantedRid), or null. */
  ridOf(sender: string): string | null {
    return wantedRid(this.ridRequests, sender, this.request.options);
  }

  /** The sender connection id of an inbound row (by its track), or null. */
  senderOf(row: StreamRow): string | null {
    if (!row.trackIdentifier) return null;
    return this.remotes.find((r) => r.stream.getTracks().some((t) => t.id === row.trackIdentifier))?.connectionId ?? null;
  }

  private async sample(): Promise<void> {
    const pc = this.connection?.pc;
    if (!pc || this.state !== "connected") return;
    let report: RTCStatsReport;
    try {
      report = await pc.getStats();
    } catch {
      return;
    }
    const entries: StatsEntry[] = [];
    report.forEach((s: StatsEntry) => entries.push(s));
    this.rows = streamRows(entries, this.previous);
    this.previous = new Map(entries.map((e) => [e.id, e]));
    for (const row of this.rows) {
      const s = this.series.get(row.id) ?? { bitrate: [], fps: [] };
      this.series.set(row.id, { bitrate: pushSample(s.bitrate, row.bitrateKbps), fps: pushSample(s.fps, row.fps) });
    }
    this.changed();
  }
}
