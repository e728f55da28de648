import { newSoraId } from "../../../shared/ids.js";
import { PRODUCT_NAME, SORA_COMPAT_VERSION } from "../../../shared/version.js";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { Channel } from "../sfu/channel.js";
import type { Connection } from "../sfu/connection.js";
import type { SfuEvents } from "../sfu/sfu.js";
import type { WebhookCounters, WebhookDurations } from "./counters.js";
import { postJson } from "./http.js";

// Session webhooks (session.created / session.destroyed) and event webhooks
// (connection.created / connection.updated every interval / connection.destroyed), fed by the
// SFU's lifecycle events. Fire-and-forget: nothing waits on them, so a slow or dead receiver
// never delays signaling or media; failures are counted and logged, retried when configured.

const RETRY_BACKOFF_MS = 1_000;

type Kind = "session" | "event";

export class LifecycleWebhooks implements SfuEvents {
  private readonly updatedTimers = new Map<string, NodeJS.Timeout>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<void>>();
  /** Per live session: connections that became connected, and the most at once (session.destroyed). */
  private readonly sessionStats = new Map<string, { total: number; max: number }>();
  private stopped = false;

  constructor(
    private readonly urls: { session?: string; event?: string },
    private readonly config: NodeConfig,
    private readonly counters: WebhookCounters,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
    /** The session webhook's answer to session.created (it may ask for session settings). */
    private readonly onSessionCreatedAnswer?: (channel: Channel, answer: unknown) => void,
    private readonly durations?: WebhookDurations,
  ) {}

  // ---- SfuEvents ------------------------------------------------------------------------

  // A session joined on another node's behalf (cluster relay) has its session webhooks fired by
  // the node that started it, once (docs/relay.md).
  sessionCreated(channel: Channel): void {
    if (!this.urls.session || channel.joined) return;
    this.sessionStats.set(channel.sessionId, { total: 0, max: 0 });
    this.send("session", "session.created", this.sessionBody("session.created", channel), channel, undefined, (answer) =>
      this.onSessionCreatedAnswer?.(channel, answer),
    );
  }

  sessionDestroyed(channel: Channel): void {
    if (!this.urls.session || channel.joined) return;
    const stats = this.sessionStats.get(channel.sessionId) ?? { total: 0, max: 0 };
    this.sessionStats.delete(channel.sessionId);
    const now = Date.now();
    const body = {
      ...this.sessionBody("session.destroyed", channel),
      destroyed_time: Math.floor(now / 1000),
      destroyed_timestamp: new Date(now).toISOString(),
      total_connections: stats.total,
      max_connections: stats.max,
    };
    this.send("session", "session.destroyed", body, channel);
  }

  connectionCreated(conn: Connection): void {
    const stats = this.sessionStats.get(conn.sessionId);
    if (stats) {
      stats.total++;
      stats.max = Math.max(stats.max, conn.channel.counters().channel_connections);
    }
    if (!this.urls.event) return;
    this.send("event", "connection.created", this.connectionBody("connection.created", conn), conn.channel, conn);
    const timer = setInterval(() => {
      if (conn.closed) return this.clearUpdated(conn.id);
      this.send("event", "connection.updated", this.connectionBody("connection.updated", conn), conn.channel, conn);
    }, this.config.webhooks.connectionUpdatedIntervalMs);
    timer.unref();
    this.updatedTimers.set(conn.id, timer);
  }

  connectionDestroyed(conn: Connection): void {
    if (!this.urls.event) return;
    this.clearUpdated(conn.id);
    this.send("event", "connection.destroyed", this.connectionBody("connection.destroyed", conn), conn.channel, conn);
  }

