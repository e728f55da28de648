import { ApiError } from "../../../shared/api/errors.js";
import { applyConnectionCall } from "../../../shared/connection-calls.js";
import { SIGNALING_CLOSE } from "../../../shared/close-codes.js";
import type { ChannelSnapshot, ConnectionCall, NodeCounters, NodeMode, PausedStream, RidOrNone, RidRequest, SpotlightRidRequest } from "../../../shared/control-protocol.js";
import { connectionStats } from "./connection-stats.js";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { IceSocketPlan } from "../transport/ice-sockets.js";
import type { ConnectMessage } from "../signaling/messages.js";
import type { ConnectionOptions } from "./connection-options.js";
import type { RtcConfiguration } from "../signaling/offer-config.js";
import { Channel } from "./channel.js";
import type { NodeRelay } from "../relay/node-relay.js";
import { Connection, type Role } from "./connection.js";
import { decodeMessage, MAX_MESSAGE_BYTES, MessageFanOut, type MessagingEncoding } from "./messaging.js";

// The node's SFU: the channels it owns, admission (modes), and the join/leave choreography
// (who gets which tracks, notifies and re-offers). Signaling calls in; media never passes here.

export type { NodeMode };

/**
 * Refusal past `maxConnections` (node full, and on the edge's `place` when every node is). Sora's
 * own reason for its license limit is not documented; this name follows its error style.
 */
export const MAX_CONNECTIONS_EXCEEDED = "MAX-CONNECTIONS-EXCEEDED";

export class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly code: number = SIGNALING_CLOSE.refused,
  ) {
    super(reason);
  }
}

/** The SFU's share of the node's counters (the rest are the webhooks' and TURN's). */
export type SfuCounters = Pick<
  NodeCounters,
  | "total_connection_created"
  | "total_connection_updated"
  | "total_connection_destroyed"
  | "total_session_created"
  | "total_session_destroyed"
  | "total_successful_connections"
  | "total_failed_connections"
  | "total_duration_msec"
  | "total_setup_time_msec"
>;

/** What auth decided for a connect: the connect as rewritten by the auth webhook, and what rides along. */
export interface Authorization {
  connect: ConnectMessage;
  /** Auth webhook `metadata`: offer `metadata`, notify `authn_metadata`. */
  authnMetadata?: unknown;
  /** Auth webhook `event_metadata`: carried into this connection's event webhooks. */
  eventMetadata?: unknown;
  /** Auth webhook `authz_metadata`: notify `authz_metadata`. */
  authzMetadata?: unknown;
  /** Auth webhook `signaling_notify: false`: this connection gets no `notify` messages. */
  signalingNotify?: boolean;
  /** Auth webhook `connection_lifetime` (seconds): the session is closed with LIFETIME-EXPIRED after it. */
  lifetimeSec?: number;
  /** Auth webhook `simulcast_encodings`: the offer's `encodings` for this simulcast sender, as given. */
  simulcastEncodings?: Record<string, unknown>[];
  /** Auth webhook `spotlight_encodings`: the same in a spotlight channel (before simulcast_encodings). */
  spotlightEncodings?: Record<string, unknown>[];
  /** Auth webhook `rpc_methods`: the DataChannel RPC methods this connection may call (replaces the node's default). */
  rpcMethods?: string[];
  /** Auth webhook `simulcast_rpc_rids`: the rids RPC RequestSimulcastRid may ask (all when absent). */
  simulcastRpcRids?: RidOrNone[];
}

/** How a connection's RPC ended: the JSON-RPC result, or an error in the API's vocabulary. */
export type CallResult = { ok: true; result: unknown } | { ok: false; error_type: string; error_reason?: unknown };

/** What a Connection takes from auth: the id the webhook was asked about and what it granted. */
export type ConnectionGrants = Omit<Authorization, "connect" | "lifetimeSec"> & { connectionId: string };

/** Which connections of a channel a Disconnect* or Push* call means: those matching every key given. */
export interface ConnectionSelector {
  connection_ids?: readonly string[] | undefined;
  client_id?: string | undefined;
  role?: Role | undefined;
}

