import type { ApiAnswer, ApiRequest } from "../../../shared/api/catalog.js";
import { ApiError, toApiResult, type ApiResult } from "../../../shared/api/errors.js";
import type { NodeCommand, NodeCounters } from "../../../shared/control-protocol.js";
import type { ApiHandlers } from "../api-handlers.js";
import { channelStub, nodeStub, type Env } from "../env.js";
import { welcomeOf, type ClusterRegistry } from "./cluster-registry.js";
import { ownerNodes, type ClusterStore, type NodeRecord } from "./cluster-store.js";
import type { ChannelServing } from "./channel-object.js";
import type { CommandOutcome } from "./node-links.js";
import { hasMajority, mostRestrictive } from "./membership.js";
import { statsReport, sumCounters } from "./stats-report.js";
import { NodeCountersCache } from "./node-counters-cache.js";

// ClusterObject's API part: Sora's cluster-wide HTTP API calls (catalog entries served by
// "cluster"), over the registry's membership and channel index. Node commands go through each
// node's NodeObject; per-channel lists are gathered from the ChannelObjects.

/** GetStatsReport asks connected nodes for fresh counters, but not for longer than this. */
const STATS_TIMEOUT_MS = 1_000;

/** GetStatsReport calls this close together share one answer (one fan-out to every node). */
const STATS_REUSE_MS = 1_000;

export class ClusterApi implements ApiHandlers<"cluster"> {
  /** Every node's counters for GetStatsReport, asked at a steady pace (node-counters-cache.ts). */
  private readonly nodeCounters: NodeCountersCache;

  constructor(
    private readonly store: ClusterStore,
    private readonly registry: ClusterRegistry,
    private readonly env: Env,
    private readonly commandTimeoutMs: number,
  ) {
    const timeoutMs = Math.min(STATS_TIMEOUT_MS, commandTimeoutMs);
    // Connected nodes are asked for fresh counters (their NodeObject falls back to the last
    // reported ones); a node without a link is asked for what its NodeObject kept.
    this.nodeCounters = new NodeCountersCache(
      (nodeName, live) => nodeStub(env, nodeName).statsCounters(nodeName, live, timeoutMs) as Promise<{ counters: NodeCounters | null; fresh: boolean }>,
    );
  }

  /**
   * The last ListChannels answer: it lists the whole index (a storage listing of every channel),
   * and changes only with the index and the links, which drop it (`statsChanged`). Reused for
   * at most STATS_REUSE_MS besides (storage written behind this object's back, in tests).
   */
  private channels: { at: number; answer: Promise<ApiResult<ApiAnswer<"ListChannels">>> } | undefined;

  ListChannels(request: ApiRequest<"ListChannels">): Promise<ApiResult<ApiAnswer<"ListChannels">>> {
    const now = Date.now();
    if (!this.channels || now - this.channels.at > STATS_REUSE_MS) {
      const entry = { at: now, answer: this.channelList(request) };
      this.channels = entry;
      void entry.answer.then((result) => {
        if (!result.ok && this.channels === entry) this.channels = undefined;
      });
    }
    return this.channels.answer;
  }

  private channelList(_: ApiRequest<"ListChannels">): Promise<ApiResult<ApiAnswer<"ListChannels">>> {
    return toApiResult(async () => {
      const connected = await this.registry.connected();
      return (await this.registry.liveOwners())
        .filter((o) => ownerNodes(o).some((n) => connected.has(n.node_name)))
        .map((o) => ({ channel_id: o.channel_id, multistream: o.multistream, spotlight: o.spotlight }));
    });
  }

  ListConnections(_: ApiRequest<"ListConnections">): Promise<ApiResult<ApiAnswer<"ListConnections">>> {
    return toApiResult(async () => {
      const connected = await this.registry.connected();
      // A channel once, whichever nodes serve it (each connection is listed by its own node only).
      const owners = (await this.registry.liveOwners()).filter((o) => ownerNodes(o).some((n) => connected.has(n.node_name)));
      const lists = await Promise.all(owners.map((o) => channelStub(this.env, o.channel_id).connectionList()));
      return lists.flat();
    });
  }

  /** ListUserAgentStats under Sora's current name. */
  ListRtcStats(request: ApiRequest<"ListRtcStats">): Promise<ApiResult<ApiAnswer<"ListRtcStats">>> {
    return this.ListUserAgentStats(request);
  }

