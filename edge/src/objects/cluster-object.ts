import { DurableObject } from "cloudflare:workers";
import type { ApiAnswer, ApiRequest } from "../../../shared/api/catalog.js";
import { ApiError, toApiResult, type ApiResult } from "../../../shared/api/errors.js";
import {
  COMMAND_TIMEOUT_MS,
  CONTROL_PING_INTERVAL_MS,
  CONTROL_PROTOCOL_VERSION,
  MAX_CONTROL_MESSAGE_BYTES,
  nodeCountersSchema,
  nodeReportSchema,
  type ChannelSnapshot,
  type Hello,
  type NodeCommand,
  type NodeCounters,
  type NodeReport,
} from "../../../shared/control-protocol.js";
import type { ApiHandlers } from "../api-handlers.js";
import { channelStub, numberVar, type Env } from "../env.js";
import { ClusterStore, type ChannelOwner, type NodeRecord } from "./cluster-store.js";
import { admit, hasMajority, mostRestrictive } from "./membership.js";
import { NodeLinks, type CommandOutcome } from "./node-links.js";
import { ReportSequencer } from "./report-sequencer.js";
import { statsReport, sumCounters } from "./stats-report.js";

// The cluster: one instance (idFromName("cluster")) holding every media node's control link
// (hibernatable WebSockets), the cluster store (members, epochs, modes, channel owners, counters)
// and the cluster-wide API calls. Per-channel state lives in ChannelObject; this object forwards
// the nodes' channel reports there and carries ChannelObject's commands to the owner node.

/** A `place` claim not confirmed by `session.created` within this time no longer holds the channel. */
const CLAIM_TTL_MS = 60_000;
/** GetStatsReport asks connected nodes for fresh counters, but not for longer than this. */
const STATS_TIMEOUT_MS = 1_000;

type Report = Exclude<NodeReport, { type: "hello" | "ack" }>;
type Sequenced = Exclude<NodeReport, { type: "ack" }>;

export class ClusterObject extends DurableObject<Env> implements ApiHandlers<"cluster"> {
  private readonly store: ClusterStore;
  private readonly links: NodeLinks;
  private readonly commandTimeoutMs: number;
  private readonly livenessTimeoutMs: number;
  /** Per link: puts its messages back in the node's order (see report-sequencer.ts). */
  private readonly sequencers = new WeakMap<WebSocket, ReportSequencer<Sequenced>>();
  /** Per link: the tail of its reports being applied, one at a time (a connection after its session). */
  private readonly chains = new WeakMap<WebSocket, Promise<void>>();
  /** Per link whose hello snapshot comes in parts: the channels it has listed so far. */
  private readonly snapshots = new WeakMap<WebSocket, Set<string>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new ClusterStore(ctx.storage);
    this.links = new NodeLinks(ctx);
    this.commandTimeoutMs = numberVar(env.COMMAND_TIMEOUT_MS, COMMAND_TIMEOUT_MS);
    this.livenessTimeoutMs = numberVar(env.NODE_LIVENESS_TIMEOUT_MS, 3 * CONTROL_PING_INTERVAL_MS);
    // Pings are answered without waking the object; the alarm reads their timestamps.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  // ---------------------------------------------------------------------------------------------
  // Control links

