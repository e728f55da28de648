import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { LOAD_REPORT_INTERVAL_MS, type NodeCommand, type NodeCounters, type NodeLoad } from "../../../shared/control-protocol.js";
import { SORA_COMPAT_VERSION } from "../../../shared/version.js";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { Egress } from "../egress/egress.js";
import type { Sfu } from "../sfu/sfu.js";
import type { TurnCounters } from "../turn/turn-service.js";
import { newWebhookCounters, type WebhookCounters } from "../webhooks/counters.js";
import { EdgeLink, type CommandOutcome, type Placement } from "./edge-link.js";
import { LoadMeter } from "./load-meter.js";

// What the edge sees of this node and what it may ask of it: the hello snapshot, the reports
// fed by SFU events, and one handler per command. Every command names the full new state
// (idempotent), so a command retried after a lost ack changes nothing twice.

const COUNTERS_REPORT_INTERVAL_MS = 5_000;

const fail = (error_type: string, error_reason?: unknown): CommandOutcome =>
  error_reason === undefined ? { ok: false, error_type } : { ok: false, error_type, error_reason };
const ok = (result: unknown = {}): CommandOutcome => ({ ok: true, result });

export class NodeControl {
  readonly link: EdgeLink;
  private countersTimer?: NodeJS.Timeout;
  private loadTimer?: NodeJS.Timeout;
  private readonly loadMeter = new LoadMeter();
  epoch = 0;
  member = false;

  constructor(
    private readonly sfu: Sfu,
    private readonly config: NodeConfig,
    private readonly log: Logger,
    /** RTP forwarding and audio streaming, which the edge commands (owned by MediaNode). */
    private readonly egress: Egress,
    /** Counters kept outside the SFU (zeros when the feature is off). */
    private readonly counterSources: { webhooks?: WebhookCounters; turn?: TurnCounters } = {},
  ) {
    this.link = new EdgeLink(
      config.edgeUrl!,
      config.nodeSecret,
      {
        hello: () => ({
          node_name: config.nodeName,
          external_signaling_url: config.externalSignalingUrl,
          external_api_url: null,
          version: SORA_COMPAT_VERSION,
          // The node's cap plays Sora's licensed max connections (ListClusterNodes shows it).
          license: { license_max_nodes: null, license_max_connections: config.maxConnections ?? null, license_serial_code: null, license_type: null },
          auto_join: config.autoJoin,
          mode: sfu.mode,
          channels: [...sfu.channels.values()].map((c) => sfu.snapshot(c)),
          counters: this.counters(),
          load: this.load(),
        }),
        nodeName: () => config.nodeName,
        welcome: (w) => {
          this.epoch = w.epoch;
          this.member = w.member;
          // The cluster's stored mode wins: ChangeMode outlives node restarts.
          if (sfu.mode !== w.mode) this.log.info({ mode: w.mode }, "mode set by the cluster");
          sfu.mode = w.mode;
          this.log.info({ epoch: w.epoch, member: w.member }, "joined the edge");
        },
        command: (command) => this.execute(command),
      },
      log,
    );
    // The edge holds the channel state a connection's RPC changes: the call goes there, and the
    // change comes back as the edge's usual full-state command (one source of truth).
    sfu.connectionCalls = async (conn, call) => {
      const outcome = await this.link.rpc(conn.channel.channelId, conn.id, call);
      if (!outcome) return { ok: false, error_type: "EDGE-UNREACHABLE" };
      if (outcome.ok) return { ok: true, result: outcome.result };
      return { ok: false, error_type: outcome.error_type ?? "INTERNAL-ERROR", error_reason: outcome.error_reason };
    };
    sfu.listeners.push({
      sessionCreated: (channel) => this.link.report({ type: "session.created", channel: sfu.snapshot(channel) }),
      sessionUpdated: (channel) => this.link.report({ type: "session.updated", channel: sfu.snapshot(channel) }),
      sessionDestroyed: (channel) =>
        this.link.report({ type: "session.destroyed", channel_id: channel.channelId, session_id: channel.sessionId }),
      connectionCreated: (conn) =>
        this.link.report({
          type: "connection.created",
          channel_id: conn.channel.channelId,
          session_id: conn.sessionId,
          connection: conn.info(),
        }),
      connectionDestroyed: (conn) =>
        this.link.report({
          type: "connection.destroyed",
          channel_id: conn.channel.channelId,
          session_id: conn.sessionId,
          connection_id: conn.id,
        }),
      userAgentStats: (conn) => {
        if (!conn.latestStats) return;
        this.link.report({
          type: "user_agent_stats",
          channel_id: conn.channel.channelId,
          connection_id: conn.id,
          timestamp: conn.latestStats.timestamp,
          stats: conn.latestStats.stats,
        });
      },
    });
  }

