import type { ChannelSnapshot, PausedStream, RidRequest, SpotlightRidRequest } from "../../../shared/control-protocol.js";
import { newSoraId } from "../../../shared/ids.js";
import { notifyMessage, type Connection } from "./connection.js";
import { PreparedMessage } from "./prepared-message.js";
import type { ChannelRelay } from "../relay/channel-relay.js";
import type { RemoteMember } from "../relay/remote-member.js";
import { SPOTLIGHT_EVALUATE_INTERVAL_MS, Spotlight, type SpotlightChange } from "./spotlight.js";

// A channel with a live session (mediasoup's Router, Sora's "session"): the connections in it,
// and the notify fan-out. A session starts when the channel goes 0 → 1 connections.

export interface ChannelCounters {
  channel_connections: number;
  channel_sendrecv_connections: number;
  channel_sendonly_connections: number;
  channel_recvonly_connections: number;
}

/** What a notify about a connection needs of it: a local Connection or a RemoteMember of another node. */
export interface NotifyMember {
  readonly createdAt: number;
  readonly connectedAt: number;
  notifyFields(): Record<string, unknown>;
  notifyDataEntry(): Record<string, unknown>;
}

/** Sora does not document its default; one focused speaker is the classic "spotlight". */
const DEFAULT_SPOTLIGHT_NUMBER = 1;

export class Channel {
  readonly sessionId: string;
  /** The session was started on another node and this node joined it (cluster relay): no session webhooks here. */
  readonly joined: boolean;
  readonly createdAt = Date.now();
  readonly connections = new Map<string, Connection>();
  /**
   * Connections of the other nodes serving this session (cluster relay, docs/relay.md), each
   * owned by the relay link that pulled it: counted and announced like local ones, never
   * reported to the edge (each node reports only its own).
   */
  readonly remoteMembers = new Map<string, RemoteMember>();
  /** The channel's relay links (set by the Sfu when the node can relay); closed first in close(). */
  relay?: ChannelRelay;
  /** Session-wide settings, fixed by the connect that created the session (as Sora does). */
  readonly spotlight: boolean;
  readonly simulcast: boolean;
  /** `recv:send` pairs whose video is not relayed (PauseRtpStream). */
  private readonly paused = new Set<string>();
  /** RequestRtpStream overrides; applied by the simulcast layer selection. */
  ridRequests: RidRequest[] = [];
  /** RPC RequestSpotlightRid: per-receiver focus/unfocus layers in a spotlight channel. */
  spotlightRidRequests: SpotlightRidRequest[] = [];
  /** Who is focused, in a spotlight channel. */
  readonly spotlightState?: Spotlight;
  private spotlightTimer?: NodeJS.Timeout;

  constructor(
    readonly channelId: string,
    settings: { spotlight: boolean; simulcast: boolean; spotlightNumber?: number; sessionId?: string },
  ) {
    this.sessionId = settings.sessionId ?? newSoraId();
    this.joined = settings.sessionId !== undefined;
    this.spotlight = settings.spotlight;
    this.simulcast = settings.simulcast || settings.spotlight;
    if (settings.spotlight) {
      const spotlight = new Spotlight(settings.spotlightNumber ?? DEFAULT_SPOTLIGHT_NUMBER);
      this.spotlightState = spotlight;
      this.spotlightTimer = setInterval(() => this.evaluateSpotlight(spotlight), SPOTLIGHT_EVALUATE_INTERVAL_MS);
      this.spotlightTimer.unref();
    }
  }

  /**
   * The session ended: the channel's timers stop and any connection still in it closes (the
   * top of the close cascade; the Sfu closes a channel once its last connection has left
   * through Sfu.leave, which also does the counting and notifies).
   */
  async close(): Promise<void> {
    if (this.spotlightTimer) clearInterval(this.spotlightTimer);
    this.spotlightTimer = undefined;
    this.relay?.close();
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }

