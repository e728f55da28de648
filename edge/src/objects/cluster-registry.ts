import {
  CONTROL_PROTOCOL_VERSION,
  type ChannelSnapshot,
  type EdgeMessage,
  type Hello,
  type NodeLoad,
} from "../../../shared/control-protocol.js";
import { channelStub, type Env } from "../env.js";
import { ClusterStore, type ChannelOwner, type NodeRecord } from "./cluster-store.js";
import { admit } from "./membership.js";
import type { PlacementEntry } from "./placement.js";

// ClusterObject's registry part: what NodeObjects tell the cluster and what it keeps of it —
// membership (a hello admitted by membership.ts's rules), which node has a live link, each
// node's latest load, and the channel → owner index (sessions, not connections). Every call here
// is per membership change, per session or per load report, never per connection.

export type Welcome = Extract<EdgeMessage, { type: "welcome" }>;
export type HelloOutcome = { welcome: Welcome } | { refused: string };

/** A `session.created`/`session.updated` as the index keeps it. */
export type SessionSummary = Pick<ChannelSnapshot, "channel_id" | "session_id" | "multistream" | "spotlight" | "simulcast">;

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
  }

  async load(nodeName: string, load: NodeLoad): Promise<void> {
    if (!(await this.store.link(nodeName))) return; // a late report of a link already gone
    await this.store.putLoad(nodeName, load);
  }

  async indexSession(nodeName: string, session: SessionSummary): Promise<void> {
    const record = await this.store.node(nodeName);
    if (record) await this.store.putOwner(ownerOf(session, record));
  }

  async unindexSession(nodeName: string, channelId: string): Promise<void> {
    const owner = await this.store.owner(channelId);
    if (owner?.node_name === nodeName) await this.store.deleteOwner(channelId);
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
      if (owner.node_name === nodeName && !live.has(owner.channel_id)) {
        await this.store.deleteOwner(owner.channel_id);
        if (owner.session_id) await channelStub(this.env, owner.channel_id).endSession(owner.session_id);
      }
    }
  }

  /** Channels of a hello snapshot (or part): this node owns them, unless another live node does. */
  private async adoptChannels(record: NodeRecord, channels: readonly ChannelSnapshot[]): Promise<void> {
    const connected = await this.connected();
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

function ownerOf(session: SessionSummary, record: NodeRecord): ChannelOwner {
  return {
    channel_id: session.channel_id,
    node_name: record.node_name,
    epoch: record.epoch,
    session_id: session.session_id,
    multistream: session.multistream,
    spotlight: session.spotlight,
    simulcast: session.simulcast,
    claimed_at: Date.now(),
  };
}
