import type { ChannelNode, ConnectionInfo, PausedStream, RidRequest, SpotlightRidRequest } from "../../../shared/control-protocol.js";

// Everything the Channel Durable Object persists (and holds in memory), behind one class. Nothing
// outlives the session: `clear()` (on session.destroyed or a purge) deletes it all.

export interface ChannelSession {
  channel_id: string;
  session_id: string;
  /** The media node that started the session (its webhooks fired there). */
  node_name: string;
  /**
   * Every node serving the session now (cluster relay, docs/relay.md), the starting one first
   * while it serves. Absent in sessions stored before the relay: `[node_name]` (servingNodes()).
   */
  nodes?: ChannelNode[];
  /** The session's relay token, given to its serving nodes with `set_channel_nodes`; made when first needed. */
  relay_token?: string;
  multistream: boolean;
  spotlight: boolean;
  simulcast: boolean;
  created_at: number;
}

/** The nodes serving a session (a session stored before the relay has its owner only; its URL comes with its next sync). */
export function servingNodes(session: ChannelSession): ChannelNode[] {
  return session.nodes ?? [{ node_name: session.node_name, signaling_url: "" }];
}

export interface StoredConnection extends ConnectionInfo {
  node_name: string;
}

export interface RtpForward {
  /** Absent = the whole channel. */
  connection_id?: string;
  ip_address: string;
  audio_port: number;
  video_port: number;
}

/** What the API has asked of the channel (the node holds the same state; commands carry it whole). */
export interface ChannelControl {
  paused: PausedStream[];
  rid_requests: RidRequest[];
  /** RPC RequestSpotlightRid (absent in state stored before it existed). */
  spotlight_rid_requests?: SpotlightRidRequest[];
  forwards: RtpForward[];
  audio_streaming: boolean;
  audio_subscribers: string[];
}

export interface UserAgentStats {
  timestamp: string;
  stats: unknown[];
}

const SESSION = "session";
const CONTROL = "control";
const CONNECTION = "conn:";
const UA_STATS = "ua:";

export const EMPTY_CONTROL: ChannelControl = {
  paused: [],
  rid_requests: [],
  spotlight_rid_requests: [],
  forwards: [],
  audio_streaming: false,
  audio_subscribers: [],
};

/** A node's `place` put a new session of this channel there (until its session.created, CLAIM_TTL_MS at most). */
export interface ChannelClaim {
  node_name: string;
  claimed_at: number;
}

const CLAIM = "claim";

/**
 * How long a connection change (join, leave, user-agent stats) may live in memory only before it
 * is written (env CHANNEL_PERSIST_MS). Within this window a join and its leave cancel out and
 * every change of the channel goes in one commit. What is lost when the edge restarts inside the
 * window is what the node's hello re-reports (each node's snapshot replaces its connections); an
 * idle object is evicted only after seconds without a call, after the write.
 */
export const CHANNEL_PERSIST_MS = 1_000;

/**
 * Everything the Channel Durable Object persists, behind one class, and held in memory: read
 * once (one `list` when the object wakes), then every read is served from memory. The session,
 * the claim and the control state (API state) are written at once; connections and user-agent
 * stats — the node's reports, which its hello rebuilds after an edge restart — are written
 * behind (CHANNEL_PERSIST_MS), unless a caller asks for `persisted()` (API writes do).
 */