  /** `GET /node` upgrade, already authenticated by the Worker. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response(JSON.stringify({ error_type: "UPGRADE-REQUIRED" }), { status: 426 });
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.links.accept(server, Date.now());
    await this.scheduleLivenessCheck();
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (typeof message !== "string" || message.length > MAX_CONTROL_MESSAGE_BYTES) {
      return this.refuse(ws, "control messages are JSON text frames of at most 1 MiB");
    }
    let raw: unknown;
    try {
      raw = JSON.parse(message);
    } catch {
      // A linked node's stray frame is logged, not fatal; a link that starts with garbage is refused.
      if (!this.links.nameOf(ws)) return this.refuse(ws, "control messages must be JSON");
      console.warn("ignoring a control message that is not JSON");
      return;
    }
    const parsed = nodeReportSchema.safeParse(raw);
    if (!parsed.success) {
      if (!this.links.nameOf(ws)) return this.refuse(ws, `invalid first message: ${parsed.error.issues[0]?.message ?? "?"}`);
      console.warn("ignoring an invalid control message", parsed.error.issues.slice(0, 3));
      const seq = (raw as { seq?: unknown } | null)?.seq;
      if (Number.isSafeInteger(seq) && (seq as number) >= 0) this.sequencerOf(ws).skip(seq as number);
      return;
    }
    const report = parsed.data;
    if (report.type === "ack") {
      const nodeName = this.links.nameOf(ws);
      if (nodeName) this.links.settle(nodeName, report);
      return;
    }
    if (report.seq === undefined) this.enqueue(ws, report);
    else this.sequencerOf(ws).push(report.seq, report);
    // Keep this event open until what it released has been applied.
    await this.chains.get(ws);
  }

  private sequencerOf(ws: WebSocket): ReportSequencer<Sequenced> {
    let sequencer = this.sequencers.get(ws);
    if (!sequencer) {
      // A link without a name has not been welcomed: its hello is number 0. A named one was
      // running before this object woke up: its next message sets the count.
      sequencer = new ReportSequencer<Sequenced>((report) => this.enqueue(ws, report), this.links.nameOf(ws) ? undefined : 0);
      this.sequencers.set(ws, sequencer);
    }
    return sequencer;
  }

  /** Applies `report` after the link's earlier ones; the node name is read when its turn comes (after the hello). */
  private enqueue(ws: WebSocket, report: Sequenced): void {
    const previous = this.chains.get(ws) ?? Promise.resolve();
    const next = previous
      .then(() => {
        if (report.type === "hello") return this.onHello(ws, report);
        const nodeName = this.links.nameOf(ws);
        if (!nodeName) return this.refuse(ws, "the first message must be hello");
        return this.onReport(ws, nodeName, report);
      })
      .catch((err) => console.error("control report failed", report.type, err));
    this.chains.set(ws, next);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    await this.onLinkGone(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.onLinkGone(ws);
  }

  /** Liveness: closes links that sent no "ping" for livenessTimeoutMs; runs while any link is open. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    for (const ws of this.links.openSockets()) {
      if (now - this.links.lastHeard(ws) > this.livenessTimeoutMs) {
        this.links.close(ws, 4408, "no ping within the liveness timeout");
        await this.onLinkGone(ws);
      }
    }
    await this.scheduleLivenessCheck();
  }

  private async scheduleLivenessCheck(): Promise<void> {
    if (this.links.openSockets().length === 0) return;
    if ((await this.ctx.storage.getAlarm()) !== null) return;
    const interval = Math.min(CONTROL_PING_INTERVAL_MS, Math.max(100, Math.floor(this.livenessTimeoutMs / 3)));
    await this.ctx.storage.setAlarm(Date.now() + interval);
  }

  private refuse(ws: WebSocket, reason: string): void {
    this.links.send(ws, { type: "refused", reason });
    this.links.close(ws, 4400, reason.slice(0, 120));
  }

  private async onLinkGone(ws: WebSocket): Promise<void> {
    this.links.markClosed(ws);
    this.sequencers.get(ws)?.dispose();
    this.sequencers.delete(ws);
    const nodeName = this.links.nameOf(ws);
    if (!nodeName || this.links.socketOf(nodeName)) return;
    this.links.failPending(nodeName);
    const record = await this.store.node(nodeName);
    if (record) await this.store.putNode({ ...record, last_seen: Date.now() });
  }

  private async onHello(ws: WebSocket, hello: Hello): Promise<void> {
    if (hello.protocol_version !== CONTROL_PROTOCOL_VERSION) return this.refuse(ws, "unsupported protocol_version");
    const existing = this.links.socketOf(hello.node_name);
    if (existing && existing !== ws) {
      // A second live link under one name is a misconfiguration (two nodes, one name); a link
      // silent past the liveness timeout is a dead process the node replaced after a crash.
      if (Date.now() - this.links.lastHeard(existing) <= this.livenessTimeoutMs) {
        return this.refuse(ws, `node ${hello.node_name} already has a live link`);
      }
      this.links.close(existing, 4409, "replaced by a new link of the same node");
    }
    const now = Date.now();
    const connected = this.links.connectedNames();
    connected.delete(hello.node_name);
    const record = admit(await this.store.node(hello.node_name), hello, await this.store.members(), connected, now);
    await this.store.putNode(record);
    await this.store.putCounters(record.node_name, hello.counters);
    this.links.bind(ws, record.node_name);
    const live = new Set(hello.channels.map((c) => c.channel_id));
    if (hello.snapshot_complete === false) {
      this.snapshots.set(ws, live);
    } else {
      this.snapshots.delete(ws);
      await this.forgetChannelsExcept(record.node_name, live);
    }
    await this.adoptChannels(record, hello.channels);
    this.links.send(ws, { type: "welcome", node_name: record.node_name, member: record.member, epoch: record.epoch, mode: record.mode });
  }

  /** A further part of the hello's snapshot; after the last, the node's unlisted channels are forgotten. */
  private async onSnapshotPart(ws: WebSocket, nodeName: string, part: Extract<Report, { type: "snapshot" }>): Promise<void> {
    const record = await this.store.node(nodeName);
    if (!record) return;
    const live = this.snapshots.get(ws);
    for (const c of part.channels) live?.add(c.channel_id);
    await this.adoptChannels(record, part.channels);
    if (!part.complete) return;
    this.snapshots.delete(ws);
    // Without the earlier parts' list (this object was evicted mid-snapshot, which its parts
    // arriving back to back make unlikely) nothing is forgotten rather than too much.
    if (live) await this.forgetChannelsExcept(nodeName, live);
    else console.warn("snapshot completed without its first parts; keeping the node's other channels", nodeName);
  }

  /** The hello snapshot is the truth about the node's channels: the ones it does not list are gone. */
  private async forgetChannelsExcept(nodeName: string, live: ReadonlySet<string>): Promise<void> {
    for (const owner of await this.store.owners()) {
      if (owner.node_name === nodeName && !live.has(owner.channel_id)) {
        await this.store.deleteOwner(owner.channel_id);
        if (owner.session_id) await channelStub(this.env, owner.channel_id).endSession(owner.session_id);
      }
    }
  }

  /** Channels of a hello snapshot (or part): this node owns them, unless another live node does. */
  private async adoptChannels(record: NodeRecord, channels: readonly ChannelSnapshot[]): Promise<void> {
    const connected = this.links.connectedNames();
    for (const snapshot of channels) {
      const current = await this.store.owner(snapshot.channel_id);
      if (current && current.node_name !== record.node_name && current.session_id && connected.has(current.node_name)) {
        console.warn("channel claimed by two live nodes; keeping the first", snapshot.channel_id, current.node_name, record.node_name);
        continue;
      }
      await this.store.putOwner(ownerOf(snapshot, record));
      await channelStub(this.env, snapshot.channel_id).syncSession(record.node_name, snapshot);
    }
  }

  private async onReport(ws: WebSocket, nodeName: string, report: Report): Promise<void> {
    switch (report.type) {
      case "snapshot":
        return this.onSnapshotPart(ws, nodeName, report);
      case "dropped":
        console.warn("a node dropped a report too large for the link", nodeName, report.report_type);
        return;
      case "session.created":
      case "session.updated": {
        const record = await this.store.node(nodeName);
        if (!record) return;
        await this.store.putOwner(ownerOf(report.channel, record));
        await channelStub(this.env, report.channel.channel_id).syncSession(nodeName, report.channel);
        return;
      }
      case "session.destroyed": {
        const owner = await this.store.owner(report.channel_id);
        if (owner?.node_name === nodeName) await this.store.deleteOwner(report.channel_id);
        await channelStub(this.env, report.channel_id).endSession(report.session_id);
        return;
      }
      case "connection.created":
        await channelStub(this.env, report.channel_id).addConnection(report.session_id, nodeName, report.connection);
        return;
      case "connection.destroyed":
        await channelStub(this.env, report.channel_id).removeConnection(report.session_id, report.connection_id);
        return;
      case "user_agent_stats":
        await channelStub(this.env, report.channel_id).recordUserAgentStats(report.connection_id, report.timestamp, report.stats);
        return;
      case "counters":
        await this.store.putCounters(nodeName, report.counters);
        return;
      case "place": {
        const placement = await this.place(nodeName, report.channel_id);
        this.links.send(ws, { type: "response", id: report.id, ...placement });
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
        this.links.send(
          ws,
          outcome.ok
            ? { type: "rpc_result", id: report.id, ok: true, result: outcome.answer }
            : { type: "rpc_result", id: report.id, ok: false, error_type: outcome.body.error_type, error_reason: outcome.body.error_reason },
        );
        return;
      }
    }
  }

  /** Where a new session of `channelId` belongs: its live owner, else the asking node takes it. */
  private async place(nodeName: string, channelId: string): Promise<{ owner: string; redirect_url?: string }> {
    const now = Date.now();
    const current = await this.store.owner(channelId);
    if (current && current.node_name !== nodeName && this.links.socketOf(current.node_name)) {
      const confirmed = current.session_id !== null || now - current.claimed_at < CLAIM_TTL_MS;
      const owner = await this.store.node(current.node_name);
      if (confirmed && owner) return { owner: owner.node_name, redirect_url: owner.external_signaling_url };
    }
    const record = await this.store.node(nodeName);
    if (!current || current.node_name !== nodeName) {
      await this.store.putOwner({
        channel_id: channelId,
        node_name: nodeName,
        epoch: record?.epoch ?? 0,
        session_id: null,
        multistream: false,
        spotlight: false,
        simulcast: false,
        claimed_at: now,
      });
    }
    return { owner: nodeName };
  }

  // ---------------------------------------------------------------------------------------------
  // RPC for the Worker and ChannelObject

  /** Sends a command to a node and waits for its ack (NODE-UNREACHABLE when not linked or silent). */
  async command(nodeName: string, command: NodeCommand): Promise<CommandOutcome> {
    return this.links.command(nodeName, command, this.commandTimeoutMs);
  }

  /**
   * `GET /signaling`: the signaling URL a client of `channelId` should use: the live owner's, else
   * the least loaded connected member's (preferring nodes in `normal` mode). Null when no node is linked.
   */
  async signalingUrlFor(channelId: string): Promise<string | null> {
    const connected = this.links.connectedNames();
    const owner = await this.store.owner(channelId);
    if (owner && connected.has(owner.node_name)) {
      const record = await this.store.node(owner.node_name);
      if (record) return record.external_signaling_url;
    }
    const candidates = (await this.store.nodes()).filter((n) => connected.has(n.node_name));
    if (candidates.length === 0) return null;
    const load = async (n: NodeRecord) => (await this.store.counters(n.node_name))?.total_ongoing_connections ?? 0;
    const scored = await Promise.all(
      candidates.map(async (n) => ({ n, rank: [n.member ? 0 : 1, n.mode === "normal" ? 0 : 1, await load(n)] as const })),
    );
    scored.sort((a, b) => a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1] || a.rank[2] - b.rank[2] || a.n.node_name.localeCompare(b.n.node_name));
    return scored[0]!.n.external_signaling_url;
  }