  GetStatsAllConnections(_: ApiRequest<"GetStatsAllConnections">): Promise<ApiResult<ApiAnswer<"GetStatsAllConnections">>> {
    return toApiResult(async () => {
      const connected = await this.registry.connected();
      // A channel once, whichever nodes serve it (each connection is listed by its own node only).
      const owners = (await this.registry.liveOwners()).filter((o) => ownerNodes(o).some((n) => connected.has(n.node_name)));
      const lists = await Promise.all(owners.map((o) => channelStub(this.env, o.channel_id).connectionStatsList()));
      return lists.flat() as ApiAnswer<"GetStatsAllConnections">;
    });
  }

  InitCluster(request: ApiRequest<"InitCluster">): Promise<ApiResult<ApiAnswer<"InitCluster">>> {
    return toApiResult(async () => {
      const names = [...new Set(request.node_name_list)];
      const nodes = await this.store.nodes();
      const byName = new Map(nodes.map((n) => [n.node_name, n]));
      const unknown = names.filter((n) => !byName.has(n));
      if (unknown.length > 0) throw new ApiError("NODE-NOT-FOUND", { node_name_list: unknown });
      const connected = await this.registry.connected();
      const down = names.filter((n) => !connected.has(n));
      if (down.length > 0) throw new ApiError("NODE-NOT-CONNECTED", { node_name_list: down });
      const listed = new Set(names);
      const updated = nodes.map((n) => (listed.has(n.node_name) ? { ...n, member: true, epoch: 1 } : { ...n, member: false }));
      await this.store.putNodes(updated);
      await this.welcomeAgain(updated);
      return { node_name_list: names.sort() };
    });
  }

  JoinCluster(request: ApiRequest<"JoinCluster">): Promise<ApiResult<ApiAnswer<"JoinCluster">>> {
    return toApiResult(async () => {
      const connected = await this.registry.connected();
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
      await this.welcomeAgain(joined);
      return { node_name_list: [...members, ...joined].map((n) => n.node_name).sort() };
    });
  }

  ListClusterNodes(request: ApiRequest<"ListClusterNodes">): Promise<ApiResult<ApiAnswer<"ListClusterNodes">>> {
    return toApiResult(async () => {
      const connected = await this.registry.connected();
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
      const connected = await this.registry.connected();
      const nodes = new Map((await this.store.nodes()).map((n) => [n.node_name, n]));
      return (await this.registry.liveOwners()).map((o) => ({
        channel_id: o.channel_id,
        owners: ownerNodes(o).map((n) => ({
          node_name: n.node_name,
          epoch: n.epoch,
          epoch_latest: nodes.get(n.node_name)?.epoch ?? n.epoch,
          connected: connected.has(n.node_name),
        })),
      }));
    });
  }

  PurgeClusterNode(request: ApiRequest<"PurgeClusterNode">): Promise<ApiResult<ApiAnswer<"PurgeClusterNode">>> {
    return toApiResult(async () => {
      const target = request.target_node_name;
      const record = await this.store.node(target);
      if (!record) throw new ApiError("NODE-NOT-FOUND", { target_node: target });
      const connected = await this.registry.connected();
      if (connected.has(target)) throw new ApiError("NODE-IS-ALIVE", { target_node: target });
      const remaining = (await this.store.members()).filter((m) => m.node_name !== target);
      if (!hasMajority(remaining, connected)) throw new ApiError("NO-QUORUM", { members: remaining.length });
      for (const owner of await this.store.owners()) {
        if (!ownerNodes(owner).some((n) => n.node_name === target)) continue;
        if (!owner.session_id) {
          await this.store.deleteOwner(owner.channel_id);
          continue;
        }
        const serving = (await channelStub(this.env, owner.channel_id).endSession(target, owner.session_id)) as ChannelServing | null;
        await this.registry.indexChannel(owner.channel_id, serving);
      }
      await this.store.deleteNode(target);
      await nodeStub(this.env, target).forget();
      return { target_node_name: target };
    });
  }

