import type { ChannelNode, ConnectionInfo, PausedStream, RidRequest, SpotlightRidRequest } from "../../../shared/control-protocol.js";

// Everything the Channel Durable Object persists, behind one class. Nothing outlives the session:
// `clear()` (on session.destroyed or a purge) deletes it all.

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

export class ChannelStore {
  constructor(private readonly storage: DurableObjectStorage) {}

  session(): Promise<ChannelSession | undefined> {
    return this.storage.get<ChannelSession>(SESSION);
  }

  putSession(session: ChannelSession): Promise<void> {
    return this.storage.put(SESSION, session);
  }

  claim(): Promise<ChannelClaim | undefined> {
    return this.storage.get<ChannelClaim>(CLAIM);
  }

  putClaim(claim: ChannelClaim): Promise<void> {
    return this.storage.put(CLAIM, claim);
  }

  connection(id: string): Promise<StoredConnection | undefined> {
    return this.storage.get<StoredConnection>(CONNECTION + id);
  }

  async connections(): Promise<StoredConnection[]> {
    return [...(await this.storage.list<StoredConnection>({ prefix: CONNECTION })).values()];
  }

  putConnection(connection: StoredConnection): Promise<void> {
    return this.storage.put(CONNECTION + connection.connection_id, connection);
  }

  async putConnections(connections: readonly StoredConnection[]): Promise<void> {
    // storage.put(entries) takes at most 128 keys per call.
    for (let i = 0; i < connections.length; i += 128) {
      await this.storage.put(Object.fromEntries(connections.slice(i, i + 128).map((c) => [CONNECTION + c.connection_id, c])));
    }
  }

  async deleteConnections(ids: readonly string[]): Promise<void> {
    const keys = ids.flatMap((id) => [CONNECTION + id, UA_STATS + id]);
    for (let i = 0; i < keys.length; i += 128) await this.storage.delete(keys.slice(i, i + 128));
  }

  async control(): Promise<ChannelControl> {
    return (await this.storage.get<ChannelControl>(CONTROL)) ?? EMPTY_CONTROL;
  }

  putControl(control: ChannelControl): Promise<void> {
    return this.storage.put(CONTROL, control);
  }

  userAgentStats(connectionId: string): Promise<UserAgentStats | undefined> {
    return this.storage.get<UserAgentStats>(UA_STATS + connectionId);
  }

  async allUserAgentStats(): Promise<Map<string, UserAgentStats>> {
    const entries = await this.storage.list<UserAgentStats>({ prefix: UA_STATS });
    return new Map([...entries].map(([key, value]) => [key.slice(UA_STATS.length), value]));
  }

  putUserAgentStats(connectionId: string, stats: UserAgentStats): Promise<void> {
    return this.storage.put(UA_STATS + connectionId, stats);
  }

  /** The session ended: nothing of the channel is kept. */
  clear(): Promise<void> {
    return this.storage.deleteAll();
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