/** Lifecycle hooks (the edge link and webhooks listen); every hook is optional. */
export interface SfuEvents {
  sessionCreated?(channel: Channel): void;
  sessionDestroyed?(channel: Channel): void;
  connectionCreated?(conn: Connection): void;
  connectionDestroyed?(conn: Connection): void;
  userAgentStats?(conn: Connection): void;
  /** Session-level state changed by the node itself, not by an edge command (session webhook answer). */
  sessionUpdated?(channel: Channel): void;
}

export class Sfu {
  readonly channels = new Map<string, Channel>();
  mode: NodeMode = "normal";
  readonly counters: SfuCounters = {
    total_connection_created: 0,
    total_connection_updated: 0,
    total_connection_destroyed: 0,
    total_session_created: 0,
    total_session_destroyed: 0,
    total_successful_connections: 0,
    total_failed_connections: 0,
    total_duration_msec: 0,
    total_setup_time_msec: 0,
  };
  /** DataChannel messaging: deliveries made, messages dropped (GET /metrics). */
  readonly messagingCounters = { messaging_relayed: 0, messaging_dropped: 0 };
  /** Observers of the SFU's lifecycle (edge reports, webhooks); each hook optional. */
  readonly listeners: SfuEvents[] = [];
  /**
   * Set when the node is part of a cluster: where a new session for a channel belongs
   * (`sessionId`: join the session live on another node, docs/relay.md).
   */
  placement?: (channelId: string, full: boolean) => Promise<{ owner: string; redirectUrl?: string; refused?: string; sessionId?: string } | undefined>;
  /** The node's cluster relay (relay/node-relay.ts): gives each new Channel its relay links. */
  relay?: NodeRelay;
  /**
   * Set when an auth webhook is configured: decides on a connect that passed admission, before
   * its Connection is built (so its overrides shape the Connection). Throws Refusal to refuse.
   */
  authorizer?: (connect: ConnectMessage, connectionId: string, channel: Channel | undefined) => Promise<Authorization>;
  /**
   * Set when the node is linked to the edge: the edge holds the channel state a connection's RPC
   * changes, so the call goes there (and comes back as the edge's command). Unset: applied here.
   */
  connectionCalls?: (conn: Connection, call: ConnectionCall) => Promise<CallResult>;
  /** The RTCConfiguration a connection's client should use: TURN servers when TURN is on (see signaling/offer-config.ts). */
  rtcConfigFor: (conn: Connection) => RtcConfiguration = () => ({ iceServers: [] });

  /**
   * Whether audio streaming is on for a session (egress/audio-streamer.ts, wired by MediaNode): the
   * edge is told it with the session. Egress is not the SFU's: it reads packets through the Sfu as
   * its PacketSource (egress/packet-source.ts).
   */
  audioStreamingOn: (channelId: string) => boolean = () => false;

  /** Where connections put their ICE host candidate (shared port / range / announced address); set by MediaNode.start. */
  iceSockets?: IceSocketPlan;

  constructor(
    readonly config: NodeConfig,
    private readonly log: Logger,
  ) {}

  /** Admission by the node's mode alone; throws Refusal with Sora-style reasons. */
  /** At the configured max_connections (counting every admitted connection). */
  atCapacity(): boolean {
    const max = this.config.maxConnections;
    return max !== undefined && this.connectionCount() >= max;
  }

  checkAdmission(channelId: string): void {
    if (this.mode === "block_new_connection") throw new Refusal("BLOCK-NEW-CONNECTION");
    // The cap counts every admitted connection, set up or not (each holds ports and a PeerConnection).
    if (this.atCapacity()) throw new Refusal(MAX_CONNECTIONS_EXCEEDED);
    const channel = this.channels.get(channelId);
    if (!channel || channel.size === 0) {
      if (this.mode === "block_new_session") throw new Refusal("BLOCK-NEW-SESSION");
    }
  }

  /**
   * Auth step between admission and admit: the auth webhook when configured, else the connect as
   * is. The connect message passes through untouched (it is the webhook's input); signaling turns
   * the result into ConnectionOptions for admit.
   */
  async authorize(connect: ConnectMessage, connectionId: string): Promise<Authorization> {
    if (!this.authorizer) return { connect };
    return this.authorizer(connect, connectionId, this.channels.get(connect.channel_id));
  }

