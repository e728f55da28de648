import type { NodeCounters, NodeLoad, NodeMode } from "../../../shared/control-protocol.js";

// Everything the Cluster Durable Object persists, behind one class: node records (members and
// known nodes), which node has a live link (as its NodeObject reports it), each node's latest
// load (for the placement table) and the channel → serving nodes index. Keys are prefixed so a kind
// lists with one `storage.list({prefix})`. The DO's storage caches in memory, so reads are cheap.
//
// `counters:` keys are the pre-NodeObject store (v1): counters now live in each NodeObject; the
// old ones are only read, as the last known counters of a node whose NodeObject has none.

export interface NodeRecord {
  node_name: string;
  /** A cluster member (else only "known": it linked once but never joined). */
  member: boolean;
  /** Times the node has (re)joined; 0 for a node that never joined. */
  epoch: number;
  external_signaling_url: string;
  external_api_url: string | null;
  version: string;
  license_max_nodes: number | null;
  license_max_connections: number | null;
  license_serial_code: string | null;
  license_type: string | null;
  /** The mode the cluster wants this node in; wins over the node's own on every hello. */
  mode: NodeMode;
  /** ms since epoch: last hello or link close. */
  last_seen: number;
}

/** One node serving a channel, as the index keeps it. */
export interface OwnerNode {
  node_name: string;
  /** The node's epoch when it took (or last re-synced) the channel (ListClusterChannels `epoch`). */
  epoch: number;
}

export interface ChannelOwner {
  channel_id: string;
  /** The node that started the session (the first of `nodes`). */
  node_name: string;
  /** The owner's epoch when it took the channel (ListClusterChannels `epoch`). */
  epoch: number;
  /** Every node serving the session (cluster relay); absent in entries stored before it: the owner alone (ownerNodes()). */
  nodes?: OwnerNode[];
  /** Null between a `place` claim and the node's `session.created`. */
  session_id: string | null;
  multistream: boolean;
  spotlight: boolean;
  simulcast: boolean;
  /** ms since epoch of the claim; an unconfirmed claim expires (CLAIM_TTL_MS). */
  claimed_at: number;
}

/** The nodes serving a channel. */
export function ownerNodes(owner: ChannelOwner): OwnerNode[] {
  return owner.nodes ?? [{ node_name: owner.node_name, epoch: owner.epoch }];
}

const NODE = "node:";
const OWNER = "owner:";
const COUNTERS = "counters:";
const LINK = "link:";
const LOAD = "load:";

/** A node's live link as its NodeObject announced it. */
export interface LinkRecord {
  link_id: string;
  since: number;
}

export class ClusterStore {
  constructor(private readonly storage: DurableObjectStorage) {}

  node(name: string): Promise<NodeRecord | undefined> {
    return this.storage.get<NodeRecord>(NODE + name);
  }

  async nodes(): Promise<NodeRecord[]> {
    return [...(await this.storage.list<NodeRecord>({ prefix: NODE })).values()];
  }

  async members(): Promise<NodeRecord[]> {
    return (await this.nodes()).filter((n) => n.member);
  }

  putNode(record: NodeRecord): Promise<void> {
    return this.storage.put(NODE + record.node_name, record);
  }

  async putNodes(records: NodeRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.storage.put(Object.fromEntries(records.map((r) => [NODE + r.node_name, r])));
  }

  /** Forgets a node entirely (PurgeClusterNode). */
  async deleteNode(name: string): Promise<void> {
    await this.storage.delete([NODE + name, COUNTERS + name, LINK + name, LOAD + name]);
  }

  async links(): Promise<Map<string, LinkRecord>> {
    const map = new Map<string, LinkRecord>();
    for (const [key, link] of await this.storage.list<LinkRecord>({ prefix: LINK })) map.set(key.slice(LINK.length), link);
    return map;
  }

  link(name: string): Promise<LinkRecord | undefined> {
    return this.storage.get<LinkRecord>(LINK + name);
  }

  putLink(name: string, link: LinkRecord): Promise<void> {
    return this.storage.put(LINK + name, link);
  }

  async deleteLink(name: string): Promise<void> {
    await this.storage.delete(LINK + name);
  }

  async loads(): Promise<Map<string, NodeLoad>> {
    const map = new Map<string, NodeLoad>();
    for (const [key, load] of await this.storage.list<NodeLoad>({ prefix: LOAD })) map.set(key.slice(LOAD.length), load);
    return map;
  }

  putLoad(name: string, load: NodeLoad): Promise<void> {
    return this.storage.put(LOAD + name, load);
  }

  owner(channelId: string): Promise<ChannelOwner | undefined> {
    return this.storage.get<ChannelOwner>(OWNER + channelId);
  }

  async owners(): Promise<ChannelOwner[]> {
    return [...(await this.storage.list<ChannelOwner>({ prefix: OWNER })).values()];
  }

  putOwner(owner: ChannelOwner): Promise<void> {
    return this.storage.put(OWNER + owner.channel_id, owner);
  }

  async deleteOwner(channelId: string): Promise<void> {
    await this.storage.delete(OWNER + channelId);
  }

  /** The counters a v1 edge stored for `name` (read-only: NodeObject keeps them now). */
  legacyCounters(name: string): Promise<NodeCounters | undefined> {
    return this.storage.get<NodeCounters>(COUNTERS + name);
  }
}