  // ---------------------------------------------------------------------------------------------
  // API

  ListChannels(_: ApiRequest<"ListChannels">): Promise<ApiResult<ApiAnswer<"ListChannels">>> {
    return toApiResult(async () => {
      const connected = this.links.connectedNames();
      return (await this.liveOwners())
        .filter((o) => connected.has(o.node_name))
        .map((o) => ({ channel_id: o.channel_id, multistream: o.multistream, spotlight: o.spotlight }));
    });
  }

  ListConnections(_: ApiRequest<"ListConnections">): Promise<ApiResult<ApiAnswer<"ListConnections">>> {
    return toApiResult(async () => {
      const connected = this.links.connectedNames();
      const owners = (await this.liveOwners()).filter((o) => connected.has(o.node_name));
      const lists = await Promise.all(owners.map((o) => channelStub(this.env, o.channel_id).connectionList()));
      return lists.flat();
    });
  }

  InitCluster(request: ApiRequest<"InitCluster">): Promise<ApiResult<ApiAnswer<"InitCluster">>> {
    return toApiResult(async () => {
      const names = [...new Set(request.node_name_list)];
      const nodes = await this.store.nodes();
      const byName = new Map(nodes.map((n) => [n.node_name, n]));
      const unknown = names.filter((n) => !byName.has(n));
      if (unknown.length > 0) throw new ApiError("NODE-NOT-FOUND", { node_name_list: unknown });
      const connected = this.links.connectedNames();
      const down = names.filter((n) => !connected.has(n));
      if (down.length > 0) throw new ApiError("NODE-NOT-CONNECTED", { node_name_list: down });
      const listed = new Set(names);
      const updated = nodes.map((n) => (listed.has(n.node_name) ? { ...n, member: true, epoch: 1 } : { ...n, member: false }));
      await this.store.putNodes(updated);
      this.welcomeAgain(updated);
      return { node_name_list: names.sort() };
    });
  }