  /**
   * Admission and placement of a new connection; throws Refusal with Sora-style reasons. `auth`
   * (from authorize) gives the id the auth webhook was asked about and what it returned.
   */
  admit(options: ConnectionOptions, auth?: ConnectionGrants, joinSessionId?: string): Connection {
    // Checked again: the mode may have changed while the auth webhook was being asked.
    this.checkAdmission(options.channelId);
    let channel = this.channels.get(options.channelId);
    if (!channel) {
      channel = new Channel(options.channelId, {
        spotlight: options.spotlight,
        simulcast: options.simulcast,
        ...(options.spotlightNumber !== undefined ? { spotlightNumber: options.spotlightNumber } : {}),
        // Placement said the session is live on another node and this one serves it too (cluster relay).
        ...(joinSessionId !== undefined ? { sessionId: joinSessionId } : {}),
      });
      channel.relay = this.relay?.channelRelay(channel);
      this.channels.set(channel.channelId, channel);
      this.counters.total_session_created++;
      this.log.info({ channel_id: channel.channelId, session_id: channel.sessionId }, "session created");
      for (const l of this.listeners) l.sessionCreated?.(channel);
    }
    let conn: Connection;
    try {
      // Built complete, PeerConnection included.
      conn = new Connection(channel, options, this.config, this.log.child({ channel_id: channel.channelId }), auth, this.iceSockets);
    } catch (err) {
      this.endSessionIfEmpty(channel); // a channel created for this connect alone does not outlive it
      throw err;
    }
    channel.connections.set(conn.id, conn);
    return conn;
  }

  /** What the edge is told of a session (hello, session.created/updated). */
  snapshot(channel: Channel): ChannelSnapshot {
    return { ...channel.snapshot(), audio_streaming: this.audioStreamingOn(channel.channelId) };
  }

  /** Tells the listeners that the node changed a session on its own. */
  sessionUpdated(channel: Channel): void {
    for (const l of this.listeners) l.sessionUpdated?.(channel);
  }

  /** The initial offer includes every track already published to the channel. */
  async offerFor(conn: Connection): Promise<string> {
    return conn.createInitialOffer([...conn.channel.peersOf(conn), ...conn.channel.remoteMembers.values()]);
  }

  /** The connection's PeerConnection is up: announce it and send its tracks to everyone else. */
  onConnected(conn: Connection): void {
    const channel = conn.channel;
    const updated = () => {
      this.counters.total_connection_updated++;
      channel.announceUpdated(conn);
      channel.relay?.localUpdated(conn);
    };
    if (!conn.markConnected(Date.now(), this.config.connectionUpdatedIntervalMs, updated)) return;
    this.counters.total_connection_created++;
    this.counters.total_successful_connections++;
    this.counters.total_setup_time_msec += conn.connectedAt - conn.setupStartedAt;
    channel.announceCreated(conn);
    // Tracks of connections that became connected after this one's offer was built.
    let changed = false;
    for (const other of [...channel.peersOf(conn), ...channel.remoteMembers.values()]) {
      for (const pub of other.publications) {
        if (conn.wants(pub, other) && !conn.subscriptions.has(pub)) {
          conn.addSubscription(pub);
          changed = true;
        }
      }
    }
    if (changed) void conn.renegotiate().catch((err) => conn.log.warn({ err }, "re-offer failed"));
    for (const other of channel.peersOf(conn)) {
      let added = false;
      for (const pub of conn.publications) {
        if (other.wants(pub, conn) && !other.subscriptions.has(pub)) {
          other.addSubscription(pub);
          added = true;
        }
      }
      if (added) void other.renegotiate().catch((err) => other.log.warn({ err }, "re-offer failed"));
    }
    // Other nodes serving the session learn of it and get its tracks (relay/relay-serving.ts).
    channel.relay?.localConnected(conn);
    for (const l of this.listeners) l.connectionCreated?.(conn);
  }