  private evaluateSpotlight(spotlight: Spotlight): void {
    const senders: { id: string; activity?: import("./spotlight.js").AudioActivity }[] = [];
    for (const c of this.connections.values()) {
      if (!c.connected || !c.publications.some((p) => p.kind === "video")) continue;
      senders.push({ id: c.id, activity: c.publications.find((p) => p.kind === "audio")?.activity });
    }
    // Senders served by other nodes rank by the audio level their relay legs carry (after the local ones in join order).
    for (const m of this.remoteMembers.values()) {
      if (!m.publications.some((p) => p.kind === "video")) continue;
      senders.push({ id: m.id, activity: m.publications.find((p) => p.kind === "audio")?.activity });
    }
    const changes = spotlight.evaluate(senders);
    if (changes.length === 0) return;
    for (const change of changes) this.announceSpotlight(change);
    for (const c of this.connections.values()) c.applyRidRequests();
  }

  /** spotlight_number for the live session (session webhook answer); no-op outside spotlight channels. */
  setSpotlightNumber(number: number): boolean {
    const spotlight = this.spotlightState;
    if (!spotlight || spotlight.number === number) return false;
    const changes = spotlight.resize(number);
    for (const change of changes) this.announceSpotlight(change);
    if (changes.length > 0) for (const c of this.connections.values()) c.applyRidRequests();
    this.evaluateSpotlight(spotlight);
    return true;
  }

  /**
   * FocusSpotlight / FocusSpotlightFixed / UnfocusSpotlight on a sender of this channel: the
   * change is announced and every subscriber's layers re-applied at once; an unfocus lets the
   * next round fill the slot. Refusals are the API's error types.
   */
  setSpotlightFocus(connectionId: string, focus: "focus" | "fixed" | "unfocus"): "ok" | "SPOTLIGHT-NOT-ENABLED" | "SPOTLIGHT-NO-ROOM" {
    const spotlight = this.spotlightState;
    if (!spotlight) return "SPOTLIGHT-NOT-ENABLED";
    const loudness = (id: string) => (this.connections.get(id) ?? this.remoteMembers.get(id))?.publications.find((p) => p.kind === "audio")?.activity.loudness ?? 0;
    const changes = focus === "unfocus" ? spotlight.unfocus(connectionId) : spotlight.focus(connectionId, focus === "fixed", loudness);
    if (changes === "SPOTLIGHT-NO-ROOM") return changes;
    for (const change of changes) this.announceSpotlight(change);
    if (changes.length > 0) for (const c of this.connections.values()) c.applyRidRequests();
    if (focus === "unfocus") this.evaluateSpotlight(spotlight);
    return "ok";
  }

  /** Sora's spotlight notifies: `spotlight.unfocused` / `spotlight.focused` per sender and `spotlight.changed` per slot. */
  private announceSpotlight(change: SpotlightChange): void {
    const describe = (id: string) => {
      const c = this.connections.get(id) ?? this.remoteMembers.get(id);
      return {
        client_id: c?.clientId ?? null,
        connection_id: id,
        audio: c?.audio ?? false,
        video: c?.video ?? false,
        fixed: this.spotlightState?.isFixed(id) ?? false,
      };
    };
    const messages: Record<string, unknown>[] = [];
    if (change.unfocused) messages.push({ event_type: "spotlight.unfocused", ...describe(change.unfocused) });
    if (change.focused) messages.push({ event_type: "spotlight.focused", ...describe(change.focused) });
    messages.push({
      event_type: "spotlight.changed",
      ...(change.focused ? describe(change.focused) : { client_id: null, connection_id: null, audio: false, video: false, fixed: false }),
      spotlight_id: change.spotlightId,
    });
    const shared = messages.map((m) => new PreparedMessage(notifyMessage(m)));
    for (const c of this.connections.values()) {
      if (!c.connected) continue;
      for (const m of shared) c.sendSharedNotify(m);
    }
  }

  isPaused(recvConnectionId: string, sendConnectionId: string): boolean {
    return this.paused.size > 0 && this.paused.has(`${recvConnectionId}:${sendConnectionId}`);
  }

  /** Replaces the pause set (the edge sends the whole set) and applies it to live subscriptions. */
  setPausedStreams(paused: PausedStream[]): void {
    this.paused.clear();
    for (const p of paused) this.paused.add(`${p.recv_connection_id}:${p.send_connection_id}`);
    for (const conn of this.connections.values()) conn.applyPauses();
  }