  JoinCluster(request: ApiRequest<"JoinCluster">): Promise<ApiResult<ApiAnswer<"JoinCluster">>> {
    return toApiResult(async () => {
      const connected = this.links.connectedNames();
      const nodes = await this.store.nodes();
      const members = nodes.filter((n) => n.member);
      const contact = nodes.find((n) => n.node_name === request.contact_node_name);
      if (!contact) throw new ApiError("NODE-NOT-FOUND", { node_name: request.contact_node_name });
      if (!contact.member) throw new ApiError("NOT-CLUSTER-MEMBER", { node_name: contact.node_name });
      if (!connected.has(contact.node_name)) throw new ApiError("NODE-NOT-CONNECTED", { node_name: contact.node_name });
      if (!hasMajority(members, connected)) throw new ApiError("NO-QUORUM", { members: members.length });
      let joining: NodeRecord[];
      if (request.node_name !== undefined) {
        const node = nodes.find((n) => n.node_name === request.node_name);
        if (!node) throw new ApiError("NODE-NOT-FOUND", { node_name: request.node_name });
        if (!connected.has(node.node_name)) throw new ApiError("NODE-NOT-CONNECTED", { node_name: node.node_name });
        joining = node.member ? [] : [node];
      } else {
        joining = nodes.filter((n) => !n.member && connected.has(n.node_name));
      }
      const joined = joining.map((n) => ({ ...n, member: true, epoch: n.epoch + 1 }));
      await this.store.putNodes(joined);
      this.welcomeAgain(joined);
      return { node_name_list: [...members, ...joined].map((n) => n.node_name).sort() };
    });
  }