  ChangeMode(request: ApiRequest<"ChangeMode">): Promise<ApiResult<ApiAnswer<"ChangeMode">>> {
    return toApiResult(async () => {
      const targets = await this.modeTargets(request.node_name);
      // The stored mode is the desired state: a node gets it with every welcome, so one that is
      // down now takes it when it comes back. Connected nodes are commanded now.
      await this.store.putNodes(targets.map((n) => ({ ...n, mode: request.mode })));
      const connected = await this.registry.connected();
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

  /**
   * The last GetStatsReport answer (or the one being computed) and when it was started: calls
   * within STATS_REUSE_MS share it — one fan-out to every NodeObject per second, not one per
   * call. Dropped at every membership, link or channel-index change (`statsChanged`), so only
   * the node counters in it can be older (they are ≤ 1 s old per node anyway, node-object.ts).
   */
  private stats: { at: number; answer: Promise<ApiResult<ApiAnswer<"GetStatsReport">>> } | undefined;

  /**
   * Membership, links or the channel index changed: the next GetStatsReport and ListChannels are
   * computed afresh; with `nodesChanged` (membership or links) every node's counters are asked again.
   */
  statsChanged(nodesChanged: boolean): void {
    this.stats = undefined;
    this.channels = undefined;
    if (nodesChanged) this.nodeCounters.clear();
  }

  GetStatsReport(request: ApiRequest<"GetStatsReport">): Promise<ApiResult<ApiAnswer<"GetStatsReport">>> {
    const now = Date.now();
    if (!this.stats || now - this.stats.at > STATS_REUSE_MS) {
      const entry = { at: now, answer: this.statsReport(request) };
      this.stats = entry;
      // A failed answer is not reused.
      void entry.answer.then((result) => {
        if (!result.ok && this.stats === entry) this.stats = undefined;
      });
    }
    return this.stats.answer;
  }

  private statsReport(_: ApiRequest<"GetStatsReport">): Promise<ApiResult<ApiAnswer<"GetStatsReport">>> {
    return toApiResult(async () => {
      const connected = await this.registry.connected();
      const nodes = await this.store.nodes();
      let answered = 0;
      const entries = await this.nodeCounters.read(nodes.map((n) => ({ node_name: n.node_name, live: connected.has(n.node_name) })));
      const all = await Promise.all(
        nodes.map(async (n, i): Promise<NodeCounters | undefined> => {
          // A node without a link serves nobody: its history counts, its ongoing connections do
          // not. Counters a v1 edge stored here stand in for a NodeObject's.
          const { counters, fresh, live } = entries[i]!;
          if (fresh) answered++;
          const last = counters ?? (await this.store.legacyCounters(n.node_name));
          return last && (live ? last : { ...last, total_ongoing_connections: 0 });
        }),
      );
      const members = nodes.filter((n) => n.member);
      return statsReport(sumCounters(all.filter((c): c is NodeCounters => c !== undefined)), {
        store: "durable-object",
        members: members.length,
        connected_members: members.filter((m) => connected.has(m.node_name)).length,
        known_nodes: nodes.length,
        epoch_max: Math.max(0, ...nodes.map((n) => n.epoch)),
        channels: (await this.registry.liveOwners()).length,
        nodes_answered: answered,
      });
    });
  }

  ListUserAgentStats(_: ApiRequest<"ListUserAgentStats">): Promise<ApiResult<ApiAnswer<"ListUserAgentStats">>> {
    return toApiResult(async () => {
      const lists = await Promise.all((await this.registry.liveOwners()).map((o) => channelStub(this.env, o.channel_id).userAgentStats()));
      return lists.flat();
    });
  }

  GenerateCrashLog(request: ApiRequest<"GenerateCrashLog">): Promise<ApiResult<ApiAnswer<"GenerateCrashLog">>> {
    return toApiResult(async () => {
      const connected = await this.registry.connected();
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

  /** Commands a node through its NodeObject (NODE-UNREACHABLE when not linked or silent). */
  private async command(nodeName: string, command: NodeCommand): Promise<CommandOutcome> {
    // RPC typing turns `unknown` fields into `never`; the value is the plain CommandOutcome.
    return (await nodeStub(this.env, nodeName).command(nodeName, command)) as unknown as CommandOutcome;
  }

  /** After a membership change, connected nodes learn their new member flag and epoch. */
  private async welcomeAgain(records: readonly NodeRecord[]): Promise<void> {
    await Promise.all(records.map((r) => nodeStub(this.env, r.node_name).sendWelcome(welcomeOf(r))));
  }
}
