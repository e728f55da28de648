import {
  CONTROL_PROTOCOL_VERSION,
  type ChannelSnapshot,
  type EdgeMessage,
  type Hello,
  type NodeLoad,
} from "../../../shared/control-protocol.js";
import { channelStub, type Env } from "../env.js";
import type { ChannelServing } from "./channel-object.js";
import { ClusterStore, ownerNodes, type ChannelOwner, type NodeRecord, type OwnerNode } from "./cluster-store.js";
import { admit } from "./membership.js";
import type { PlacementEntry } from "./placement.js";

// ClusterObject's registry part: what NodeObjects tell the cluster and what it keeps of it —
// membership (a hello admitted by membership.ts's rules), which node has a live link, each
// node's latest load, and the channel → serving nodes index (sessions, not connections; the
// channel's ChannelObject decides which nodes serve it, the index keeps a copy for the cluster-wide
// lists). Every call here is per membership change, per session (or a node joining or leaving
// one) or per load report, never per connection.

export type Welcome = Extract<EdgeMessage, { type: "welcome" }>;
export type HelloOutcome = { welcome: Welcome } | { refused: string };


export class ClusterRegistry {
  constructor(
    private readonly store: ClusterStore,
    private readonly env: Env,
  ) {}

  /** Names of nodes with a live link. */
  async connected(): Promise<Set<string>> {
    return new Set((await this.store.links()).keys());
  }

  /** A node's hello (from its NodeObject, link `linkId`): admitted, its snapshot's channels adopted. */
  async hello(hello: Hello, linkId: string): Promise<HelloOutcome> {
    if (hello.protocol_version !== CONTROL_PROTOCOL_VERSION) return { refused: "unsupported protocol_version" };
    const now = Date.now();
    const connected = await this.connected();
    connected.delete(hello.node_name);
    const record = admit(await this.store.node(hello.node_name), hello, await this.store.members(), connected, now);
    await this.store.putNode(record);
    await this.store.putLink(record.node_name, { link_id: linkId, since: now });
    if (hello.load) await this.store.putLoad(record.node_name, hello.load);
    else await this.store.putLoad(record.node_name, loadFromCounters(hello.counters.total_ongoing_connections));
    if (hello.snapshot_complete !== false) {
      await this.forgetChannelsExcept(record.node_name, new Set(hello.channels.map((c) => c.channel_id)));
    }
    await this.adoptChannels(record, hello.channels);
    return { welcome: welcomeOf(record) };
  }

  /** A further part of a hello's snapshot; `live` (every channel listed in all parts) comes with the last. */
  async snapshotPart(nodeName: string, channels: ChannelSnapshot[], live: string[] | null, complete: boolean): Promise<void> {
    const record = await this.store.node(nodeName);
    if (!record) return;
    await this.adoptChannels(record, channels);
    if (!complete) return;
    // Without the earlier parts' list (the NodeObject was evicted mid-snapshot, which its parts
    // arriving back to back make unlikely) nothing is forgotten rather than too much.
    if (live) await this.forgetChannelsExcept(nodeName, new Set(live));
    else console.warn("snapshot completed without its first parts; keeping the node's other channels", nodeName);
  }

  /** The node's link `linkId` ended; a later link of the same node is left alone. */
  async unlinked(nodeName: string, linkId: string): Promise<void> {
    const link = await this.store.link(nodeName);
    if (!link || link.link_id !== linkId) return;
    await this.store.deleteLink(nodeName);
    const record = await this.store.node(nodeName);
    if (record) await this.store.putNode({ ...record, last_seen: Date.now() });
    // A channel that spans nodes goes on without this one (its last node is kept, as before the
    // relay: the node's next hello says whether its session lives on).
    for (const owner of await this.store.owners()) {
      const nodes = ownerNodes(owner);
      if (!owner.session_id || nodes.length < 2 || !nodes.some((n) => n.node_name === nodeName)) continue;
      await this.indexChannel(owner.channel_id, await channelStub(this.env, owner.channel_id).nodeLeft(nodeName));
    }
  }

  async load(nodeName: string, load: NodeLoad): Promise<void> {
    if (!(await this.store.link(nodeName))) return; // a late report of a link already gone
    await this.store.putLoad(nodeName, load);
  }

