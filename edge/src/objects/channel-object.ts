import { DurableObject } from "cloudflare:workers";
import type { ApiAnswer, ApiNamesOf, ApiRequest } from "../../../shared/api/catalog.js";
import { connectionStatsAnswer } from "../../../shared/api/answers.js";
import { ApiError, toApiResult, type ApiResult } from "../../../shared/api/errors.js";
import { applyConnectionCall } from "../../../shared/connection-calls.js";
import type { ChannelSnapshot, ConnectionCall, ConnectionInfo, NodeCommand, NodeReport, PausedStream, RidRequest } from "../../../shared/control-protocol.js";
import { withRidRequest, withRidReset } from "../../../shared/rid-requests.js";
import type { ApiHandlers } from "../api-handlers.js";
import { clusterStub, durationVar, nodeStub, type Env } from "../env.js";
import { CHANNEL_PERSIST_MS, ChannelStore, servingNodes, withoutConnections, type ChannelControl, type ChannelSession, type StoredConnection } from "./channel-store.js";
import { CallCounter } from "./call-counter.js";
import type { CommandOutcome } from "./node-links.js";
import { placeInChannel, placeNewSession, signalingTarget, withFullNodes, type PlacementEntry } from "./placement.js";
import { applyMetadataChange, type MetadataChange } from "../../../shared/notify-metadata.js";

// One channel (idFromName(channel_id)): its session, which media nodes serve it (cluster relay,
// docs/relay.md), its connections (each on the node that reported it) and what the API asked of
// it (metadata, paused streams, rid requests, forwards, audio streaming), plus the latest
// user-agent stats, and where a client of the channel goes (a node's `place`). Fed by each
// serving node's reports through its NodeObject; API calls are checked here, then the nodes
// concerned are commanded (through their NodeObjects: channel-wide state to every serving node,
// a connection's own call to the node hosting it) with the channel's full new state, and the
// state is stored only once they have acked (the nodes are where it takes effect).

type Result<N extends ApiNamesOf<"channel">> = Promise<ApiResult<ApiAnswer<N>>>;

/** How long a node that said it is full (`place` with `full`) counts as full here (two load reports). */
const FULL_NODE_MEMORY_MS = 4_000;
/** A `place` claim not confirmed by `session.created` within this time no longer holds the channel. */
const CLAIM_TTL_MS = 60_000;

/** A node's report that concerns one channel's connections (NodeObject forwards these in batches). */
export type ChannelReport = Extract<NodeReport, { type: "connection.created" | "connection.destroyed" | "user_agent_stats" }>;

/** The answer to a node's `place` (shared/control-protocol.ts `response`). */
export interface PlaceAnswer {
  owner: string;
  redirect_url?: string;
  /** The live session the asking node joins (cluster relay). */
  session_id?: string;
  refused?: string;
}

/** A channel's session as the cluster's channel index keeps it: which nodes serve it. */
export interface ChannelServing {
  channel_id: string;
  session_id: string;
  multistream: boolean;
  spotlight: boolean;
  simulcast: boolean;
  /** Serving nodes, the one that started the session first while it serves. */
  nodes: string[];
}

function servingOf(session: ChannelSession): ChannelServing {
  return {
    channel_id: session.channel_id,
    session_id: session.session_id,
    multistream: session.multistream,
    spotlight: session.spotlight,
    simulcast: session.simulcast,
    nodes: servingNodes(session).map((n) => n.node_name),
  };
}