export class ChannelStore {
  private loaded: Promise<void> | undefined;
  private sessionValue: ChannelSession | undefined;
  private claimValue: ChannelClaim | undefined;
  private controlValue: ChannelControl | undefined;
  private readonly connectionsById = new Map<string, StoredConnection>();
  private readonly uaStats = new Map<string, UserAgentStats>();
  /** Keys changed in memory and not yet written: value, or undefined for a delete. */
  private readonly dirty = new Map<string, unknown>();
  /** Connection and stats keys in storage (a join and its leave within one window never reach it). */
  private readonly stored = new Set<string>();
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** Storage writes made (for the load test: writes per report). */
  writes = 0;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly persistMs = CHANNEL_PERSIST_MS,
  ) {}

  private ready(): Promise<void> {
    this.loaded ??= this.storage.list().then((entries) => {
      for (const [key, value] of entries) {
        if (key === SESSION) this.sessionValue = value as ChannelSession;
        else if (key === CLAIM) this.claimValue = value as ChannelClaim;
        else if (key === CONTROL) this.controlValue = value as ChannelControl;
        else if (key.startsWith(CONNECTION)) {
          this.connectionsById.set(key.slice(CONNECTION.length), value as StoredConnection);
          this.stored.add(key);
        } else if (key.startsWith(UA_STATS)) {
          this.uaStats.set(key.slice(UA_STATS.length), value as UserAgentStats);
          this.stored.add(key);
        }
      }
    });
    return this.loaded;
  }

  async session(): Promise<ChannelSession | undefined> {
    await this.ready();
    return this.sessionValue;
  }

  async putSession(session: ChannelSession): Promise<void> {
    await this.ready();
    this.sessionValue = session;
    this.writes++;
    await this.storage.put(SESSION, session);
  }

  async claim(): Promise<ChannelClaim | undefined> {
    await this.ready();
    return this.claimValue;
  }

  async putClaim(claim: ChannelClaim): Promise<void> {
    await this.ready();
    this.claimValue = claim;
    this.writes++;
    await this.storage.put(CLAIM, claim);
  }

  async connection(id: string): Promise<StoredConnection | undefined> {
    await this.ready();
    return this.connectionsById.get(id);
  }

  async connections(): Promise<StoredConnection[]> {
    await this.ready();
    return [...this.connectionsById.values()];
  }

  /** Already loaded: the connection now, without a turn of the event loop (report batches). */
  connectionNow(id: string): StoredConnection | undefined {
    return this.connectionsById.get(id);
  }

  /** Already loaded: the session now (report batches). */
  sessionNow(): ChannelSession | undefined {
    return this.sessionValue;
  }

  async putConnection(connection: StoredConnection): Promise<void> {
    await this.ready();
    this.setConnection(connection);
  }

  async putConnections(connections: readonly StoredConnection[]): Promise<void> {
    await this.ready();
    for (const c of connections) this.setConnection(c);
  }

  async deleteConnections(ids: readonly string[]): Promise<void> {
    await this.ready();
    for (const id of ids) this.removeConnection(id);
  }

  /** A report's join, written behind (call after `ready`: `loadedNow`). */
  setConnection(connection: StoredConnection): void {
    this.connectionsById.set(connection.connection_id, connection);
    this.markDirty(CONNECTION + connection.connection_id, connection);
  }

  /** A report's leave, with its user-agent stats, written behind. */
  removeConnection(id: string): void {
    this.connectionsById.delete(id);
    this.uaStats.delete(id);
    this.forget(CONNECTION + id);
    this.forget(UA_STATS + id);
  }

  async control(): Promise<ChannelControl> {
    await this.ready();
    return this.controlValue ?? EMPTY_CONTROL;
  }

  /** Already loaded: the control state now (report batches). */
  controlNow(): ChannelControl {
    return this.controlValue ?? EMPTY_CONTROL;
  }

  async putControl(control: ChannelControl): Promise<void> {
    await this.ready();
    this.controlValue = control;
    this.writes++;
    await this.storage.put(CONTROL, control);
  }

  async userAgentStats(connectionId: string): Promise<UserAgentStats | undefined> {
    await this.ready();
    return this.uaStats.get(connectionId);
  }

  async allUserAgentStats(): Promise<Map<string, UserAgentStats>> {
    await this.ready();
    return new Map(this.uaStats);
  }

  async putUserAgentStats(connectionId: string, stats: UserAgentStats): Promise<void> {
    await this.ready();
    this.setUserAgentStats(connectionId, stats);
  }

  setUserAgentStats(connectionId: string, stats: UserAgentStats): void {
    this.uaStats.set(connectionId, stats);
    this.markDirty(UA_STATS + connectionId, stats);
  }

  /** Resolves once what is in memory has been read from storage (then the `...Now` reads and `set...` writes may be used). */
  loadedNow(): Promise<void> {
    return this.ready();
  }

  /**
   * Writes what is written behind now: awaited by an API write that must be durable when
   * answered. The write-behind timer passes `confirmed = false`: what it writes may be lost by
   * design (the node's hello re-reports it), so the object's answers need not wait for that
   * commit (Durable Objects' output gate: `allowUnconfirmed`).
   */
  async persisted(confirmed = true): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.dirty.size === 0) return;
    const puts: [string, unknown][] = [];
    const deletes: string[] = [];
    for (const [key, value] of this.dirty) {
      if (value === undefined) {
        deletes.push(key);
        this.stored.delete(key);
      } else {
        puts.push([key, value]);
        this.stored.add(key);
      }
    }
    this.dirty.clear();
    // Issued together, without an await between them: one implicit transaction, one commit.
    // storage.put(entries) and delete(keys) take at most 128 keys per call.
    const writes: Promise<unknown>[] = [];
    const options = { allowUnconfirmed: !confirmed };
    for (let i = 0; i < puts.length; i += 128) writes.push(this.storage.put(Object.fromEntries(puts.slice(i, i + 128)), options));
    for (let i = 0; i < deletes.length; i += 128) writes.push(this.storage.delete(deletes.slice(i, i + 128), options));
    this.writes += writes.length;
    await Promise.all(writes);
  }

  /** The session ended: nothing of the channel is kept. */
  async clear(): Promise<void> {
    await this.ready();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.dirty.clear();
    this.stored.clear();
    this.sessionValue = undefined;
    this.claimValue = undefined;
    this.controlValue = undefined;
    this.connectionsById.clear();
    this.uaStats.clear();
    this.writes++;
    await this.storage.deleteAll();
  }

  private forget(key: string): void {
    if (this.stored.has(key)) this.markDirty(key, undefined);
    else this.dirty.delete(key);
  }

  private markDirty(key: string, value: unknown): void {
    this.dirty.set(key, value);
    if (this.flushTimer || this.persistMs === 0) {
      if (this.persistMs === 0) void this.persisted().catch((err) => console.error("writing a channel's connections failed", err));
      return;
    }
    // Spread over [persistMs/2, persistMs]: channels that started together would otherwise all
    // commit in the same instant every period, and where objects share a thread (workerd locally)
    // that burst of commits stalls every call behind it (bench:edge p99).
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.persisted(false).catch((err) => console.error("writing a channel's connections failed", err));
    }, this.persistMs * (0.5 + Math.random() / 2));
  }
}

/** Control state without what referred to connections that are gone. */
export function withoutConnections(control: ChannelControl, gone: ReadonlySet<string>): ChannelControl {
  return {
    paused: control.paused.filter((p) => !gone.has(p.recv_connection_id) && !gone.has(p.send_connection_id)),
    rid_requests: control.rid_requests.filter(
      (r) => !gone.has(r.recv_connection_id) && (r.send_connection_id === undefined || !gone.has(r.send_connection_id)),
    ),
    spotlight_rid_requests: (control.spotlight_rid_requests ?? []).filter(
      (r) => !gone.has(r.recv_connection_id) && (r.send_connection_id === undefined || !gone.has(r.send_connection_id)),
    ),
    forwards: control.forwards.filter((f) => f.connection_id === undefined || !gone.has(f.connection_id)),
    audio_streaming: control.audio_streaming,
    audio_subscribers: control.audio_subscribers.filter((id) => !gone.has(id)),
  };
}