  ListClusterNodes(request: ApiRequest<"ListClusterNodes">): Promise<ApiResult<ApiAnswer<"ListClusterNodes">>> {
    return toApiResult(async () => {
      const connected = this.links.connectedNames();
      const nodes = (await this.store.nodes()).sort((a, b) => a.node_name.localeCompare(b.node_name));
      const answer: ApiAnswer<"ListClusterNodes"> = nodes
        .filter((n) => n.member)
        .map((n) => ({
          node_name: n.node_name,
          epoch: n.epoch,
          external_signaling_url: n.external_signaling_url,
          external_api_url: n.external_api_url,
          version: n.version,
          license_max_nodes: n.license_max_nodes,
          license_max_connections: n.license_max_connections,
          license_serial_code: n.license_serial_code,
          license_type: n.license_type,
          connected: connected.has(n.node_name),
          mode: n.mode,
        }));
      if (request.include_all_known_nodes) {
        for (const n of nodes) if (!n.member) answer.push({ node_name: n.node_name, connected: connected.has(n.node_name) });
      }
      return answer;
    });
  }

  ListClusterChannels(_: ApiRequest<"ListClusterChannels">): Promise<ApiResult<ApiAnswer<"ListClusterChannels">>> {
    return toApiResult(async () => {
      const connected = this.links.connectedNames();
      const nodes = new Map((await this.store.nodes()).map((n) => [n.node_name, n]));
      return (await this.liveOwners()).map((o) => ({
        channel_id: o.channel_id,
        owners: [
          {
            node_name: o.node_name,
            epoch: o.epoch,
            epoch_latest: nodes.get(o.node_name)?.epoch ?? o.epoch,
            connected: connected.has(o.node_name),
          },
        ],
      }));
    });
  }

