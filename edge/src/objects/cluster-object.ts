import { DurableObject } from "cloudflare:workers";
import type { ApiAnswer, ApiRequest } from "../../../shared/api/catalog.js";
import type { ApiResult } from "../../../shared/api/errors.js";
import { COMMAND_TIMEOUT_MS, type ChannelSnapshot, type Hello, type NodeLoad } from "../../../shared/control-protocol.js";
import type { ApiHandlers } from "../api-handlers.js";
import { numberVar, type Env } from "../env.js";
import { CallCounter } from "./call-counter.js";
import { ClusterApi } from "./cluster-api.js";
import type { ChannelServing } from "./channel-object.js";
import { ClusterRegistry, type HelloOutcome } from "./cluster-registry.js";
import { ClusterStore } from "./cluster-store.js";
import type { PlacementEntry } from "./placement.js";

// The cluster: one instance (idFromName("cluster")) keeping membership, epochs, modes, which
// nodes are linked, their latest loads (the placement table) and the channel → serving nodes index.
// A thin shell over its parts: ClusterRegistry (what NodeObjects report: hellos, link ends,
// loads, sessions) and ClusterApi (the cluster-wide HTTP API). It holds no WebSocket and sees no
// per-connection traffic: each node's link lives in its NodeObject, which sends connection
// reports straight to the channel's ChannelObject. See docs/edge.md and docs/scaling.md.

export class ClusterObject extends DurableObject<Env> implements ApiHandlers<"cluster"> {
  private readonly registry: ClusterRegistry;
  private readonly api: ClusterApi;
  private readonly calls = new CallCounter();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const store = new ClusterStore(ctx.storage);
    this.registry = new ClusterRegistry(store, env);
    this.api = new ClusterApi(store, this.registry, env, numberVar(env.COMMAND_TIMEOUT_MS, COMMAND_TIMEOUT_MS));
  }

  // ---------------------------------------------------------------------------------------------
  // From NodeObjects (O(membership changes + sessions + load reports), never per connection)

  nodeHello(hello: Hello, linkId: string): Promise<HelloOutcome> {
    this.calls.count("nodeHello");
    return this.changing(this.registry.hello(hello, linkId));
  }

  nodeSnapshotPart(nodeName: string, channels: ChannelSnapshot[], live: string[] | null, complete: boolean): Promise<void> {
    this.calls.count("nodeSnapshotPart");
    return this.changing(this.registry.snapshotPart(nodeName, channels, live, complete));
  }

  nodeUnlinked(nodeName: string, linkId: string): Promise<void> {
    this.calls.count("nodeUnlinked");
    return this.changing(this.registry.unlinked(nodeName, linkId));
  }

  nodeLoad(nodeName: string, load: NodeLoad): Promise<void> {
    this.calls.count("nodeLoad");
    return this.registry.load(nodeName, load);
  }

  /** A session report (`nodeName`'s) changed what its ChannelObject holds: the serving nodes it answered (null: no session). */
  channelIndexed(nodeName: string, channelId: string, serving: ChannelServing | null): Promise<void> {
    this.calls.count("channelIndexed");
    return this.changing(this.registry.indexChannel(channelId, serving, nodeName), false);
  }

  /** Connected nodes with membership, mode and load; NodeObjects and the Worker cache it (placement-cache.ts). */
  placementTable(): Promise<PlacementEntry[]> {
    this.calls.count("placementTable");
    return this.registry.placementTable();
  }

  // ---------------------------------------------------------------------------------------------
  // API (cluster-api.ts)

  ListChannels(request: ApiRequest<"ListChannels">): Promise<ApiResult<ApiAnswer<"ListChannels">>> {
    this.calls.count("ListChannels");
    return this.api.ListChannels(request);
  }
  ListConnections(request: ApiRequest<"ListConnections">): Promise<ApiResult<ApiAnswer<"ListConnections">>> {
    this.calls.count("ListConnections");
    return this.api.ListConnections(request);
  }
  InitCluster(request: ApiRequest<"InitCluster">): Promise<ApiResult<ApiAnswer<"InitCluster">>> {
    this.calls.count("InitCluster");
    return this.changing(this.api.InitCluster(request));
  }
  JoinCluster(request: ApiRequest<"JoinCluster">): Promise<ApiResult<ApiAnswer<"JoinCluster">>> {
    this.calls.count("JoinCluster");
    return this.changing(this.api.JoinCluster(request));
  }
  ListClusterNodes(request: ApiRequest<"ListClusterNodes">): Promise<ApiResult<ApiAnswer<"ListClusterNodes">>> {
    this.calls.count("ListClusterNodes");
    return this.api.ListClusterNodes(request);
  }
  ListClusterChannels(request: ApiRequest<"ListClusterChannels">): Promise<ApiResult<ApiAnswer<"ListClusterChannels">>> {
    this.calls.count("ListClusterChannels");
    return this.api.ListClusterChannels(request);
  }
  PurgeClusterNode(request: ApiRequest<"PurgeClusterNode">): Promise<ApiResult<ApiAnswer<"PurgeClusterNode">>> {
    this.calls.count("PurgeClusterNode");
    return this.changing(this.api.PurgeClusterNode(request));
  }
  ChangeMode(request: ApiRequest<"ChangeMode">): Promise<ApiResult<ApiAnswer<"ChangeMode">>> {
    this.calls.count("ChangeMode");
    return this.api.ChangeMode(request);
  }
  GetMode(request: ApiRequest<"GetMode">): Promise<ApiResult<ApiAnswer<"GetMode">>> {
    this.calls.count("GetMode");
    return this.api.GetMode(request);
  }
  GetStatsReport(request: ApiRequest<"GetStatsReport">): Promise<ApiResult<ApiAnswer<"GetStatsReport">>> {
    this.calls.count("GetStatsReport");
    return this.api.GetStatsReport(request);
  }
  ListUserAgentStats(request: ApiRequest<"ListUserAgentStats">): Promise<ApiResult<ApiAnswer<"ListUserAgentStats">>> {
    this.calls.count("ListUserAgentStats");
    return this.api.ListUserAgentStats(request);
  }

  ListRtcStats(request: ApiRequest<"ListRtcStats">): Promise<ApiResult<ApiAnswer<"ListRtcStats">>> {
    this.calls.count("ListRtcStats");
    return this.api.ListRtcStats(request);
  }
  GetStatsAllConnections(request: ApiRequest<"GetStatsAllConnections">): Promise<ApiResult<ApiAnswer<"GetStatsAllConnections">>> {
    this.calls.count("GetStatsAllConnections");
    return this.api.GetStatsAllConnections(request);
  }
  GenerateCrashLog(request: ApiRequest<"GenerateCrashLog">): Promise<ApiResult<ApiAnswer<"GenerateCrashLog">>> {
    this.calls.count("GenerateCrashLog");
    return this.api.GenerateCrashLog(request);
  }

  /**
   * A change GetStatsReport's answer depends on (membership, links, the channel index): its shared
   * answer is dropped before and after; `nodesChanged` false for a channel-index change, which
   * leaves the nodes' counters as they are.
   */
  private changing<T>(change: Promise<T>, nodesChanged = true): Promise<T> {
    this.api.statsChanged(nodesChanged);
    return change.finally(() => this.api.statsChanged(nodesChanged));
  }

  /** Calls this instance handled (call-counter.ts), for the edge load test. */
  callCounts(): { since: number; counts: Record<string, number> } {
    return this.calls.snapshot();
  }
}