  /** Removes a connection (any reason); idempotent. */
  async leave(conn: Connection, reason: string): Promise<void> {
    if (conn.closed) return;
    const channel = conn.channel;
    const wasConnected = conn.connected;
    channel.connections.delete(conn.id);
    channel.forgetConnection(conn.id);
    conn.markLeft();
    if (wasConnected) {
      this.counters.total_connection_destroyed++;
      this.counters.total_duration_msec += Date.now() - conn.connectedAt;
      channel.announceDestroyed(conn);
      channel.relay?.localLeft(conn);
      for (const other of channel.connections.values()) {
        if (other.closed) continue;
        if (other.removeSubscriptionsFrom(conn.id)) {
          void other.renegotiate().catch((err) => other.log.warn({ err }, "re-offer failed"));
        }
      }
      for (const l of this.listeners) l.connectionDestroyed?.(conn);
    } else {
      this.counters.total_failed_connections++;
      for (const other of channel.connections.values()) other.removeSubscriptionsFrom(conn.id);
    }
    conn.log.info({ connection_id: conn.id, reason }, "connection closed");
    await conn.close();
    this.endSessionIfEmpty(channel);
  }

  private endSessionIfEmpty(channel: Channel): void {
    if (channel.size !== 0 || this.channels.get(channel.channelId) !== channel) return;
    this.channels.delete(channel.channelId);
    void channel.close();
    this.counters.total_session_destroyed++;
    this.log.info({ channel_id: channel.channelId, session_id: channel.sessionId }, "session destroyed");
    for (const l of this.listeners) l.sessionDestroyed?.(channel);
  }

  /**
   * Relays one `#` label message to every other connection that receives on that label, each
   * getting it as its own entry asked (messaging.ts). Not echoed to the sender (sora-js-sdk's
   * messaging e2e: a page's first message received is the other page's). Dropped and counted:
   * a message on a label the sender may not send on (undeclared or `recvonly`), and a malformed
   * compressed payload or one beyond MAX_MESSAGE_BYTES (also per receiver, after its header).
   */
  relayMessage(from: Connection, label: string, data: Buffer): void {
    const spec = from.messaging.find((m) => m.label === label);
    if (!spec || spec.direction === "recvonly") {
      this.messagingCounters.messaging_dropped++;
      return;
    }
    const plain = decodeMessage(data, spec);
    if (!plain) {
      this.messagingCounters.messaging_dropped++;
      from.log.debug({ connection_id: from.id, label, bytes: data.length }, "malformed messaging payload dropped");
      return;
    }
    // Clients of the other nodes serving the session get it through those nodes (docs/relay.md).
    from.channel.relay?.sendMessage(from.id, label, plain);
    this.deliverMessage(from.channel, from, from.id, label, data, plain, spec);
  }

  /**
   * Delivers one `#` message to this node's connections receiving on `label` (all but `from`):
   * a local client's, or one another node relayed (`from` undefined, `data` = `plain`, uncompressed).
   */
  deliverMessage(channel: Channel, from: Connection | undefined, fromId: string, label: string, data: Buffer, plain: Buffer, spec: MessagingEncoding): void {
    const fanOut = new MessageFanOut(data, plain, fromId, spec);
    const receivers = from ? channel.peersOf(from) : [...channel.connections.values()].filter((c) => c.connected);
    for (const other of receivers) {
      const target = other.messaging.find((m) => m.label === label);
      // A label its owner declared sendonly is never delivered to it.
      if (!target || target.direction === "sendonly") continue;
      const dc = other.dataChannel(label);
      if (!dc || dc.readyState !== "open") continue;
      const bytes = fanOut.bytesFor(target);
      // A header (or a compression that does not pay) can push a message past what the receiver accepts.
      if (bytes.length > MAX_MESSAGE_BYTES) {
        this.messagingCounters.messaging_dropped++;
        continue;
      }
      try {
        dc.send(bytes);
        this.messagingCounters.messaging_relayed++;
      } catch {
        // The receiver's SCTP association is going away; its own close handling ends it.
        this.messagingCounters.messaging_dropped++;
      }
    }
  }

  /** RequestRtpStream/ResetRtpStream: the channel's whole request set; false if no such channel here. */
  setRidRequests(channelId: string, requests: RidRequest[]): boolean {
    const channel = this.channels.get(channelId);
    if (!channel) return false;
    channel.ridRequests = requests;
    for (const conn of channel.connections.values()) conn.applyRidRequests();
    return true;
  }

  /** RPC RequestSpotlightRid/ResetSpotlightRid: the channel's whole spotlight request set; false if no such channel here. */
  setSpotlightRidRequests(channelId: string, requests: SpotlightRidRequest[]): boolean {
    const channel = this.channels.get(channelId);
    if (!channel) return false;
    channel.spotlightRidRequests = requests;
    for (const conn of channel.connections.values()) conn.applyRidRequests();
    return true;
  }