  PurgeClusterNode(request: ApiRequest<"PurgeClusterNode">): Promise<ApiResult<ApiAnswer<"PurgeClusterNode">>> {
    return toApiResult(async () => {
      const target = request.target_node_name;
      const record = await this.store.node(target);
      if (!record) throw new ApiError("NODE-NOT-FOUND", { target_node: target });
      const connected = this.links.connectedNames();
      if (connected.has(target)) throw new ApiError("NODE-IS-ALIVE", { target_node: target });
      const remaining = (await this.store.members()).filter((m) => m.node_name !== target);
      if (!hasMajority(remaining, connected)) throw new ApiError("NO-QUORUM", { members: remaining.length });
      for (const owner of await this.store.owners()) {
        if (owner.node_name !== target) continue;
        await this.store.deleteOwner(owner.channel_id);
        if (owner.session_id) await channelStub(this.env, owner.channel_id).endSession(owner.session_id);
      }
      await this.store.deleteNode(target);
      return { target_node_name: target };
    });
  }

  ChangeMode(request: ApiRequest<"ChangeMode">): Promise<ApiResult<ApiAnswer<"ChangeMode">>> {
    return toApiResult(async () => {
      const targets = await this.modeTargets(request.node_name);
      // The stored mode is the desired state: a node gets it with every welcome, so one that is
      // down now takes it when it comes back. Connected nodes are commanded now.
      await this.store.putNodes(targets.map((n) => ({ ...n, mode: request.mode })));
      const connected = this.links.connectedNames();
      const outcomes = await Promise.all(
        targets
          .filter((n) => connected.has(n.node_name))
          .map(async (n) => ({ n, outcome: await this.command(n.node_name, { name: "change_mode", mode: request.mode }) })),
      );
      const failed = outcomes.filter((o) => !o.outcome.ok).map((o) => o.n.node_name);
      if (failed.length > 0) throw new ApiError("NODE-UNREACHABLE", { node_name_list: failed, stored: true });
      return { mode: request.mode };
    });
  }

  GetMode(request: ApiRequest<"GetMode">): Promise<ApiResult<ApiAnswer<"GetMode">>> {
    return toApiResult(async () => {
      const targets = await this.modeTargets(request.node_name, true);
      if (targets.length === 0) return { mode: "initial" as const };
      const modes = targets.map((n) => n.mode);
      if (modes.every((m) => m === modes[0])) return { mode: modes[0]! };
      return { mode: mostRestrictive(modes), modes: Object.fromEntries(targets.map((n) => [n.node_name, n.mode])) };
    });
  }

  GetStatsReport(_: ApiRequest<"GetStatsReport">): Promise<ApiResult<ApiAnswer<"GetStatsReport">>> {
    return toApiResult(async () => {
      const connected = this.links.connectedNames();
      const nodes = await this.store.nodes();
      let answered = 0;
      const all = await Promise.all(
        nodes.map(async (n): Promise<NodeCounters | undefined> => {
          if (connected.has(n.node_name)) {
            const outcome = await this.links.command(n.node_name, { name: "get_counters" }, Math.min(STATS_TIMEOUT_MS, this.commandTimeoutMs));
            const fresh = outcome.ok ? nodeCountersSchema.safeParse(outcome.result) : undefined;
            if (fresh?.success) {
              answered++;
              await this.store.putCounters(n.node_name, fresh.data);
              return fresh.data;
            }
            return this.store.counters(n.node_name);
          }
          // A node without a link serves nobody: its history counts, its ongoing connections do not.
          const last = await this.store.counters(n.node_name);
          return last && { ...last, total_ongoing_connections: 0 };
        }),
      );
      const members = nodes.filter((n) => n.member);
      return statsReport(sumCounters(all.filter((c): c is NodeCounters => c !== undefined)), {
        store: "durable-object",
        members: members.length,
        connected_members: members.filter((m) => connected.has(m.node_name)).length,
        known_nodes: nodes.length,
        epoch_max: Math.max(0, ...nodes.map((n) => n.epoch)),
        channels: (await this.liveOwners()).length,
        nodes_answered: answered,
      });
    });
  }