  /**
   * What the channel's ChannelObject answered after a session report (null: no session): its
   * serving nodes. `reporter` (the node whose report it was) takes its current epoch; the
   * others keep the one they joined with.
   */
  async indexChannel(channelId: string, serving: ChannelServing | null, reporter?: string): Promise<void> {
    if (!serving || serving.nodes.length === 0) return this.store.deleteOwner(channelId);
    const current = await this.store.owner(channelId);
    const known = new Map(current?.session_id === serving.session_id ? ownerNodes(current).map((n) => [n.node_name, n.epoch]) : []);
    const nodes: OwnerNode[] = [];
    for (const node_name of serving.nodes) {
      const epoch = node_name !== reporter ? known.get(node_name) : undefined;
      nodes.push({ node_name, epoch: epoch ?? (await this.store.node(node_name))?.epoch ?? 0 });
    }
    const first = nodes[0]!;
    await this.store.putOwner({
      channel_id: channelId,
      node_name: first.node_name,
      epoch: first.epoch,
      nodes,
      session_id: serving.session_id,
      multistream: serving.multistream,
      spotlight: serving.spotlight,
      simulcast: serving.simulcast,
      claimed_at: current?.claimed_at ?? Date.now(),
    });
  }

  /** Every connected node with what placement needs (placement.ts). */
  async placementTable(): Promise<PlacementEntry[]> {
    const links = await this.store.links();
    const loads = await this.store.loads();
    return (await this.store.nodes())
      .filter((n) => links.has(n.node_name))
      .map((n) => ({
        node_name: n.node_name,
        signaling_url: n.external_signaling_url,
        member: n.member,
        mode: n.mode,
        load: loads.get(n.node_name),
      }));
  }

  /** Owners with a session (a pre-NodeObject `place` claim without one is not a channel). */
  async liveOwners(): Promise<ChannelOwner[]> {
    return (await this.store.owners()).filter((o) => o.session_id !== null).sort((a, b) => a.channel_id.localeCompare(b.channel_id));
  }

  /** The hello snapshot is the truth about the node's channels: the ones it does not list are gone. */
  private async forgetChannelsExcept(nodeName: string, live: ReadonlySet<string>): Promise<void> {
    for (const owner of await this.store.owners()) {
      if (live.has(owner.channel_id) || !ownerNodes(owner).some((n) => n.node_name === nodeName)) continue;
      if (owner.session_id) await this.indexChannel(owner.channel_id, await channelStub(this.env, owner.channel_id).endSession(nodeName, owner.session_id));
      else await this.store.deleteOwner(owner.channel_id);
    }
  }

  /** Channels of a hello snapshot (or part): this node serves them, unless other live nodes serve another session of the channel. */
  private async adoptChannels(record: NodeRecord, channels: readonly ChannelSnapshot[]): Promise<void> {
    const connected = await this.connected();
    for (const snapshot of channels) {
      const current = await this.store.owner(snapshot.channel_id);
      if (
        current?.session_id &&
        current.session_id !== snapshot.session_id &&
        ownerNodes(current).some((n) => n.node_name !== record.node_name && connected.has(n.node_name))
      ) {
        console.warn("channel has another session on live nodes; keeping it", snapshot.channel_id, current.node_name, record.node_name);
        continue;
      }
      const serving = await channelStub(this.env, snapshot.channel_id).syncSession(record.node_name, snapshot, record.external_signaling_url);
      await this.indexChannel(snapshot.channel_id, serving, record.node_name);
    }
  }
}

export function welcomeOf(r: NodeRecord): Welcome {
  return { type: "welcome", node_name: r.node_name, member: r.member, epoch: r.epoch, mode: r.mode };
}

/** A node that reports counters but no load (older nodes, or before its first load report). */
export function loadFromCounters(ongoing: number, previous?: NodeLoad): NodeLoad {
  return {
    forwarded_packets_per_second: 0,
    cpu_percent: 0,
    event_loop_delay_p99_ms: 0,
    max_connections: null,
    ...previous,
    connections: ongoing,
  };
}