/** A session's relay token: 192 random bits, hex (set_channel_nodes takes 16 to 128 characters). */
function newRelayToken(): string {
  return [...crypto.getRandomValues(new Uint8Array(24))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class ChannelObject extends DurableObject<Env> implements ApiHandlers<"channel"> {
  private readonly store: ChannelStore;
  /** API calls that change state run one at a time (read, command the node, write). */
  private mutations: Promise<unknown> = Promise.resolve();
  /** Reports and state changes (`serialized`) and API reads (`requireSession`). */
  private readonly calls = new CallCounter();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new ChannelStore(ctx.storage, durationVar(env.CHANNEL_PERSIST_MS, CHANNEL_PERSIST_MS));
  }

  // ---------------------------------------------------------------------------------------------
  // Placement (the channel is its own placement shard: no single object on the connect path)

  /**
   * A node asks where a client of this channel goes (`table`: the asking NodeObject's cached
   * placement table). A session live on connected nodes: placement.ts `placeInChannel` (affinity,
   * room; the asking node may join the live session: `session_id`). Else the node whose recent
   * claim holds the channel, else the least loaded member (placement.ts), which is claimed.
   */
  claim(asking: string, reported: PlacementEntry[], full = false): Promise<PlaceAnswer> {
    return this.serialized(async () => {
      const table = this.withFullNodes(reported, full ? asking : undefined);
      const session = await this.store.session();
      const serving = session ? this.liveServing(session, table, asking) : [];
      if (session && serving.length > 0) {
        const decision = placeInChannel(table, asking, serving, this.affinity());
        if (decision.kind === "refuse") return { owner: asking, refused: decision.reason };
        if (decision.kind === "redirect") return { owner: decision.entry.node_name, redirect_url: decision.entry.signaling_url };
        // Served here: join the live session when another node serves it (docs/relay.md).
        return serving.some((n) => n !== asking) ? { owner: asking, session_id: session.session_id } : { owner: asking };
      }
      const holder = await this.claimHolder(asking, table);
      if (holder) return holder.node_name === asking ? { owner: asking } : { owner: holder.node_name, redirect_url: holder.signaling_url };
      const decision = placeNewSession(table, asking);
      if (decision.kind === "refuse") return { owner: asking, refused: decision.reason };
      const chosen = decision.kind === "owner" ? asking : decision.entry.node_name;
      await this.store.putClaim({ node_name: chosen, claimed_at: Date.now() });
      return decision.kind === "owner" ? { owner: asking } : { owner: chosen, redirect_url: decision.entry.signaling_url };
    });
  }

  /**
   * Nodes that said they were full when they asked (`place` with `full`), until their load reports
   * catch up: a node's load is up to LOAD_REPORT_INTERVAL_MS old, and placement tables are cached,
   * so without this a client could be sent back to the full node it just left. In memory: a
   * restarted object forgets it, and the next report says the same.
   */
  private readonly fullUntil = new Map<string, number>();

  private withFullNodes(table: PlacementEntry[], nowFull: string | undefined): PlacementEntry[] {
    const now = Date.now();
    if (nowFull !== undefined) this.fullUntil.set(nowFull, now + FULL_NODE_MEMORY_MS);
    for (const [name, until] of this.fullUntil) if (until <= now) this.fullUntil.delete(name);
    return withFullNodes(table, new Set(this.fullUntil.keys()));
  }

  /** `GET /signaling`: the same rule as `claim` without an asking node (and no claim made); null when none has room. */
  async signalingUrl(reported: PlacementEntry[]): Promise<string | null> {
    const table = this.withFullNodes(reported, undefined);
    const session = await this.store.session();
    const serving = session ? this.liveServing(session, table, undefined) : [];
    if (serving.length > 0) {
      const decision = placeInChannel(table, undefined, serving, this.affinity());
      return decision.kind === "redirect" ? decision.entry.signaling_url : null;
    }
    const holder = await this.claimHolder(undefined, table);
    if (holder) return holder.signaling_url;
    return signalingTarget(table)?.signaling_url ?? null;
  }

  /** `CHANNEL_AFFINITY` (default on): keep the channel on the nodes already serving it while they have room. */
  private affinity(): boolean {
    return this.env.CHANNEL_AFFINITY !== "false";
  }

  /** The session's serving nodes that are connected (in `table`); the asking node's own counts even when the table is older than its link. */
  private liveServing(session: ChannelSession, table: readonly PlacementEntry[], asking: string | undefined): string[] {
    const live = new Set(table.map((e) => e.node_name));
    return servingNodes(session)
      .map((n) => n.node_name)
      .filter((n) => live.has(n) || n === asking);
  }

  /** The connected node whose unexpired `place` claim (no session yet) holds this channel. */
  private async claimHolder(asking: string | undefined, table: readonly PlacementEntry[]): Promise<{ node_name: string; signaling_url: string } | undefined> {
    const claim = await this.store.claim();
    if (!claim || Date.now() - claim.claimed_at >= CLAIM_TTL_MS) return undefined;
    if (claim.node_name === asking) return { node_name: asking, signaling_url: "" };
    return table.find((e) => e.node_name === claim.node_name);
  }

  // ---------------------------------------------------------------------------------------------
  // Reports from the serving nodes (through their NodeObjects). Each node reports only its own
  // connections. Each of these answers what the cluster's channel index keeps (null: no session).

  /**
   * session.created/updated or a hello snapshot (or one part of it) from `nodeName`. The same
   * session: the node serves it (added when new: every serving node is told), its view of its own
   * connections replaces ours (connections listed in `connection_ids` but not carried keep
   * theirs). Another session replaces the channel's state, as before the relay (the previous
   * session's nodes are no longer tracked; see docs/relay.md).
   */
  syncSession(nodeName: string, snapshot: ChannelSnapshot, signalingUrl?: string): Promise<ChannelServing | null> {
    return this.serialized(async () => {
      const current = await this.store.session();
      let session: ChannelSession;
      let added = false;
      if (current && current.session_id === snapshot.session_id) {
        let nodes = servingNodes(current);
        const known = nodes.find((n) => n.node_name === nodeName);
        if (!known) {
          nodes = [...nodes, { node_name: nodeName, signaling_url: signalingUrl ?? "" }];
          added = true;
        } else if (signalingUrl && known.signaling_url !== signalingUrl) {
          nodes = nodes.map((n) => (n.node_name === nodeName ? { ...n, signaling_url: signalingUrl } : n));
        }
        session = { ...current, nodes, relay_token: current.relay_token ?? newRelayToken() };
        // The session's flags are the first serving node's word (the one that started it, while it serves).
        if (nodeName === nodes[0]?.node_name) {
          session = { ...session, multistream: snapshot.multistream, spotlight: snapshot.spotlight, simulcast: snapshot.simulcast };
        }
      } else {
        if (current) await this.store.clear();
        session = {
          channel_id: snapshot.channel_id,
          session_id: snapshot.session_id,
          node_name: nodeName,
          nodes: [{ node_name: nodeName, signaling_url: signalingUrl ?? "" }],
          relay_token: newRelayToken(),
          multistream: snapshot.multistream,
          spotlight: snapshot.spotlight,
          simulcast: snapshot.simulcast,
          created_at: snapshot.created_at,
        };
      }
      await this.store.putSession(session);
      // A part of a split snapshot lists every live connection of the node but carries only some.
      const live = new Set(snapshot.connection_ids ?? snapshot.connections.map((c) => c.connection_id));
      const gone = (await this.store.connections()).filter((c) => c.node_name === nodeName && !live.has(c.connection_id)).map((c) => c.connection_id);
      await this.store.deleteConnections(gone);
      await this.store.putConnections(snapshot.connections.map((c) => ({ ...c, node_name: nodeName })));
      let control = await this.store.control();
      if (gone.length > 0) control = withoutConnections(control, new Set(gone));
      // The node streams or not (StartAudioStreaming, or on its own after the session webhook's answer).
      if (snapshot.audio_streaming !== undefined) control = { ...control, audio_streaming: snapshot.audio_streaming };
      await this.store.putControl(control);
      await this.store.persisted();
      if (added) this.announceNodes([nodeName]);
      return servingOf(session);
    });
  }

  /** `nodeName`'s session.destroyed (or the cluster dropped it: purge, a hello without the channel): it no longer serves; the session ends with its last node. */
  endSession(nodeName: string, sessionId: string): Promise<ChannelServing | null> {
    return this.serialized(async () => {
      const current = await this.store.session();
      if (!current) return null;
      if (current.session_id !== sessionId) return servingOf(current); // a stale report
      return this.withoutNode(current, nodeName, true);
    });
  }

  /** `nodeName`'s link ended: it no longer serves the channel, unless it was the last node (kept, as before the relay: its hello brings the session back). */
  nodeLeft(nodeName: string): Promise<ChannelServing | null> {
    return this.serialized(async () => {
      const current = await this.store.session();
      if (!current) return null;
      return this.withoutNode(current, nodeName, false);
    });
  }

  private async withoutNode(session: ChannelSession, nodeName: string, endWhenLast: boolean): Promise<ChannelServing | null> {
    const nodes = servingNodes(session);
    const remaining = nodes.filter((n) => n.node_name !== nodeName);
    if (remaining.length === nodes.length) return servingOf(session);
    if (remaining.length === 0) {
      if (!endWhenLast) return servingOf(session);
      await this.store.clear();
      return null;
    }
    const updated: ChannelSession = { ...session, nodes: remaining };
    await this.store.putSession(updated);
    const gone = (await this.store.connections()).filter((c) => c.node_name === nodeName).map((c) => c.connection_id);
    await this.store.deleteConnections(gone);
    if (gone.length > 0) await this.store.putControl(withoutConnections(await this.store.control(), new Set(gone)));
    await this.store.persisted();
    this.announceNodes([]);
    return servingOf(updated);
  }

  /**
   * Tells every serving node the current set (`set_channel_nodes`), then gives `joined` nodes the
   * channel's control state. Queued behind the change (so API calls keep their order with it)
   * but not awaited by the report that caused it: a node that does not ack holds the queue for
   * one COMMAND_TIMEOUT_MS at most, never the reporting node's link.
   */
  private announceNodes(joined: readonly string[]): void {
    void this.serialized(async () => {
      const session = await this.withSignalingUrls(await this.store.session());
      if (!session?.relay_token) return;
      const nodes = servingNodes(session);
      const command: NodeCommand = {
        name: "set_channel_nodes",
        channel_id: session.channel_id,
        session_id: session.session_id,
        relay_token: session.relay_token,
        nodes,
      };
      const control = await this.store.control();
      await Promise.all(
        nodes.map(async ({ node_name }) => {
          const outcome = await this.tryCommand(node_name, command);
          if (!outcome.ok) console.warn("set_channel_nodes not acked", session.channel_id, node_name, outcome.error_type);
          if (joined.includes(node_name)) await this.prime(node_name, session, control);
        }),
      );
    }).catch((err) => console.error("announcing a channel's nodes failed", err));
  }

  /**
   * A session stored before the relay knows its owner's name only: its signaling URL (which
   * `set_channel_nodes` needs) is read once from the cluster's placement table and stored.
   */
  private async withSignalingUrls(session: ChannelSession | undefined): Promise<ChannelSession | undefined> {
    if (!session || servingNodes(session).every((n) => n.signaling_url !== "")) return session;
    const table = new Map((await clusterStub(this.env).placementTable()).map((e) => [e.node_name, e.signaling_url]));
    const nodes = servingNodes(session).map((n) => (n.signaling_url === "" ? { ...n, signaling_url: table.get(n.node_name) ?? "" } : n));
    const updated = { ...session, nodes };
    await this.store.putSession(updated);
    return updated;
  }

  /** A node that joined a live session gets the channel-wide state the others already have. */
  private async prime(nodeName: string, session: ChannelSession, control: ChannelControl): Promise<void> {
    const channel_id = session.channel_id;
    const commands: NodeCommand[] = [];
    if (control.paused.length > 0) commands.push({ name: "set_paused_streams", channel_id, paused: control.paused });
    if (control.rid_requests.length > 0) commands.push({ name: "set_rid_requests", channel_id, requests: control.rid_requests });
    const spotlightRids = control.spotlight_rid_requests ?? [];
    if (spotlightRids.length > 0) commands.push({ name: "set_spotlight_rid_requests", channel_id, requests: spotlightRids });
    if (control.audio_subscribers.length > 0) {
      commands.push({ name: "set_audio_streaming_subscribers", channel_id, connection_ids: control.audio_subscribers });
    }
    if (control.audio_streaming) commands.push({ name: "start_audio_streaming", channel_id });
    for (const command of commands) {
      const outcome = await this.tryCommand(nodeName, command);
      if (!outcome.ok) console.warn("priming a joined node failed", channel_id, nodeName, command.name, outcome.error_type);
    }
  }

  /**
   * Consecutive reports of one node about this channel, applied in their order in one step of the
   * channel's queue (after the API calls and reports before them): served from memory, with no
   * await between reports; connections are written behind (channel-store.ts), the control state
   * at once when a leave changed it (a paused pair, a forward, ... that named the connection).
   */
  applyReports(nodeName: string, reports: ChannelReport[]): Promise<void> {
    this.calls.count("applyReports");
    return this.serialized(async () => {
      await this.store.loadedNow();
      const sessionId = this.store.sessionNow()?.session_id;
      let gone: Set<string> | undefined;
      for (const r of reports) {
        if (r.type === "connection.created") {
          // A report of a session we do not hold (stale) changes nothing.
          if (r.session_id === sessionId) this.store.setConnection({ ...r.connection, node_name: nodeName });
        } else if (r.type === "connection.destroyed") {
          if (r.session_id !== sessionId) continue;
          this.store.removeConnection(r.connection_id);
          (gone ??= new Set()).add(r.connection_id);
        } else if (this.store.connectionNow(r.connection_id)) {
          this.store.setUserAgentStats(r.connection_id, { timestamp: r.timestamp, stats: r.stats });
        }
      }
      if (!gone) return;
      const control = this.store.controlNow();
      const next = withoutConnections(control, gone);
      // Most connections leave nothing in the control state: no write for them.
      if (controlShrank(control, next)) await this.store.putControl(next);
    });
  }

  /** ListUserAgentStats' share of this channel. */
  async userAgentStats(): Promise<ApiAnswer<"ListChannelUserAgentStats">> {
    const session = await this.store.session();
    if (!session) return [];
    return [...(await this.store.allUserAgentStats())].map(([connection_id, s]) => ({
      channel_id: session.channel_id,
      connection_id,
      timestamp: s.timestamp,
      user_agent_stats: s.stats,
    }));
  }

  /** ListConnections' share of this channel (live connections, each as its own node reported it). */
  async connectionList(): Promise<ApiAnswer<"ListChannelConnections">> {
    const session = await this.store.session();
    if (!session) return [];
    return (await this.store.connections())
      .sort((a, b) => a.created_at - b.created_at || a.connection_id.localeCompare(b.connection_id))
      .map((c) => ({
        channel_id: session.channel_id,
        client_id: c.client_id,
        bundle_id: c.bundle_id,
        connection_id: c.connection_id,
        role: c.role,
        // Nodes before audio/video were reported: a connection has both unless it said otherwise.
        audio: c.audio ?? true,
        video: c.video ?? true,
        simulcast: c.simulcast,
        spotlight: c.spotlight,
        multistream: session.multistream,
        created_time: Math.floor(c.created_at / 1000),
      }));
  }

  // ---------------------------------------------------------------------------------------------
  // Connections: list, disconnect, push

  ListChannelConnections(request: ApiRequest<"ListChannelConnections">): Result<"ListChannelConnections"> {
    return toApiResult(async () => {
      await this.requireSession(request.channel_id);
      return this.connectionList();
    });
  }

  DisconnectChannel(request: ApiRequest<"DisconnectChannel">): Result<"DisconnectChannel"> {
    return this.mutate(async () => {
      const session = await this.requireSession(request.channel_id);
      await this.commandAll(session, withReason({ name: "disconnect", channel_id: session.channel_id }, request.reason));
      return { channel_id: request.channel_id };
    });
  }

  DisconnectClient(request: ApiRequest<"DisconnectClient">): Result<"DisconnectClient"> {
    return this.mutate(async () => {
      const session = await this.requireClient(request.channel_id, request.client_id);
      await this.commandNodes(
        await this.nodesOfClient(request.client_id),
        withReason({ name: "disconnect", channel_id: session.channel_id, client_id: request.client_id }, request.reason),
      );
      return { channel_id: request.channel_id, client_id: request.client_id };
    });
  }

  DisconnectConnection(request: ApiRequest<"DisconnectConnection">): Result<"DisconnectConnection"> {
    return this.mutate(async () => {
      const { session, connection } = await this.requireConnection(request.channel_id, request.connection_id);
      await this.commandNode(
        connection.node_name,
        withReason({ name: "disconnect", channel_id: session.channel_id, connection_id: request.connection_id }, request.reason),
      );
      return { channel_id: request.channel_id, connection_id: request.connection_id };
    });
  }

  DisconnectChannelByRole(request: ApiRequest<"DisconnectChannelByRole">): Result<"DisconnectChannelByRole"> {
    return this.mutate(async () => {
      const session = await this.requireSession(request.channel_id);
      await this.commandAll(session, withReason({ name: "disconnect", channel_id: session.channel_id, role: request.role }, request.reason));
      return { channel_id: request.channel_id, role: request.role };
    });
  }

  PushChannel(request: ApiRequest<"PushChannel">): Result<"PushChannel"> {
    return this.mutate(async () => {
      const session = await this.requireSession(request.channel_id);
      await this.commandAll(session, { name: "push", channel_id: session.channel_id, data: request.data });
      return { type: "push" as const, data: request.data };
    });
  }

  PushClient(request: ApiRequest<"PushClient">): Result<"PushClient"> {
    return this.mutate(async () => {
      const session = await this.requireClient(request.channel_id, request.client_id);
      await this.commandNodes(await this.nodesOfClient(request.client_id), { name: "push", channel_id: session.channel_id, client_id: request.client_id, data: request.data });
      return { type: "push" as const, data: request.data };
    });
  }

  PushConnection(request: ApiRequest<"PushConnection">): Result<"PushConnection"> {
    return this.mutate(async () => {
      const { session, connection } = await this.requireConnection(request.channel_id, request.connection_id);
      await this.commandNode(connection.node_name, {
        name: "push",
        channel_id: session.channel_id,
        connection_ids: [request.connection_id],
        data: request.data,
      });
      return { type: "push" as const, data: request.data };
    });
  }

  PushChannelByRole(request: ApiRequest<"PushChannelByRole">): Result<"PushChannelByRole"> {
    return this.mutate(async () => {
      const session = await this.requireSession(request.channel_id);
      await this.commandAll(session, { name: "push", channel_id: session.channel_id, role: request.role, data: request.data });
      return { type: "push" as const, data: request.data };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Spotlight

  FocusSpotlightFixed(request: ApiRequest<"FocusSpotlightFixed">): Result<"FocusSpotlightFixed"> {
    return this.changeFocus(request, "fixed");
  }

  FocusSpotlight(request: ApiRequest<"FocusSpotlight">): Result<"FocusSpotlight"> {
    return this.changeFocus(request, "focus");
  }

  UnfocusSpotlight(request: ApiRequest<"UnfocusSpotlight">): Result<"UnfocusSpotlight"> {
    return this.changeFocus(request, "unfocus");
  }

  ChangeSpotlightNumber(request: ApiRequest<"ChangeSpotlightNumber">): Result<"ChangeSpotlightNumber"> {
    return this.mutate(async () => {
      const session = await this.requireSpotlight(request.channel_id);
      await this.commandAll(session, { name: "change_spotlight_number", channel_id: session.channel_id, spotlight_number: request.spotlight_number });
      return { channel_id: request.channel_id, spotlight_number: request.spotlight_number };
    });
  }

  private changeFocus(request: { channel_id: string; connection_id: string }, focus: "focus" | "fixed" | "unfocus") {
    return this.mutate(async () => {
      const session = await this.requireSpotlight(request.channel_id);
      await this.requireConnection(request.channel_id, request.connection_id);
      await this.commandAll(session, { name: "set_spotlight_focus", channel_id: session.channel_id, connection_id: request.connection_id, focus });
      return { channel_id: request.channel_id, connection_id: request.connection_id };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Signaling notify metadata

  ListSignalingNotifyMetadata(request: ApiRequest<"ListSignalingNotifyMetadata">): Result<"ListSignalingNotifyMetadata"> {
    return toApiResult(async () => {
      await this.requireSession(request.channel_id);
      return (await this.store.connections()).map((c) => ({
        connection_id: c.connection_id,
        bundle_id: c.bundle_id,
        client_id: c.client_id,
        metadata: c.signaling_notify_metadata ?? {},
      }));
    });
  }

  GetSignalingNotifyMetadata(request: ApiRequest<"GetSignalingNotifyMetadata">): Result<"GetSignalingNotifyMetadata"> {
    return toApiResult(async () => {
      const { connection } = await this.requireConnection(request.channel_id, request.connection_id);
      return connection.signaling_notify_metadata ?? {};
    });
  }

  PutSignalingNotifyMetadata(request: ApiRequest<"PutSignalingNotifyMetadata">): Result<"PutSignalingNotifyMetadata"> {
    return this.changeMetadata(request, { action: "PutMetadata", metadata: request.metadata });
  }

  DeleteSignalingNotifyMetadata(request: ApiRequest<"DeleteSignalingNotifyMetadata">): Result<"DeleteSignalingNotifyMetadata"> {
    return this.changeMetadata(request, { action: "DeleteMetadata" });
  }

  PutSignalingNotifyMetadataItem(request: ApiRequest<"PutSignalingNotifyMetadataItem">): Result<"PutSignalingNotifyMetadataItem"> {
    return this.changeMetadata(request, { action: "PutMetadataItem", key: request.key, value: request.value });
  }

  DeleteSignalingNotifyMetadataItem(
    request: ApiRequest<"DeleteSignalingNotifyMetadataItem">,
  ): Result<"DeleteSignalingNotifyMetadataItem"> {
    return this.changeMetadata(request, { action: "DeleteMetadataItem", key: request.key });
  }

  private changeMetadata(
    request: { channel_id: string; connection_id: string; push?: boolean | undefined },
    change: MetadataChange,
  ): Promise<ApiResult<unknown>> {
    return this.mutate(async () => {
      const { session, connection } = await this.requireConnection(request.channel_id, request.connection_id);
      const outcome = applyMetadataChange(connection.connection_id, connection.signaling_notify_metadata, change);
      await this.commandMetadata(session, connection, outcome.after, request.push ? outcome.push : undefined);
      // Re-read: the connection may have left while the node was busy.
      const latest = await this.store.connection(connection.connection_id);
      if (latest) {
        const { signaling_notify_metadata: _old, ...rest } = latest;
        await this.store.putConnection(outcome.after === undefined ? rest : { ...rest, signaling_notify_metadata: outcome.after });
        await this.store.persisted();
      }
      return outcome.answer;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Pause / resume

  PauseRtpStream(request: ApiRequest<"PauseRtpStream">): Result<"PauseRtpStream"> {
    const pair: PausedStream = { recv_connection_id: request.recv_connection_id, send_connection_id: request.send_connection_id };
    return this.changeControl(
      () => this.requireStreamPair(request),
      (session, control) => {
        const paused = [...control.paused.filter((p) => !samePair(p, pair)), pair];
        return { command: { name: "set_paused_streams", channel_id: session.channel_id, paused }, save: { paused }, answer: { channel_id: request.channel_id, ...pair } };
      },
    );
  }

  ResumeRtpStream(request: ApiRequest<"ResumeRtpStream">): Result<"ResumeRtpStream"> {
    const pair: PausedStream = { recv_connection_id: request.recv_connection_id, send_connection_id: request.send_connection_id };
    return this.changeControl(
      () => this.requireStreamPair(request),
      (session, control) => {
        const paused = control.paused.filter((p) => !samePair(p, pair));
        return { command: { name: "set_paused_streams", channel_id: session.channel_id, paused }, save: { paused }, answer: { channel_id: request.channel_id, ...pair } };
      },
    );
  }

  ListPauseRtpStreams(request: ApiRequest<"ListPauseRtpStreams">): Result<"ListPauseRtpStreams"> {
    return toApiResult(async () => {
      const session = await this.requireSession(request.channel_id);
      const roles = new Map((await this.store.connections()).map((c) => [c.connection_id, c.role]));
      return (await this.store.control()).paused.map((p) => ({
        channel_id: session.channel_id,
        recv_connection_id: p.recv_connection_id,
        send_connection_id: p.send_connection_id,
        role: roles.get(p.recv_connection_id) ?? "recvonly",
      }));
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Simulcast

  RequestRtpStream(request: ApiRequest<"RequestRtpStream">): Result<"RequestRtpStream"> {
    const wanted: RidRequest = { recv_connection_id: request.recv_connection_id, rid: request.rid };
    if (request.send_connection_id !== undefined) wanted.send_connection_id = request.send_connection_id;
    const answer: ApiAnswer<"RequestRtpStream"> = { channel_id: request.channel_id, recv_connection_id: request.recv_connection_id, rid: request.rid };
    if (request.send_connection_id !== undefined) answer.send_connection_id = request.send_connection_id;
    return this.changeControl(
      () => this.requireSimulcast(request),
      (session, control) => {
        const requests = withRidRequest(control.rid_requests, wanted);
        return { command: { name: "set_rid_requests", channel_id: session.channel_id, requests }, save: { rid_requests: requests }, answer };
      },
    );
  }

  ResetRtpStream(request: ApiRequest<"ResetRtpStream">): Result<"ResetRtpStream"> {
    const answer: ApiAnswer<"ResetRtpStream"> = { channel_id: request.channel_id, recv_connection_id: request.recv_connection_id };
    if (request.send_connection_id !== undefined) answer.send_connection_id = request.send_connection_id;
    return this.changeControl(
      () => this.requireSimulcast(request),
      (session, control) => {
        // Without a sender, every pair of that subscriber returns to its connect-time rid.
        const requests = withRidReset(control.rid_requests, request.recv_connection_id, request.send_connection_id);
        return { command: { name: "set_rid_requests", channel_id: session.channel_id, requests }, save: { rid_requests: requests }, answer };
      },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // DataChannel RPC (Sora 2025.2)

  /**
   * A connection's own RPC, sent by its node (which checked the method is granted and the
   * params well-formed): checked against the channel like the API call, the node commanded with
   * the new full state, stored once acked. The answer is the JSON-RPC result.
   */
  connectionCall(channelId: string, connectionId: string, call: ConnectionCall): Promise<ApiResult<unknown>> {
    return this.mutate(() => this.applyCall(channelId, connectionId, call));
  }

  /**
   * The HTTP twins of the RPCs (Sora_20251217.RequestSimulcastRid, Sora_20211215.Request/
   * ResetSpotlightRid) name the receiver instead of being it: the same decision
   * (shared/connection-calls.ts) with the receiver as caller. The answer echoes the request, so
   * the spotlight ones add the `send_connection_id` their RPC result leaves out.
   */
  RequestSimulcastRid(request: ApiRequest<"RequestSimulcastRid">): Result<"RequestSimulcastRid"> {
    return this.mutate(async () => {
      const call: ConnectionCall = { method: "RequestSimulcastRid", rid: request.rid };
      if (request.sender_connection_id !== undefined) call.sender_connection_id = request.sender_connection_id;
      return (await this.applyCall(request.channel_id, request.receiver_connection_id, call)) as ApiAnswer<"RequestSimulcastRid">;
    });
  }

  RequestSpotlightRid(request: ApiRequest<"RequestSpotlightRid">): Result<"RequestSpotlightRid"> {
    return this.mutate(async () => {
      const call: ConnectionCall = {
        method: "RequestSpotlightRid",
        spotlight_focus_rid: request.spotlight_focus_rid,
        spotlight_unfocus_rid: request.spotlight_unfocus_rid,
      };
      if (request.send_connection_id !== undefined) call.send_connection_id = request.send_connection_id;
      const result = (await this.applyCall(request.channel_id, request.recv_connection_id, call)) as ApiAnswer<"RequestSpotlightRid">;
      return request.send_connection_id === undefined ? result : { ...result, send_connection_id: request.send_connection_id };
    });
  }

  ResetSpotlightRid(request: ApiRequest<"ResetSpotlightRid">): Result<"ResetSpotlightRid"> {
    return this.mutate(async () => {
      const call: ConnectionCall = { method: "ResetSpotlightRid" };
      if (request.send_connection_id !== undefined) call.send_connection_id = request.send_connection_id;
      const result = (await this.applyCall(request.channel_id, request.recv_connection_id, call)) as ApiAnswer<"ResetSpotlightRid">;
      return request.send_connection_id === undefined ? result : { ...result, send_connection_id: request.send_connection_id };
    });
  }

  /** Applies one ConnectionCall of `callerId` (already inside the mutation queue); answers its result. */
  private async applyCall(channelId: string, callerId: string, call: ConnectionCall): Promise<unknown> {
    const { session, connection } = await this.requireConnection(channelId, callerId);
    const control = await this.store.control();
    const connections = await this.store.connections();
    const outcome = applyConnectionCall(
      {
        channelId: session.channel_id,
        callerId: connection.connection_id,
        spotlight: session.spotlight,
        simulcast: session.simulcast,
        connections: new Map(connections.map((c) => [c.connection_id, c])),
        ridRequests: control.rid_requests,
        spotlightRidRequests: control.spotlight_rid_requests ?? [],
        metadata: connection.signaling_notify_metadata,
      },
      call,
    );
    const channel_id = session.channel_id;
    if (outcome.ridRequests) {
      await this.commandAll(session, { name: "set_rid_requests", channel_id, requests: outcome.ridRequests });
      await this.saveControl({ rid_requests: outcome.ridRequests });
    }
    if (outcome.spotlightRidRequests) {
      await this.commandAll(session, { name: "set_spotlight_rid_requests", channel_id, requests: outcome.spotlightRidRequests });
      await this.saveControl({ spotlight_rid_requests: outcome.spotlightRidRequests });
    }
    if (outcome.metadata) {
      await this.commandMetadata(session, connection, outcome.metadata.after, outcome.metadata.push ?? undefined);
      const latest = await this.store.connection(connection.connection_id);
      if (latest) {
        await this.store.putConnection({ ...latest, signaling_notify_metadata: outcome.metadata.after });
        await this.store.persisted();
      }
    }
    return outcome.result;
  }

  // ---------------------------------------------------------------------------------------------
  // Statistics

  ListChannelUserAgentStats(request: ApiRequest<"ListChannelUserAgentStats">): Result<"ListChannelUserAgentStats"> {
    return toApiResult(async () => {
      await this.requireSession(request.channel_id);
      return this.userAgentStats();
    });
  }

  GetStatsConnection(request: ApiRequest<"GetStatsConnection">): Result<"GetStatsConnection"> {
    return toApiResult(async () => {
      const { session, connection } = await this.requireConnection(request.channel_id, request.connection_id);
      return this.connectionStats(session, connection);
    });
  }

  GetStatsClient(request: ApiRequest<"GetStatsClient">): Result<"GetStatsClient"> {
    return toApiResult(async () => {
      await this.requireClient(request.channel_id, request.client_id);
      return this.connectionStatsList(request.client_id);
    });
  }

  /**
   * GetStatsConnection of every connection (with that client_id when given), read from its own
   * node in parallel; one that left while being read is skipped. GetStatsAllConnections' share.
   */
  async connectionStatsList(clientId?: string): Promise<ApiAnswer<"GetStatsClient">> {
    const session = await this.store.session();
    if (!session) return [];
    const connections = (await this.store.connections()).filter((c) => clientId === undefined || c.client_id === clientId);
    const stats = await Promise.all(
      connections.map(async (c) => {
        try {
          return await this.connectionStats(session, c);
        } catch (err) {
          if (err instanceof ApiError && err.body.error_type === "CONNECTION-NOT-FOUND") return undefined;
          throw err;
        }
      }),
    );
    return stats.filter((s) => s !== undefined);
  }

  /** Asked of the node hosting the connection (each node counts only its own connections). */
  private async connectionStats(session: ChannelSession, connection: StoredConnection): Promise<ApiAnswer<"GetStatsConnection">> {
    const command: NodeCommand = { name: "get_connection_stats", channel_id: session.channel_id, connection_id: connection.connection_id };
    const result = await this.commandNode(connection.node_name, command);
    const stats = connectionStatsAnswer.safeParse(result);
    if (!stats.success) throw new ApiError("NODE-COMMAND-FAILED", { node_name: connection.node_name, detail: "malformed stats in the node's answer" });
    return stats.data;
  }

  // Sora's current names of the user-agent stats calls (Sora Cloud: `rtc_stats`).
  ListChannelRtcStats(request: ApiRequest<"ListChannelRtcStats">): Result<"ListChannelRtcStats"> {
    return this.ListChannelUserAgentStats(request);
  }

  GetRtcStats(request: ApiRequest<"GetRtcStats">): Result<"GetRtcStats"> {
    return this.GetUserAgentStats(request);
  }

  GetUserAgentStats(request: ApiRequest<"GetUserAgentStats">): Result<"GetUserAgentStats"> {
    return toApiResult(async () => {
      const { session, connection } = await this.requireConnection(request.channel_id, request.connection_id);
      const stats = await this.store.userAgentStats(connection.connection_id);
      if (!stats) throw new ApiError("USER-AGENT-STATS-NOT-FOUND", { channel_id: session.channel_id, connection_id: connection.connection_id });
      return { channel_id: session.channel_id, connection_id: connection.connection_id, stats: stats.stats, timestamp: stats.timestamp };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Audio streaming

  StartAudioStreaming(request: ApiRequest<"StartAudioStreaming">): Result<"StartAudioStreaming"> {
    return this.mutate(async () => {
      const session = await this.requireSession(request.channel_id);
      const control = await this.store.control();
      if (control.audio_streaming) throw new ApiError("ALREADY-STARTED", { channel_id: session.channel_id });
      // The node already holds the subscriber list (sent at every Subscribe/Unsubscribe).
      await this.commandAll(session, { name: "start_audio_streaming", channel_id: session.channel_id });
      await this.saveControl({ audio_streaming: true });
      return { session_id: session.session_id };
    });
  }

  StopAudioStreaming(request: ApiRequest<"StopAudioStreaming">): Result<"StopAudioStreaming"> {
    return this.mutate(async () => {
      const session = await this.requireSession(request.channel_id);
      if (!(await this.store.control()).audio_streaming) throw new ApiError("NOT-STARTED", { channel_id: session.channel_id });
      await this.commandAll(session, { name: "stop_audio_streaming", channel_id: session.channel_id });
      await this.saveControl({ audio_streaming: false });
      return { session_id: session.session_id };
    });
  }

  SubscribeAudioStreamingResultPush(request: ApiRequest<"SubscribeAudioStreamingResultPush">): Result<"SubscribeAudioStreamingResultPush"> {
    return this.changeSubscribers(request, true);
  }

  UnsubscribeAudioStreamingResultPush(
    request: ApiRequest<"UnsubscribeAudioStreamingResultPush">,
  ): Result<"UnsubscribeAudioStreamingResultPush"> {
    return this.changeSubscribers(request, false);
  }

  /**
   * Kept here and given whole to the node at every change, streaming or not: the node may start
   * streaming on its own (session webhook answer) and then needs the list at once.
   */
  private changeSubscribers(request: { channel_id: string; connection_id: string }, subscribe: boolean) {
    return this.changeControl(
      async () => (await this.requireConnection(request.channel_id, request.connection_id)).session,
      (session, control) => {
        const others = control.audio_subscribers.filter((id) => id !== request.connection_id);
        const audio_subscribers = subscribe ? [...others, request.connection_id] : others;
        return {
          command: { name: "set_audio_streaming_subscribers", channel_id: session.channel_id, connection_ids: audio_subscribers },
          save: { audio_subscribers },
          answer: { channel_id: request.channel_id, connection_id: request.connection_id },
        };
      },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // RTP forwarding, bitrate

  StartForwardingRtp(request: ApiRequest<"StartForwardingRtp">): Result<"StartForwardingRtp"> {
    return this.mutate(async () => {
      const session = await this.requireSession(request.channel_id);
      const connection = request.connection_id === undefined ? undefined : (await this.requireConnection(request.channel_id, request.connection_id)).connection;
      // The node is the authority on what it forwards (a forward ends by itself when its
      // sender leaves), so ALREADY-STARTED / NOT-STARTED come from its answer, not from here.
      const command: NodeCommand = {
        name: "start_forwarding_rtp",
        channel_id: session.channel_id,
        ip_address: request.ip_address,
        audio_port: request.audio_port,
        video_port: request.video_port,
      };
      if (request.connection_id !== undefined) command.connection_id = request.connection_id;
      // A connection's forward runs on its node; the channel's on every serving node (each
      // forwards its own connections), answered with the first node's SDP.
      const targets = connection ? [connection.node_name] : this.nodeNames(session);
      const [result] = await this.commandNodes(targets, command);
      const sdp = (result as { sdp?: unknown } | undefined)?.sdp;
      if (typeof sdp !== "string") throw new ApiError("NODE-COMMAND-FAILED", { node_name: targets[0], detail: "no sdp in the node's answer" });
      const { channel_id: _c, ...forward } = request;
      const control = await this.store.control();
      const others = control.forwards.filter((f) => f.connection_id !== request.connection_id);
      await this.saveControl({ forwards: [...others, forward] });
      return { sdp };
    });
  }

  StopForwardingRtp(request: ApiRequest<"StopForwardingRtp">): Result<"StopForwardingRtp"> {
    return this.mutate(async () => {
      const session = await this.requireSession(request.channel_id);
      const command: NodeCommand = { name: "stop_forwarding_rtp", channel_id: session.channel_id };
      if (request.connection_id !== undefined) command.connection_id = request.connection_id;
      const forget = async () => {
        const control = await this.store.control();
        await this.saveControl({ forwards: control.forwards.filter((f) => f.connection_id !== request.connection_id) });
      };
      // A connection's node when it is still here; else every serving node, of which one that
      // stopped it is enough (NOT-STARTED only when none had it).
      const connection = request.connection_id === undefined ? undefined : await this.store.connection(request.connection_id);
      try {
        if (connection) await this.commandNode(connection.node_name, command);
        else await this.commandAnyStopped(this.nodeNames(session), command);
      } catch (err) {
        if (err instanceof ApiError && err.body.error_type === "NOT-STARTED") await forget(); // it had ended on the node
        throw err;
      }
      await forget();
      const answer: ApiAnswer<"StopForwardingRtp"> = { channel_id: request.channel_id };
      if (request.connection_id !== undefined) answer.connection_id = request.connection_id;
      return answer;
    });
  }

  RequestKeyFrame(request: ApiRequest<"RequestKeyFrame">): Result<"RequestKeyFrame"> {
    return toApiResult(async () => {
      const { session, connection } = await this.requireConnection(request.channel_id, request.connection_id);
      await this.commandNode(connection.node_name, { name: "request_key_frame", channel_id: session.channel_id, connection_id: request.connection_id });
      return { channel_id: request.channel_id, connection_id: request.connection_id };
    });
  }

  ChangeUpstreamVideoBitRate(request: ApiRequest<"ChangeUpstreamVideoBitRate">): Result<"ChangeUpstreamVideoBitRate"> {
    return this.mutate(async () => {
      const { session, connection } = await this.requireConnection(request.channel_id, request.connection_id);
      await this.commandNode(connection.node_name, {
        name: "change_upstream_video_bit_rate",
        channel_id: session.channel_id,
        connection_id: request.connection_id,
        bit_rate: request.bit_rate,
      });
      return { channel_id: request.channel_id, connection_id: request.connection_id, bit_rate: request.bit_rate };
    });
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * The shape of most state-changing calls, as one step: require (the checks that answer Sora's
   * not-found errors) → read the channel's control state → command every serving node with the full
   * new state → save it once the node has acked. `build` is pure.
   */
  private changeControl<A>(
    require: () => Promise<ChannelSession>,
    build: (session: ChannelSession, control: ChannelControl) => { command: NodeCommand; save: Partial<ChannelControl>; answer: A },
  ): Promise<ApiResult<A>> {
    return this.mutate(async () => {
      const session = await require();
      const step = build(session, await this.store.control());
      await this.commandAll(session, step.command);
      await this.saveControl(step.save);
      return step.answer;
    });
  }

  private mutate<T>(handler: () => Promise<T>): Promise<ApiResult<T>> {
    return this.serialized(() => toApiResult(handler));
  }

  /**
   * Runs `work` after every earlier state change of this channel. Reports and API calls share the
   * queue: a `connection.destroyed` landing while a PauseRtpStream awaits the node's ack would
   * otherwise be overwritten by the call's stale read of the pause set.
   */
  private serialized<T>(work: () => Promise<T>): Promise<T> {
    this.calls.count("serialized");
    const run = this.mutations.then(work);
    this.mutations = run.catch(() => undefined);
    return run;
  }

  private async requireSession(channelId: string): Promise<ChannelSession> {
    this.calls.count("read");
    const session = await this.store.session();
    if (!session || session.channel_id !== channelId) throw new ApiError("CHANNEL-NOT-FOUND", { channel_id: channelId });
    return session;
  }

  private async requireConnection(channelId: string, connectionId: string): Promise<{ session: ChannelSession; connection: StoredConnection }> {
    const session = await this.requireSession(channelId);
    const connection = await this.store.connection(connectionId);
    if (!connection) throw new ApiError("CONNECTION-NOT-FOUND", { channel_id: channelId, connection_id: connectionId });
    return { session, connection };
  }

  /** DisconnectClient/PushClient: at least one connection of the channel has that client_id. */
  private async requireClient(channelId: string, clientId: string): Promise<ChannelSession> {
    const session = await this.requireSession(channelId);
    if (!(await this.store.connections()).some((c) => c.client_id === clientId)) {
      throw new ApiError("CLIENT-NOT-FOUND", { channel_id: channelId, client_id: clientId });
    }
    return session;
  }

  private async requireSpotlight(channelId: string): Promise<ChannelSession> {
    const session = await this.requireSession(channelId);
    if (!session.spotlight) throw new ApiError("SPOTLIGHT-NOT-ENABLED", { channel_id: channelId });
    return session;
  }

  private async requireStreamPair(request: { channel_id: string; recv_connection_id: string; send_connection_id: string }) {
    const { session } = await this.requireConnection(request.channel_id, request.recv_connection_id);
    await this.requireConnection(request.channel_id, request.send_connection_id);
    return session;
  }

  /** RequestRtpStream/ResetRtpStream: both ends exist, and the sender (or else the channel) sends simulcast. */
  private async requireSimulcast(request: { channel_id: string; recv_connection_id: string; send_connection_id?: string | undefined }) {
    const { session } = await this.requireConnection(request.channel_id, request.recv_connection_id);
    if (request.send_connection_id !== undefined) {
      const { connection: sender } = await this.requireConnection(request.channel_id, request.send_connection_id);
      if (!sender.simulcast && !session.simulcast) {
        throw new ApiError("SIMULCAST-NOT-ENABLED", { channel_id: session.channel_id, connection_id: sender.connection_id });
      }
    } else if (!session.simulcast && !(await this.store.connections()).some((c) => c.simulcast)) {
      throw new ApiError("SIMULCAST-NOT-ENABLED", { channel_id: session.channel_id });
    }
    return session;
  }

  /** A command's outcome from one node (never throws: no link or no ack in time is NODE-UNREACHABLE). */
  private async tryCommand(nodeName: string, command: NodeCommand): Promise<CommandOutcome> {
    // RPC typing turns `unknown` fields into `never`; the value is the plain CommandOutcome.
    return (await nodeStub(this.env, nodeName).command(nodeName, command)) as unknown as CommandOutcome;
  }

  /** Commands one node; a failed ack becomes that error (NODE-UNREACHABLE on timeout). */
  private async commandNode(nodeName: string, command: NodeCommand): Promise<unknown> {
    return (await this.commandEach([{ node_name: nodeName, command }]))[0];
  }

  /** Channel-wide commands go to every serving node. */
  private commandAll(session: ChannelSession, command: NodeCommand): Promise<unknown[]> {
    return this.commandNodes(this.nodeNames(session), command);
  }

  private commandNodes(nodeNames: readonly string[], command: NodeCommand): Promise<unknown[]> {
    return this.commandEach(nodeNames.map((node_name) => ({ node_name, command })));
  }

  /**
   * Sends every command at once (so an unreachable node costs one COMMAND_TIMEOUT_MS, not one per
   * node) and waits for all acks. A partial failure answers the first failing node's error in
   * list order (its node_name in error_reason); the nodes that acked keep what they were told,
   * and since commands carry the channel's full state, the next change or a retry brings every
   * node to the same state. Answers each node's result in order.
   */
  private async commandEach(targets: readonly { node_name: string; command: NodeCommand }[]): Promise<unknown[]> {
    const outcomes = await Promise.all(targets.map((t) => this.tryCommand(t.node_name, t.command)));
    const failed = outcomes.findIndex((o) => !o.ok);
    if (failed >= 0) throw ApiError.fromNode(outcomes[failed]!.error_type, outcomes[failed]!.error_reason, targets[failed]!.node_name);
    return outcomes.map((o) => o.result);
  }

  /** StopForwardingRtp over several nodes: done when one stopped it; NOT-STARTED only when every node says so. */
  private async commandAnyStopped(nodeNames: readonly string[], command: NodeCommand): Promise<void> {
    const outcomes = await Promise.all(nodeNames.map((n) => this.tryCommand(n, command)));
    const failed = outcomes.findIndex((o) => !o.ok && o.error_type !== "NOT-STARTED");
    if (failed >= 0) throw ApiError.fromNode(outcomes[failed]!.error_type, outcomes[failed]!.error_reason, nodeNames[failed]!);
    if (outcomes.some((o) => o.ok)) return;
    throw ApiError.fromNode(outcomes[0]?.error_type ?? "NOT-STARTED", outcomes[0]?.error_reason, nodeNames[0] ?? "");
  }

  /**
   * A connection's metadata goes to its node; a push that comes with it goes to that node (in the
   * same command) and to every other serving node as a plain channel `push` (same message).
   */
  private async commandMetadata(session: ChannelSession, connection: StoredConnection, metadata: unknown, push: unknown): Promise<void> {
    const channel_id = session.channel_id;
    const command: NodeCommand = { name: "set_notify_metadata", channel_id, connection_id: connection.connection_id };
    if (metadata !== undefined) command.metadata = metadata;
    if (push !== undefined) command.push = push;
    const others = push === undefined ? [] : this.nodeNames(session).filter((n) => n !== connection.node_name);
    await this.commandEach([
      { node_name: connection.node_name, command },
      ...others.map((node_name) => ({ node_name, command: { name: "push", channel_id, data: push } satisfies NodeCommand })),
    ]);
  }

  private nodeNames(session: ChannelSession): string[] {
    return servingNodes(session).map((n) => n.node_name);
  }

  /** The nodes hosting a connection of `clientId` (DisconnectClient, PushClient). */
  private async nodesOfClient(clientId: string): Promise<string[]> {
    return [...new Set((await this.store.connections()).filter((c) => c.client_id === clientId).map((c) => c.node_name))];
  }

  private async saveControl(change: Partial<ChannelControl>): Promise<void> {
    await this.store.putControl({ ...(await this.store.control()), ...change });
  }

  /** Calls this instance handled (call-counter.ts), for the edge load test. */
  callCounts(): { since: number; counts: Record<string, number> } {
    return this.calls.snapshot();
  }
}

/** A disconnect command with the API's `reason` when one was given. */
function withReason(command: Extract<NodeCommand, { name: "disconnect" }>, reason: Record<string, unknown> | undefined): NodeCommand {
  return reason === undefined ? command : { ...command, reason };
}

/** Whether withoutConnections removed anything (it only ever filters). */
function controlShrank(before: ChannelControl, after: ChannelControl): boolean {
  return (
    before.paused.length !== after.paused.length ||
    before.rid_requests.length !== after.rid_requests.length ||
    (before.spotlight_rid_requests?.length ?? 0) !== (after.spotlight_rid_requests?.length ?? 0) ||
    before.forwards.length !== after.forwards.length ||
    before.audio_subscribers.length !== after.audio_subscribers.length
  );
}

const samePair = (a: PausedStream, b: PausedStream) =>
  a.recv_connection_id === b.recv_connection_id && a.send_connection_id === b.send_connection_id;