  ListUserAgentStats(_: ApiRequest<"ListUserAgentStats">): Promise<ApiResult<ApiAnswer<"ListUserAgentStats">>> {
    return toApiResult(async () => {
      const lists = await Promise.all((await this.liveOwners()).map((o) => channelStub(this.env, o.channel_id).userAgentStats()));
      return lists.flat();
    });
  }

  /** ListUserAgentStats under Sora's current name. */
  ListRtcStats(request: ApiRequest<"ListRtcStats">): Promise<ApiResult<ApiAnswer<"ListRtcStats">>> {
    return this.ListUserAgentStats(request);
  }

  GetStatsAllConnections(_: ApiRequest<"GetStatsAllConnections">): Promise<ApiResult<ApiAnswer<"GetStatsAllConnections">>> {
    return toApiResult(async () => {
      const connected = this.links.connectedNames();
      const owners = (await this.liveOwners()).filter((o) => connected.has(o.node_name));
      const lists = await Promise.all(owners.map((o) => channelStub(this.env, o.channel_id).connectionStatsList()));
      return lists.flat() as ApiAnswer<"GetStatsAllConnections">;
    });
  }

  GenerateCrashLog(request: ApiRequest<"GenerateCrashLog">): Promise<ApiResult<ApiAnswer<"GenerateCrashLog">>> {
    return toApiResult(async () => {
      const connected = this.links.connectedNames();
      let names: string[];
      if (request.node_name !== undefined) {
        if (!(await this.store.node(request.node_name))) throw new ApiError("NODE-NOT-FOUND", { node_name: request.node_name });
        names = [request.node_name];
      } else {
        names = [...connected].sort();
        if (names.length === 0) throw new ApiError("NO-CONNECTED-NODE");
      }
      const command: NodeCommand = request.info === undefined ? { name: "generate_crash_log" } : { name: "generate_crash_log", info: request.info };
      const outcomes = await Promise.all(names.map(async (name) => ({ name, outcome: await this.command(name, command) })));
      const failed = outcomes.find((o) => !o.outcome.ok);
      if (failed) throw ApiError.fromNode(failed.outcome.error_type, failed.outcome.error_reason, failed.name);
      return {};
    });
  }

  // ---------------------------------------------------------------------------------------------

  /** Owners with a session (a bare `place` claim is not a channel yet). */
  private async liveOwners(): Promise<ChannelOwner[]> {
    return (await this.store.owners()).filter((o) => o.session_id !== null).sort((a, b) => a.channel_id.localeCompare(b.channel_id));
  }

  /** ChangeMode/GetMode scope: one named node, or every member. */
  private async modeTargets(nodeName: string | undefined, allowEmpty = false): Promise<NodeRecord[]> {
    if (nodeName !== undefined) {
      const node = await this.store.node(nodeName);
      if (!node) throw new ApiError("NODE-NOT-FOUND", { node_name: nodeName });
      return [node];
    }
    const members = await this.store.members();
    if (members.length === 0 && !allowEmpty) throw new ApiError("NO-CLUSTER-MEMBER");
    return members;
  }

  /** After a membership change, connected nodes learn their new member flag and epoch. */
  private welcomeAgain(records: readonly NodeRecord[]): void {
    for (const r of records) {
      const ws = this.links.socketOf(r.node_name);
      if (ws) this.links.send(ws, { type: "welcome", node_name: r.node_name, member: r.member, epoch: r.epoch, mode: r.mode });
    }
  }
}

function ownerOf(snapshot: ChannelSnapshot, record: NodeRecord): ChannelOwner {
  return {
    channel_id: snapshot.channel_id,
    node_name: record.node_name,
    epoch: record.epoch,
    session_id: snapshot.session_id,
    multistream: snapshot.multistream,
    spotlight: snapshot.spotlight,
    simulcast: snapshot.simulcast,
    claimed_at: Date.now(),
  };
}
