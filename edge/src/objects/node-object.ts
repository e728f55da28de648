import { DurableObject } from "cloudflare:workers";
import type { ApiResult } from "../../../shared/api/errors.js";
import {
  COMMAND_TIMEOUT_MS,
  CONTROL_PING_INTERVAL_MS,
  nodeCountersSchema,
  type EdgeMessage,
  type Hello,
  type NodeCommand,
  type NodeCounters,
  type NodeLoad,
} from "../../../shared/control-protocol.js";
import { channelStub, clusterStub, durationVar, numberVar, type Env } from "../env.js";
import { loadFromCounters, type HelloOutcome, type Welcome } from "./cluster-registry.js";
import { NodeLinkHost, type Report } from "./node-link-host.js";
import { CallCounter } from "./call-counter.js";
import type { CommandOutcome } from "./node-links.js";
import { PLACEMENT_CACHE_MS, PlacementCache } from "./placement-cache.js";
import { CHANNEL_REPORT_BUSY_HOLD_MS, CHANNEL_REPORT_HOLD_MS, ChannelReportForwarder } from "./channel-report-forwarder.js";
import type { ChannelReport, ChannelServing } from "./channel-object.js";

// One media node (idFromName(node_name)): a thin shell over its link host (node-link-host.ts:
// the control WebSocket, report order, liveness, commands awaiting acks). It routes each report to
// the object it concerns — connection events, stats, RPCs and sessions to the channel's
// ChannelObject (whose answer, the channel's serving nodes, goes on to ClusterObject's channel
// index); hellos, link ends and load changes to ClusterObject — answers the node's `place` from a
// cached placement table and the channel's own state (ChannelObject),
// and keeps the node's counters and latest load. ChannelObject and ClusterObject command the node
// through `command`. See docs/edge.md.

/** A load that did not change is still forwarded to the cluster this often (its placement table stays fresh). */
const LOAD_FORWARD_MAX_AGE_MS = 10_000;

/** GetStatsReport calls this close together share one get_counters command to the node. */
const STATS_FRESH_MS = 1_000;
/**
 * Counters up to this old are answered at once while a fresh get_counters runs in the background
 * (the next call gets its answer): a GetStatsReport does not wait for the acks of 50 nodes, each
 * behind its node's reports. Older ones (or none) are waited for.
 */
const STATS_STALE_MS = 2_000;

const LINKED = "linked";
const COUNTERS = "counters";
const LOAD = "load";

interface LinkedRecord {
  node_name: string;
  link_id: string;
  /** The hello's external_signaling_url (ChannelObject lists it in `set_channel_nodes`); absent in records stored before the relay. */
  signaling_url?: string;
}

