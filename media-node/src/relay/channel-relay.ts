import type { ChannelNode } from "../../../shared/control-protocol.js";
import type { Channel } from "../sfu/channel.js";
import type { Connection } from "../sfu/connection.js";
import type { Publication } from "../sfu/publication.js";
import type { WebSocket } from "ws";
import { RelayLink, type RelayLinkDeps, type RelayLinkHost } from "./relay-link.js";
import type { RelayMessaging } from "./relay-protocol.js";
import { RelayServing, type RelayServingDeps } from "./relay-serving.js";
import type { RemoteMember } from "./remote-member.js";

// One Channel's cluster relay (docs/relay.md), owned by the Channel and closed first in its close
// cascade: the links pulling the channel from every other node set_channel_nodes lists
// (RelayLink), the other nodes' pulls of this node's own connections (RelayServing), and what a
// pulled remote member does to the local clients (notifies, subscriptions, re-offers).

export interface ChannelRelayDeps {
  link: Omit<RelayLinkDeps, "nodeName"> & { nodeName(): string };
  serving: Omit<RelayServingDeps, "deliverMessage">;
  /** A `#` message from a client of another node, for this node's clients. */
  deliverMessage(channel: Channel, message: RelayMessaging): void;
  /** A local client's `#` message went over one link. */
  onMessageSent(): void;
}

export class ChannelRelay implements RelayLinkHost {
  private readonly links = new Map<string, RelayLink>();
  private readonly servings = new Set<RelayServing>();
  private token?: string;
  private closed = false;
  private syncWaiters: (() => void)[] = [];
  /** RTP counted on links/servings already closed (GET /metrics). */
  private closedCounts = { received: 0, sent: 0, nackResent: 0 };

  constructor(
    private readonly channel: Channel,
    private readonly deps: ChannelRelayDeps,
  ) {}