  /**
   * Node shutdown: no more periodic or retried webhooks; requests already sent (the
   * connection.destroyed / session.destroyed of the shutdown itself) get to finish, each bounded
   * by the webhook timeout.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.updatedTimers.values()) clearInterval(t);
    this.updatedTimers.clear();
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    await Promise.allSettled([...this.inflight]);
  }

  // ---- bodies ---------------------------------------------------------------------------

  private common(type: string): Record<string, unknown> {
    return {
      type,
      id: newSoraId(),
      timestamp: new Date().toISOString(),
      label: PRODUCT_NAME,
      node_name: this.config.nodeName,
      version: SORA_COMPAT_VERSION,
    };
  }

  private sessionBody(type: string, channel: Channel): Record<string, unknown> {
    return {
      ...this.common(type),
      channel_id: channel.channelId,
      session_id: channel.sessionId,
      multistream: true,
      simulcast: channel.simulcast,
      spotlight: channel.spotlight,
      created_time: Math.floor(channel.createdAt / 1000),
      created_timestamp: new Date(channel.createdAt).toISOString(),
    };
  }

  /** Identity at the top level, the connection's numbers under `data` (Sora's event webhook layout). */
  private connectionBody(type: string, conn: Connection): Record<string, unknown> {
    const since = conn.connectedAt || conn.createdAt;
    const data: Record<string, unknown> = {
      audio: conn.audio,
      video: conn.video,
      minutes: Math.floor((Date.now() - since) / 60_000),
      ...conn.channel.counters(),
      created_time: Math.floor(conn.createdAt / 1000),
      created_timestamp: new Date(conn.createdAt).toISOString(),
    };
    if (conn.audio) data.audio_codec_type = "OPUS";
    if (conn.video) data.video_codec_type = conn.videoCodec;
    if (type === "connection.destroyed") {
      const now = Date.now();
      data.destroyed_time = Math.floor(now / 1000);
      data.destroyed_timestamp = new Date(now).toISOString();
    }
    const body: Record<string, unknown> = {
      ...this.common(type),
      channel_id: conn.channel.channelId,
      session_id: conn.sessionId,
      connection_id: conn.id,
      client_id: conn.clientId,
      bundle_id: conn.bundleId,
      role: conn.role,
      multistream: true,
      simulcast: conn.simulcast,
      spotlight: conn.channel.spotlight,
      data,
    };
    if (conn.authnMetadata !== undefined) body.authn_metadata = conn.authnMetadata;
    if (conn.eventMetadata !== undefined) body.event_metadata = conn.eventMetadata;
    // Disconnect* API `reason` (dev-doc API_SIGNALING): only on the destroyed event of a connection it ended.
    if (type === "connection.destroyed" && conn.disconnectApiReason) body.disconnect_api_reason = conn.disconnectApiReason;
    return body;
  }

  // ---- delivery -------------------------------------------------------------------------

  private send(
    kind: Kind,
    type: string,
    body: Record<string, unknown>,
    channel: Channel,
    conn?: Connection,
    onAnswer?: (answer: unknown) => void,
  ): void {
    const url = kind === "session" ? this.urls.session : this.urls.event;
    if (!url) return;
    const headers: Record<string, string> = {
      [kind === "session" ? "sora-session-webhook-type" : "sora-event-webhook-type"]: type,
      "sora-channel-id": channel.channelId,
      "sora-session-id": channel.sessionId,
    };
    if (conn) headers["sora-connection-id"] = conn.id;
    this.track(this.deliver(kind, type, url, body, headers, 0, onAnswer));
  }

  private track(delivery: Promise<void>): void {
    this.inflight.add(delivery);
    void delivery.finally(() => this.inflight.delete(delivery));
  }

  private async deliver(
    kind: Kind,
    type: string,
    url: string,
    body: unknown,
    headers: Record<string, string>,
    attempt: number,
    onAnswer?: (answer: unknown) => void,
  ): Promise<void> {
    const started = performance.now();
    const result = await postJson(url, body, { timeoutMs: this.config.webhooks.timeoutMs, headers, signal: this.signal });
    this.durations?.[kind].observe((performance.now() - started) / 1000);
    if (result.ok) {
      if (kind === "session") this.counters.total_successful_session_webhook++;
      else this.counters.total_successful_event_webhook++;
      if (!this.stopped) onAnswer?.(result.body);
      return;
    }
    if (attempt < this.config.webhooks.retries && !this.stopped) {
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.track(this.deliver(kind, type, url, body, headers, attempt + 1, onAnswer));
      }, RETRY_BACKOFF_MS * (attempt + 1));
      timer.unref();
      this.retryTimers.add(timer);
      return;
    }
    if (kind === "session") this.counters.total_failed_session_webhook++;
    else this.counters.total_failed_event_webhook++;
    this.log.warn({ type, failure: result.failure, status: result.status, error: result.error, attempts: attempt + 1 }, `${kind} webhook failed`);
  }

  private clearUpdated(connectionId: string): void {
    const t = this.updatedTimers.get(connectionId);
    if (t) clearInterval(t);
    this.updatedTimers.delete(connectionId);
  }
}