  /** A leaver's pauses and rid requests go with it (either side of the pair). */
  forgetConnection(connectionId: string): void {
    for (const key of this.paused) {
      const [recv, send] = key.split(":");
      if (recv === connectionId || send === connectionId) this.paused.delete(key);
    }
    this.ridRequests = this.ridRequests.filter((r) => r.recv_connection_id !== connectionId && r.send_connection_id !== connectionId);
    this.spotlightRidRequests = this.spotlightRidRequests.filter((r) => r.recv_connection_id !== connectionId && r.send_connection_id !== connectionId);
  }

  pausedStreams(): PausedStream[] {
    return [...this.paused].map((key) => {
      const [recv_connection_id, send_connection_id] = key.split(":") as [string, string];
      return { recv_connection_id, send_connection_id };
    });
  }

  snapshot(): ChannelSnapshot {
    return {
      channel_id: this.channelId,
      session_id: this.sessionId,
      multistream: true,
      spotlight: this.spotlight,
      simulcast: this.simulcast,
      created_at: this.createdAt,
      connections: [...this.connections.values()].filter((c) => c.connected).map((c) => c.info()),
    };
  }

  get size(): number {
    return this.connections.size;
  }

  counters(): ChannelCounters {
    let sendrecv = 0;
    let sendonly = 0;
    let recvonly = 0;
    const count = (c: { connected: boolean; role: string }) => {
      if (!c.connected) return;
      if (c.role === "sendrecv") sendrecv++;
      else if (c.role === "sendonly") sendonly++;
      else recvonly++;
    };
    for (const c of this.connections.values()) count(c);
    // Sora's counts are the session's: connections served by other nodes included.
    for (const m of this.remoteMembers.values()) count(m);
    return {
      channel_connections: sendrecv + sendonly + recvonly,
      channel_sendrecv_connections: sendrecv,
      channel_sendonly_connections: sendonly,
      channel_recvonly_connections: recvonly,
    };
  }

  /** Connections that may exchange media and messages with `conn` (Sora: same bundle_id never do). */
  *peersOf(conn: Connection): Iterable<Connection> {
    for (const other of this.connections.values()) {
      if (other === conn || !other.connected) continue;
      if (other.bundleId === conn.bundleId && conn.bundleIdExplicit) continue;
      yield other;
    }
  }

  /**
   * Every live connection gets `connection.created` for the newcomer (local, or a remote member
   * another node announced); the newcomer's copy lists who was there, other nodes' included.
   */
  announceCreated(conn: NotifyMember): void {
    const counters = this.counters();
    const base = { ...conn.notifyFields(), ...counters, minutes: 0 };
    const shared = new PreparedMessage(notifyMessage({ event_type: "connection.created", ...base }));
    for (const other of this.connections.values()) {
      if (!other.connected) continue;
      if (other === conn) {
        const data = [...this.connections.values()]
          .filter((c) => c.connected && c !== conn)
          .map((c) => c.notifyDataEntry());
        for (const m of this.remoteMembers.values()) data.push(m.notifyDataEntry());
        other.sendNotify({ event_type: "connection.created", ...base, data });
      } else {
        other.sendSharedNotify(shared);
      }
    }
  }

  announceDestroyed(conn: NotifyMember): void {
    const counters = this.counters();
    const minutes = Math.floor((Date.now() - conn.createdAt) / 60_000);
    const shared = new PreparedMessage(notifyMessage({ event_type: "connection.destroyed", ...conn.notifyFields(), ...counters, minutes }));
    for (const other of this.connections.values()) {
      if (!other.connected || other === conn) continue;
      other.sendSharedNotify(shared);
    }
  }

  /** Sora's periodic `connection.updated` (once a minute per connection, counters only). */
  announceUpdated(conn: NotifyMember): void {
    const counters = this.counters();
    const minutes = Math.floor((Date.now() - conn.connectedAt) / 60_000);
    const { metadata: _omitted, authn_metadata: _authn, ...fields } = conn.notifyFields();
    const shared = new PreparedMessage(notifyMessage({ event_type: "connection.updated", ...fields, ...counters, minutes }));
    for (const other of this.connections.values()) {
      if (!other.connected) continue;
      other.sendSharedNotify(shared);
    }
  }

  broadcastPush(data: unknown): void {
    for (const c of this.connections.values()) if (c.connected) c.sendPush(data);
  }
}