  /**
   * Resolves once set_channel_nodes has been applied and every other listed node's connections
   * are known (each link's first `members` list), or after `timeoutMs`, or when closed. A node that
   * joins a live session waits for it before offering its first client, so that client's
   * connection.created counts and lists the other nodes' connections as Sora's does.
   */
  synced(timeoutMs: number): Promise<void> {
    if (this.isSynced()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiters = this.syncWaiters;
      function done(): void {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  private isSynced(): boolean {
    if (this.closed) return true;
    if (this.token === undefined) return false;
    for (const link of this.links.values()) if (!link.listed) return false;
    return true;
  }

  private releaseIfSynced(): void {
    if (this.syncWaiters.length === 0 || !this.isSynced()) return;
    for (const done of [...this.syncWaiters]) done();
  }

  membersListed(): void {
    this.releaseIfSynced();
  }

  pushToLocal(connectionIds: readonly string[], data: Record<string, unknown>): void {
    for (const id of connectionIds) {
      const conn = this.channel.connections.get(id);
      if (conn?.connected) conn.sendPush(data);
    }
  }

  /**
   * A push for connections served by other nodes (audio streaming results of this node's
   * senders): every node pulling this channel gets it and delivers to the listed ones it hosts.
   */
  pushToOtherNodes(connectionIds: readonly string[], data: Record<string, unknown>): void {
    if (connectionIds.length === 0) return;
    for (const s of this.servings) s.push(connectionIds, data);
  }

  /** The token pulls of this channel must present (set_channel_nodes). */
  accepts(token: string): boolean {
    return !this.closed && this.token !== undefined && this.token === token;
  }

  /**
   * set_channel_nodes: one link per other listed node (new ones dialled, unlisted ones closed; a
   * node whose URL changed is re-dialled). `selfName` is this node's own name.
   */
  apply(token: string, nodes: readonly ChannelNode[], selfName: string): void {
    if (this.closed) return;
    this.token = token;
    const wanted = new Map(nodes.filter((n) => n.node_name !== selfName).map((n) => [n.node_name, n]));
    for (const [name, link] of this.links) {
      const node = wanted.get(name);
      if (!node || node.signaling_url !== link.node.signaling_url) this.closeLink(name, link);
      else link.setToken(token);
    }
    const linkDeps = { ...this.deps.link, nodeName: this.deps.link.nodeName() };
    for (const [name, node] of wanted) {
      if (!this.links.has(name)) this.links.set(name, new RelayLink(this.channel.channelId, node, token, this, linkDeps));
    }
    // Pulls by nodes no longer listed end too.
    for (const s of [...this.servings]) if (!wanted.has(s.nodeName)) s.close();
    this.releaseIfSynced();
  }

  private closeLink(name: string, link: RelayLink): void {
    this.closedCounts.received += link.packetsReceived;
    this.links.delete(name);
    link.close();
  }

  /** Another node pulls this channel (token already checked): one serving per pulling node. */
  serve(ws: WebSocket, nodeName: string): void {
    for (const s of this.servings) if (s.nodeName === nodeName) s.close();
    const serving = new RelayServing(
      this.channel,
      ws,
      nodeName,
      { ...this.deps.serving, deliverMessage: (m) => this.deps.deliverMessage(this.channel, m) },
      (closed) => {
        this.closedCounts.sent += closed.packetsSent;
        this.closedCounts.nackResent += closed.nackResent;
        this.servings.delete(closed);
      },
    );
    this.servings.add(serving);
  }

  // ---- this node's own connections → the pulling nodes -------------------------------------

  localConnected(conn: Connection): void {
    for (const s of this.servings) s.memberCreated(conn);
  }

  localUpdated(conn: Connection): void {
    for (const s of this.servings) s.memberUpdated(conn);
  }

  /**
   * A local connection's notify metadata changed (the edge's set_notify_metadata): other nodes'
   * copies follow. Its push is not relayed: the edge sends it to every serving node.
   */
  localMetadataChanged(conn: Connection): void {
    for (const s of this.servings) s.memberMetadata(conn);
  }

  localLeft(conn: Connection): void {
    for (const s of this.servings) s.memberLeft(conn);
  }

  /** A local client's `#` message goes to every node this one pulls from (their clients get it there). */
  sendMessage(senderConnectionId: string, label: string, plain: Buffer): number {
    let sent = 0;
    for (const link of this.links.values()) {
      if (!link.sendMessage(senderConnectionId, label, plain)) continue;
      sent++;
      this.deps.onMessageSent();
    }
    return sent;
  }

  // ---- RelayLinkHost: remote members in this channel ----------------------------------------

  memberJoined(member: RemoteMember): void {
    if (this.channel.connections.has(member.id)) return; // never shadow a local connection
    this.channel.remoteMembers.set(member.id, member);
    this.channel.announceCreated(member);
  }

  memberUpdated(member: RemoteMember): void {
    if (this.channel.remoteMembers.get(member.id) === member) this.channel.announceUpdated(member);
  }

  memberPublished(member: RemoteMember, publications: Publication[]): void {
    if (this.channel.remoteMembers.get(member.id) !== member) return;
    for (const conn of this.channel.connections.values()) {
      if (!conn.connected || conn.closed) continue;
      let added = false;
      for (const pub of publications) {
        if (conn.wants(pub, member) && !conn.subscriptions.has(pub)) {
          conn.addSubscription(pub);
          added = true;
        }
      }
      if (added) void conn.renegotiate().catch((err) => conn.log.warn({ err }, "re-offer failed"));
    }
  }

  memberLeft(member: RemoteMember): void {
    if (this.channel.remoteMembers.get(member.id) !== member) return;
    this.channel.remoteMembers.delete(member.id);
    this.channel.announceDestroyed(member);
    for (const conn of this.channel.connections.values()) {
      if (conn.closed) continue;
      if (conn.removeSubscriptionsFrom(member.id)) void conn.renegotiate().catch((err) => conn.log.warn({ err }, "re-offer failed"));
    }
  }

  /** Relay RTP counts of this channel: received from other nodes, sent to them, NACK answers among those sent. */
  packetCounts(): { received: number; sent: number; nackResent: number } {
    const c = { ...this.closedCounts };
    for (const link of this.links.values()) c.received += link.packetsReceived;
    for (const s of this.servings) {
      c.sent += s.packetsSent;
      c.nackResent += s.nackResent;
    }
    return c;
  }

  /** Links and servings open now. */
  get linkCount(): number {
    return this.links.size;
  }

  get servingCount(): number {
    return this.servings.size;
  }

  /** Relay legs (m-lines) this node serves: sending, and paused for want of a remote subscriber. */
  legCounts(): { sending: number; paused: number } {
    const c = { sending: 0, paused: 0 };
    for (const s of this.servings) {
      const l = s.legCounts();
      c.sending += l.sending;
      c.paused += l.paused;
    }
    return c;
  }

  /** The Channel closes (top of its cascade): every link and serving ends, no re-dial. */
  close(): void {
    if (this.closed) return;
    for (const [name, link] of [...this.links]) this.closeLink(name, link);
    for (const s of [...this.servings]) s.close();
    this.closed = true;
    this.releaseIfSynced();
  }
}