  start(): void {
    this.link.start();
    this.countersTimer = setInterval(() => this.link.report({ type: "counters", counters: this.counters() }), COUNTERS_REPORT_INTERVAL_MS);
    this.countersTimer.unref();
    this.loadTimer = setInterval(() => this.link.report({ type: "load", load: this.load() }), LOAD_REPORT_INTERVAL_MS);
    this.loadTimer.unref();
  }

  /** Connections against the cap and the process's load since the previous sample (load-meter.ts). */
  load(): NodeLoad {
    return this.loadMeter.sample(this.sfu.connectionCount(), this.config.maxConnections);
  }

  async stop(): Promise<void> {
    if (this.countersTimer) clearInterval(this.countersTimer);
    if (this.loadTimer) clearInterval(this.loadTimer);
    this.loadMeter.stop();
    await this.link.stop();
  }

  /** Where a new session for `channelId` belongs; undefined = here (or the edge is unreachable). */
  async place(channelId: string, full = false): Promise<Placement | undefined> {
    return this.link.place(channelId, full);
  }

  counters(): NodeCounters {
    const c = this.sfu.counters;
    return {
      total_connection_created: c.total_connection_created,
      total_connection_updated: c.total_connection_updated,
      total_connection_destroyed: c.total_connection_destroyed,
      total_session_created: c.total_session_created,
      total_session_destroyed: c.total_session_destroyed,
      total_successful_connections: c.total_successful_connections,
      total_ongoing_connections: this.sfu.connectedCount(),
      total_failed_connections: c.total_failed_connections,
      total_duration_msec: c.total_duration_msec,
      total_setup_time_msec: c.total_setup_time_msec,
      total_turn_udp_connections: this.counterSources.turn?.total_turn_udp_connections ?? 0,
      total_turn_tcp_connections: this.counterSources.turn?.total_turn_tcp_connections ?? 0,
      // coturn's own packet checks; not visible to the node.
      total_received_invalid_turn_tcp_packet: 0,
      ...(this.counterSources.webhooks ?? newWebhookCounters()),
    };
  }