  /** A connection's own DataChannel RPC: through the edge when linked (one source of truth), else applied here. */
  async callFromConnection(conn: Connection, call: ConnectionCall): Promise<CallResult> {
    if (this.connectionCalls) return this.connectionCalls(conn, call);
    const channel = conn.channel;
    if (conn.closed || channel.connections.get(conn.id) !== conn) return { ok: false, error_type: "CONNECTION-NOT-FOUND", error_reason: { connection_id: conn.id } };
    let outcome;
    try {
      outcome = applyConnectionCall(
        {
          channelId: channel.channelId,
          callerId: conn.id,
          spotlight: channel.spotlight,
          simulcast: channel.simulcast,
          connections: channel.connections,
          ridRequests: channel.ridRequests,
          spotlightRidRequests: channel.spotlightRidRequests,
          metadata: conn.signalingNotifyMetadata,
        },
        call,
      );
    } catch (err) {
      if (err instanceof ApiError) return { ok: false, error_type: err.body.error_type, error_reason: err.body.error_reason };
      throw err;
    }
    if (outcome.ridRequests) this.setRidRequests(channel.channelId, outcome.ridRequests);
    if (outcome.spotlightRidRequests) this.setSpotlightRidRequests(channel.channelId, outcome.spotlightRidRequests);
    if (outcome.metadata) {
      conn.signalingNotifyMetadata = outcome.metadata.after;
      if (outcome.metadata.push) channel.broadcastPush(outcome.metadata.push);
      channel.relay?.localMetadataChanged(conn);
    }
    return { ok: true, result: outcome.result };
  }

  /** PauseRtpStream/ResumeRtpStream: the channel's whole pause set; false if no such channel here. */
  setPausedStreams(channelId: string, paused: PausedStream[]): boolean {
    const channel = this.channels.get(channelId);
    if (!channel) return false;
    channel.setPausedStreams(paused);
    return true;
  }

  /** ChangeUpstreamVideoBitRate: pins what the sender may send (kbps), enforced by the REMB we send it. */
  changeUpstreamVideoBitRate(channelId: string, connectionId: string, kbps: number): "ok" | "CHANNEL-NOT-FOUND" | "CONNECTION-NOT-FOUND" | "NOT-A-SENDER" {
    const channel = this.channels.get(channelId);
    if (!channel) return "CHANNEL-NOT-FOUND";
    const conn = channel.connections.get(connectionId);
    if (!conn) return "CONNECTION-NOT-FOUND";
    if (!conn.publications.some((p) => p.kind === "video")) return "NOT-A-SENDER";
    conn.pinUpstreamVideoBitrate(kbps * 1000);
    return "ok";
  }

  /**
   * Disconnect* APIs: ends the channel's connections matching every given selector (all without
   * one) the way Sora does: WebSocket close 1000 DISCONNECTED-API, or the `close` message on the
   * `signaling` DataChannel for DataChannel-only clients. `reason` is kept for the event webhook.
   * Resolves with the ids ended, once they are gone; undefined when the channel is not here.
   */
  async disconnect(channelId: string, selector: ConnectionSelector, reason?: Record<string, unknown>): Promise<string[] | undefined> {
    const channel = this.channels.get(channelId);
    if (!channel) return undefined;
    // Connections still negotiating go too: a disconnected channel must not fill up again.
    const targets = this.select(channel, selector, false);
    await Promise.all(
      targets.map(async (conn) => {
        conn.markDisconnectedByApi(reason ?? null);
        if (!(await conn.endSignaling(1000, "DISCONNECTED-API", "disconnected by the API"))) await this.leave(conn, "disconnected by the API");
      }),
    );
    return targets.map((c) => c.id);
  }

  /** Push* APIs: `{"type":"push","data":...}` to the matching connections; undefined when the channel is not here. */
  push(channelId: string, selector: ConnectionSelector, data: unknown): string[] | undefined {
    const channel = this.channels.get(channelId);
    if (!channel) return undefined;
    const targets = this.select(channel, selector);
    for (const conn of targets) conn.sendPush(data);
    return targets.map((c) => c.id);
  }