export class NodeObject extends DurableObject<Env> {
  private readonly host: NodeLinkHost;
  private readonly commandTimeoutMs: number;
  private readonly placement: PlacementCache;
  /** Per link whose hello snapshot comes in parts: the channels it has listed so far. */
  private readonly snapshots = new WeakMap<WebSocket, Set<string>>();
  private lastForwarded: { load: NodeLoad; at: number } | undefined;
  private readonly calls = new CallCounter();
  /** The node's counters as its last get_counters answered them (GetStatsReport), and when asked. */
  private freshCounters: { at: number; counters: NodeCounters } | undefined;
  /** The get_counters in flight, if any. */
  private askingCounters: Promise<NodeCounters | null> | undefined;
  /** Connection events and user-agent stats, per channel, batched under load (channel-report-forwarder.ts). */
  private readonly forwarder: ChannelReportForwarder<{ nodeName: string; report: ChannelReport }>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.commandTimeoutMs = numberVar(env.COMMAND_TIMEOUT_MS, COMMAND_TIMEOUT_MS);
    this.host = new NodeLinkHost(
      ctx,
      {
        hello: (ws, hello) => this.onHello(ws, hello),
        report: (ws, nodeName, report) => this.onReport(ws, nodeName, report),
        linkGone: (ws, nodeName) => this.onLinkGone(ws, nodeName),
      },
      numberVar(env.NODE_LIVENESS_TIMEOUT_MS, 3 * CONTROL_PING_INTERVAL_MS),
    );
    this.forwarder = new ChannelReportForwarder<{ nodeName: string; report: ChannelReport }>(
      async (channelId, items) => {
        this.calls.count("channelCall");
        // One NodeObject serves one node name (idFromName(node_name), checked against the hello).
        await channelStub(env, channelId).applyReports(
          items[0]!.nodeName,
          items.map((i) => i.report),
        );
      },
      (channelId, err) => console.error("channel reports failed", channelId, err),
      durationVar(env.CHANNEL_REPORT_HOLD_MS, CHANNEL_REPORT_HOLD_MS),
      durationVar(env.CHANNEL_REPORT_BUSY_HOLD_MS, CHANNEL_REPORT_BUSY_HOLD_MS),
    );
    this.placement = new PlacementCache(() => clusterStub(env).placementTable(), durationVar(env.PLACEMENT_CACHE_MS, PLACEMENT_CACHE_MS));
  }

  // ---------------------------------------------------------------------------------------------
  // The control link

  /** `GET /node` upgrade, authenticated by the Worker, which put the presented name in `x-sora-node-name`. */
  override async fetch(request: Request): Promise<Response> {
    this.calls.count("link");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response(JSON.stringify({ error_type: "UPGRADE-REQUIRED" }), { status: 426 });
    }
    return this.host.accept(request.headers.get("x-sora-node-name") ?? "");
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.calls.count("message");
    // Channel reports it released may still be held (CHANNEL_REPORT_HOLD_MS): the event does
    // not wait for them, so the node's next frames are not queued behind the hold; the open
    // link keeps this object alive until the timer sends them.
    await this.host.message(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    await this.host.closed(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.host.errored(ws);
  }

  /**
   * Liveness of the open link; and after an edge restart (no socket survives one, the alarm
   * does) the cluster learns that the link it last heard of is gone.
   */
  override async alarm(): Promise<void> {
    const open = await this.host.checkLiveness();
    if (!open) {
      const linked = await this.ctx.storage.get<LinkedRecord>(LINKED);
      if (linked) await this.unlink(linked);
      return;
    }
    await this.ctx.storage.setAlarm(Date.now() + this.host.livenessInterval());
  }

  private async onHello(ws: WebSocket, hello: Hello): Promise<void> {
    const presented = this.host.links.presentedNameOf(ws);
    if (presented !== hello.node_name) {
      return this.host.refuse(ws, `the hello's node_name differs from the name presented on GET /node (${presented ?? "none"})`);
    }
    const existing = this.host.links.socketOf(hello.node_name);
    if (existing && existing !== ws) {
      // A second live link under one name is a misconfiguration (two nodes, one name); a link
      // silent past the liveness timeout is a dead process the node replaced after a crash.
      if (Date.now() - this.host.links.lastHeard(existing) <= this.host.livenessTimeoutMs) {
        return this.host.refuse(ws, `node ${hello.node_name} already has a live link`);
      }
      this.host.links.close(existing, 4409, "replaced by a new link of the same node");
    }
    const linkId = this.host.links.linkIdOf(ws);
    await this.forwarder.flushed();
    const outcome = (await clusterStub(this.env).nodeHello(hello, linkId)) as HelloOutcome;
    if ("refused" in outcome) return this.host.refuse(ws, outcome.refused);
    this.host.links.bind(ws, hello.node_name);
    const load = hello.load ?? loadFromCounters(hello.counters.total_ongoing_connections);
    await this.ctx.storage.put<unknown>({ [LINKED]: { node_name: hello.node_name, link_id: linkId, signaling_url: hello.external_signaling_url } satisfies LinkedRecord, [COUNTERS]: hello.counters, [LOAD]: load });
    this.lastForwarded = { load, at: Date.now() };
    this.freshCounters = undefined;
    this.askingCounters = undefined;
    this.placement.invalidate();
    if (hello.snapshot_complete === false) this.snapshots.set(ws, new Set(hello.channels.map((c) => c.channel_id)));
    else this.snapshots.delete(ws);
    this.host.links.send(ws, { ...outcome.welcome, batches: true });
  }

  private onReport(ws: WebSocket, nodeName: string, report: Report): void | Promise<void> {
    this.calls.count("report");
    switch (report.type) {
      case "connection.created":
      case "connection.destroyed":
      case "user_agent_stats":
        // Per channel in order, channels side by side; handed over at once (no promise of its
        // own: thousands a second) so the next report can go.
        this.forwarder.push(report.channel_id, { nodeName, report });
        return;
    }
    return this.onOtherReport(ws, nodeName, report);
  }

  private async onOtherReport(ws: WebSocket, nodeName: string, report: Exclude<Report, ChannelReport>): Promise<void> {
    // Anything else sees every earlier report applied (a place after its connections, a session's end after them).
    await this.forwarder.flushed();
    switch (report.type) {
      case "snapshot": {
        const live = this.snapshots.get(ws);
        for (const c of report.channels) live?.add(c.channel_id);
        if (report.complete) this.snapshots.delete(ws);
        await clusterStub(this.env).nodeSnapshotPart(nodeName, report.channels, report.complete && live ? [...live] : null, report.complete);
        return;
      }
      case "dropped":
        console.warn("a node dropped a report too large for the link", nodeName, report.report_type);
        return;
      case "session.created":
      case "session.updated": {
        // The ChannelObject decides which nodes serve the channel; the cluster's index copies it.
        const c = report.channel;
        const signalingUrl = (await this.ctx.storage.get<LinkedRecord>(LINKED))?.signaling_url;
        const serving = (await channelStub(this.env, c.channel_id).syncSession(nodeName, c, signalingUrl)) as ChannelServing | null;
        await clusterStub(this.env).channelIndexed(nodeName, c.channel_id, serving);
        return;
      }
      case "session.destroyed":
      {
        const serving = (await channelStub(this.env, report.channel_id).endSession(nodeName, report.session_id)) as ChannelServing | null;
        await clusterStub(this.env).channelIndexed(nodeName, report.channel_id, serving);
        return;
      }
      case "counters": {
        this.freshCounters = { at: Date.now(), counters: report.counters };
        await this.ctx.storage.put(COUNTERS, report.counters);
        const previous = await this.ctx.storage.get<NodeLoad>(LOAD);
        return this.recordLoad(nodeName, loadFromCounters(report.counters.total_ongoing_connections, previous));
      }
      case "load":
        return this.recordLoad(nodeName, report.load);
      case "place": {
        const table = await this.placement.get();
        const answer = await channelStub(this.env, report.channel_id).claim(nodeName, table, report.full === true);
        this.host.links.send(ws, { type: "response", id: report.id, ...answer });
        return;
      }
      case "rpc": {
        // Applied in the link's order (after the connection.created it follows). Holding the
        // link's later reports for one command round trip keeps that order simple.
        const outcome = (await channelStub(this.env, report.channel_id).connectionCall(
          report.channel_id,
          report.connection_id,
          report.call,
        )) as unknown as ApiResult<unknown>;
        this.host.links.send(
          ws,
          outcome.ok
            ? { type: "rpc_result", id: report.id, ok: true, result: outcome.answer }
            : { type: "rpc_result", id: report.id, ok: false, error_type: outcome.body.error_type, error_reason: outcome.body.error_reason },
        );
        return;
      }
    }
  }

  /** Keeps the node's latest load; the cluster's placement table gets it when it changed (or is getting old). */
  private async recordLoad(nodeName: string, load: NodeLoad): Promise<void> {
    const now = Date.now();
    const last = this.lastForwarded;
    const changed = !last || last.load.connections !== load.connections || last.load.max_connections !== load.max_connections;
    if (!changed && now - last.at < LOAD_FORWARD_MAX_AGE_MS) return;
    this.lastForwarded = { load, at: now };
    // Stored when it matters to placement, not on every report: a commit is what an object pays for.
    await this.ctx.storage.put(LOAD, load);
    await clusterStub(this.env).nodeLoad(nodeName, load);
  }

  private async onLinkGone(ws: WebSocket, nodeName: string | null): Promise<void> {
    this.snapshots.delete(ws);
    if (!nodeName || this.host.links.socketOf(nodeName)) return;
    this.host.links.failPending(nodeName);
    const linked = await this.ctx.storage.get<LinkedRecord>(LINKED);
    if (linked && linked.link_id === this.host.links.linkIdOf(ws)) await this.unlink(linked);
  }

  private async unlink(linked: LinkedRecord): Promise<void> {
    await this.ctx.storage.delete(LINKED);
    this.lastForwarded = undefined;
    await clusterStub(this.env).nodeUnlinked(linked.node_name, linked.link_id);
  }

  // ---------------------------------------------------------------------------------------------
  // RPC for ChannelObject and ClusterObject

  /** Sends a command to the node and waits for its ack (NODE-UNREACHABLE when not linked or silent). */
  command(nodeName: string, command: NodeCommand): Promise<CommandOutcome> {
    this.calls.count("command");
    return this.host.command(nodeName, command, this.commandTimeoutMs);
  }

  /** A membership change (InitCluster, JoinCluster): the node learns its member flag and epoch. */
  sendWelcome(welcome: Welcome): void {
    this.calls.count("sendWelcome");
    const ws = this.host.links.socketOf(welcome.node_name);
    if (ws) this.host.links.send(ws, { ...welcome, batches: true } satisfies EdgeMessage);
  }

  /** GetStatsReport: fresh counters from a linked node (within `timeoutMs`), else the last reported. */
  async statsCounters(nodeName: string, linked: boolean, timeoutMs: number): Promise<{ counters: NodeCounters | null; fresh: boolean }> {
    this.calls.count("statsCounters");
    if (linked) {
      // Calls within STATS_FRESH_MS share one get_counters: however often GetStatsReport is
      // called, the node's link carries at most one such command per second. Not stored: a
      // storage commit per node per GetStatsReport for figures the node's next hello or
      // `counters` report carries anyway.
      const now = Date.now();
      const latest = this.freshCounters;
      const age = latest ? now - latest.at : Infinity;
      if (age > STATS_FRESH_MS && !this.askingCounters) {
        const asked = this.host.command(nodeName, { name: "get_counters" }, timeoutMs).then((outcome) => {
          const fresh = outcome.ok ? nodeCountersSchema.safeParse(outcome.result) : undefined;
          return fresh?.success ? fresh.data : null;
        });
        this.askingCounters = asked;
        void asked.then((c) => {
          if (this.askingCounters !== asked) return;
          this.askingCounters = undefined;
          if (c) this.freshCounters = { at: now, counters: c };
        });
      }
      if (latest && age <= STATS_STALE_MS) return { counters: latest.counters, fresh: true };
      const counters = await this.askingCounters;
      if (counters) return { counters, fresh: true };
    }
    return { counters: (await this.ctx.storage.get<NodeCounters>(COUNTERS)) ?? null, fresh: false };
  }

  /** PurgeClusterNode: the node is forgotten. */
  async forget(): Promise<void> {
    this.calls.count("forget");
    await this.ctx.storage.deleteAll();
  }

  /** Calls this instance handled (call-counter.ts), for the edge load test. */
  callCounts(): { since: number; counts: Record<string, number> } {
    return this.calls.snapshot();
  }
}