  async execute(command: NodeCommand): Promise<CommandOutcome> {
    switch (command.name) {
      case "change_mode":
        this.sfu.mode = command.mode;
        this.log.info({ mode: command.mode }, "mode changed");
        return ok({ mode: command.mode });
      case "get_counters":
        return ok(this.counters());
      case "set_channel_nodes":
        // Cluster relay (docs/relay.md): links follow the list (relay/node-relay.ts).
        this.sfu.relay?.setChannelNodes(command);
        return ok();
      case "generate_crash_log":
        return ok({ path: await this.writeCrashLog(command.info) });
      case "set_notify_metadata": {
        const conn = this.sfu.findConnection(command.channel_id, command.connection_id);
        if (!conn) return this.notFound(command.channel_id, command.connection_id);
        conn.signalingNotifyMetadata = command.metadata;
        if (command.push !== undefined) conn.channel.broadcastPush(command.push);
        // Other nodes serving the session keep its notify fields; the edge sends them the push (docs/relay.md).
        conn.channel.relay?.localMetadataChanged(conn);
        return ok();
      }
      case "push": {
        const { connection_ids, client_id, role } = command;
        const pushed = this.sfu.push(command.channel_id, { connection_ids, client_id, role }, command.data);
        if (!pushed) return fail("CHANNEL-NOT-FOUND", { channel_id: command.channel_id });
        return ok({ connection_ids: pushed });
      }
      case "disconnect": {
        const { connection_id, client_id, role } = command;
        const selector = { connection_ids: connection_id === undefined ? undefined : [connection_id], client_id, role };
        const ended = await this.sfu.disconnect(command.channel_id, selector, command.reason);
        if (!ended) return fail("CHANNEL-NOT-FOUND", { channel_id: command.channel_id });
        if (connection_id !== undefined && ended.length === 0) return this.notFound(command.channel_id, connection_id);
        return ok({ connection_ids: ended });
      }
      case "get_connection_stats": {
        const stats = this.sfu.connectionStats(command.channel_id, command.connection_id);
        if (typeof stats === "string") return fail(stats, { channel_id: command.channel_id, connection_id: command.connection_id });
        return ok(stats);
      }
      case "request_key_frame": {
        const outcome = this.sfu.requestKeyFrame(command.channel_id, command.connection_id);
        if (outcome !== "ok") return fail(outcome, { channel_id: command.channel_id, connection_id: command.connection_id });
        return ok();
      }
      case "set_spotlight_focus": {
        const outcome = this.sfu.setSpotlightFocus(command.channel_id, command.connection_id, command.focus);
        if (outcome !== "ok") return fail(outcome, { channel_id: command.channel_id, connection_id: command.connection_id });
        return ok();
      }
      case "change_spotlight_number": {
        const outcome = this.sfu.changeSpotlightNumber(command.channel_id, command.spotlight_number);
        if (outcome !== "ok") return fail(outcome, { channel_id: command.channel_id });
        return ok();
      }
      case "set_paused_streams":
        if (!this.sfu.setPausedStreams(command.channel_id, command.paused)) return fail("CHANNEL-NOT-FOUND", { channel_id: command.channel_id });
        return ok();
      case "set_rid_requests":
        if (!this.sfu.setRidRequests(command.channel_id, command.requests)) return fail("CHANNEL-NOT-FOUND", { channel_id: command.channel_id });
        return ok();
      case "set_spotlight_rid_requests":
        if (!this.sfu.setSpotlightRidRequests(command.channel_id, command.requests)) return fail("CHANNEL-NOT-FOUND", { channel_id: command.channel_id });
        return ok();
      case "change_upstream_video_bit_rate": {
        const outcome = this.sfu.changeUpstreamVideoBitRate(command.channel_id, command.connection_id, command.bit_rate);
        if (outcome !== "ok") return fail(outcome, { channel_id: command.channel_id, connection_id: command.connection_id });
        return ok();
      }
      case "start_forwarding_rtp": {
        const { name: _name, ...request } = command;
        return this.egress.rtpForwarding.start(request);
      }
      case "stop_forwarding_rtp":
        return this.egress.rtpForwarding.stop(command.channel_id, command.connection_id);
      case "start_audio_streaming":
        return this.egress.audioStreaming.start(command.channel_id);
      case "stop_audio_streaming":
        return this.egress.audioStreaming.stop(command.channel_id);
      case "set_audio_streaming_subscribers":
        return this.egress.audioStreaming.setSubscribers(command.channel_id, command.connection_ids);
    }
  }

  private notFound(channelId: string, connectionId: string): CommandOutcome {
    if (!this.sfu.channels.has(channelId)) return fail("CHANNEL-NOT-FOUND", { channel_id: channelId });
    return fail("CONNECTION-NOT-FOUND", { channel_id: channelId, connection_id: connectionId });
  }

  /** GenerateCrashLog: a file an operator can attach to a report (Sora: "for verification only"). */
  private async writeCrashLog(info: Record<string, unknown> | undefined): Promise<string> {
    const dir = path.resolve(this.config.crashLogDir);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `crash-${this.config.nodeName.replace(/[^A-Za-z0-9._-]/g, "_")}-${Date.now()}.json`);
    const body = {
      generated_at: new Date().toISOString(),
      node_name: this.config.nodeName,
      version: SORA_COMPAT_VERSION,
      info: info ?? {},
      mode: this.sfu.mode,
      memory: process.memoryUsage(),
      uptime_sec: process.uptime(),
      counters: this.counters(),
      channels: [...this.sfu.channels.values()].map((c) => this.sfu.snapshot(c)),
    };
    await writeFile(file, JSON.stringify(body, null, 2));
    this.log.warn({ path: file }, "crash log written");
    return file;
  }
}