  /** Connections of a channel (connected ones only, unless told otherwise) matching every selector given. */
  private select(channel: Channel, selector: ConnectionSelector, connectedOnly = true): Connection[] {
    const ids = selector.connection_ids ? new Set(selector.connection_ids) : undefined;
    return [...channel.connections.values()].filter(
      (c) =>
        (c.connected || !connectedOnly) &&
        (!ids || ids.has(c.id)) &&
        (selector.client_id === undefined || c.clientId === selector.client_id) &&
        (selector.role === undefined || c.role === selector.role),
    );
  }

  /** GetStatsConnection: the connection's server-side counters. */
  connectionStats(channelId: string, connectionId: string): Record<string, unknown> | "CHANNEL-NOT-FOUND" | "CONNECTION-NOT-FOUND" {
    const channel = this.channels.get(channelId);
    if (!channel) return "CHANNEL-NOT-FOUND";
    const conn = channel.connections.get(connectionId);
    if (!conn) return "CONNECTION-NOT-FOUND";
    return connectionStats(conn);
  }

  /** RequestKeyFrame: PLIs to every video track of the sender until keyframes arrive. */
  requestKeyFrame(channelId: string, connectionId: string): "ok" | "CHANNEL-NOT-FOUND" | "CONNECTION-NOT-FOUND" | "NOT-A-SENDER" {
    const channel = this.channels.get(channelId);
    if (!channel) return "CHANNEL-NOT-FOUND";
    const conn = channel.connections.get(connectionId);
    if (!conn) return "CONNECTION-NOT-FOUND";
    let asked = false;
    for (const pub of conn.publications) if (pub.requestKeyFrameUntilReceived()) asked = true;
    return asked ? "ok" : "NOT-A-SENDER";
  }

  /** FocusSpotlight / FocusSpotlightFixed / UnfocusSpotlight. */
  setSpotlightFocus(
    channelId: string,
    connectionId: string,
    focus: "focus" | "fixed" | "unfocus",
  ): "ok" | "CHANNEL-NOT-FOUND" | "CONNECTION-NOT-FOUND" | "SPOTLIGHT-NOT-ENABLED" | "SPOTLIGHT-NO-ROOM" | "NOT-A-SENDER" {
    const channel = this.channels.get(channelId);
    if (!channel) return "CHANNEL-NOT-FOUND";
    if (!channel.spotlight) return "SPOTLIGHT-NOT-ENABLED";
    // A sender on another node serving the session counts too (the edge sends this to every serving node).
    const conn = channel.connections.get(connectionId) ?? channel.remoteMembers.get(connectionId);
    if (!conn?.connected) return "CONNECTION-NOT-FOUND";
    // Only video senders hold slots (speaker rounds drop anyone else at once).
    if (focus !== "unfocus" && !conn.publications.some((p) => p.kind === "video")) return "NOT-A-SENDER";
    return channel.setSpotlightFocus(connectionId, focus);
  }

  /** ChangeSpotlightNumber: the live session's number of focus slots. */
  changeSpotlightNumber(channelId: string, spotlightNumber: number): "ok" | "CHANNEL-NOT-FOUND" | "SPOTLIGHT-NOT-ENABLED" {
    const channel = this.channels.get(channelId);
    if (!channel) return "CHANNEL-NOT-FOUND";
    if (!channel.spotlight) return "SPOTLIGHT-NOT-ENABLED";
    channel.setSpotlightNumber(spotlightNumber);
    return "ok";
  }

  /** A client's `getStats()` report (pong over WebSocket, `stats` over DataChannel). */
  recordUserAgentStats(conn: Connection, stats: unknown): void {
    const list = Array.isArray(stats) ? stats : Object.values(stats as Record<string, unknown>);
    conn.recordStats(list);
    for (const l of this.listeners) l.userAgentStats?.(conn);
  }

  connectedCount(): number {
    let n = 0;
    for (const ch of this.channels.values()) for (const c of ch.connections.values()) if (c.connected) n++;
    return n;
  }

  connectionCount(): number {
    let n = 0;
    for (const ch of this.channels.values()) n += ch.size;
    return n;
  }

  findConnection(channelId: string, connectionId: string): Connection | undefined {
    return this.channels.get(channelId)?.connections.get(connectionId);
  }
}
