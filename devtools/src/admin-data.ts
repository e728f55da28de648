// The admin view's model, joined from the HTTP API's answers: ListClusterNodes (members, mode),
// ListClusterChannels (which node owns a channel), ListChannels, ListConnections,
// ListPauseRtpStreams and ListChannelUserAgentStats (codecs, as the clients' own getStats()
// reported them in `pong` or on the `stats` DataChannel). Pure, unit-tested in test/node/devtools.test.ts.

export interface NodeRow {
  nodeName: string;
  connected: boolean;
  mode: string;
  epoch: number | null;
  signalingUrl: string;
  /** Load: channels and connections on this node. */
  channels: number;
  connections: number;
}

export interface ConnectionRow {
  connectionId: string;
  clientId: string;
  role: "sendrecv" | "sendonly" | "recvonly";
  node: string | null;
  audio: boolean;
  video: boolean;
  simulcast: boolean;
  /** Codec names from the client's reported stats, "" when it has reported none. */
  codecs: string;
  createdTime: number;
}

export interface ChannelRow {
  channelId: string;
  node: string | null;
  spotlight: boolean;
  connections: ConnectionRow[];
  /** "recv→send" pairs paused with PauseRtpStream. */
  paused: { recv: string; send: string }[];
}

export interface AdminModel {
  nodes: NodeRow[];
  channels: ChannelRow[];
}

export interface AdminAnswers {
  nodes: any[];
  clusterChannels: any[];
  channels: any[];
  connections: any[];
  pauses: Record<string, any[]>;
  userAgentStats: Record<string, any[]>;
}

export function buildAdminModel(a: AdminAnswers): AdminModel {
  const ownerOf = new Map<string, string>();
  for (const c of a.clusterChannels) {
    // The live owner: the latest connected one, else the latest.
    const owners = Array.isArray(c?.owners) ? c.owners : [];
    const owner = owners.filter((o: any) => o.connected).at(-1) ?? owners.at(-1);
    if (owner && typeof c.channel_id === "string") ownerOf.set(c.channel_id, owner.node_name);
  }
  const channelIds = new Set<string>([...a.channels.map((c) => c.channel_id), ...a.connections.map((c) => c.channel_id)]);
  const channels: ChannelRow[] = [...channelIds].sort().map((channelId) => {
    const summary = a.channels.find((c) => c.channel_id === channelId);
    const node = ownerOf.get(channelId) ?? null;
    const codecs = codecsByConnection(a.userAgentStats[channelId] ?? []);
    return {
      channelId,
      node,
      spotlight: summary?.spotlight === true,
      connections: a.connections
        .filter((c) => c.channel_id === channelId)
        .map((c) => ({
          connectionId: c.connection_id,
          clientId: c.client_id,
          role: c.role,
          node,
          audio: c.audio,
          video: c.video,
          simulcast: c.simulcast,
          codecs: codecs.get(c.connection_id) ?? "",
          createdTime: c.created_time,
        })),
      paused: (a.pauses[channelId] ?? []).map((p) => ({ recv: p.recv_connection_id, send: p.send_connection_id })),
    };
  });
  const nodes: NodeRow[] = a.nodes.map((n) => {
    const mine = channels.filter((c) => c.node === n.node_name);
    return {
      nodeName: n.node_name,
      connected: n.connected === true,
      mode: typeof n.mode === "string" ? n.mode : "",
      epoch: typeof n.epoch === "number" ? n.epoch : null,
      signalingUrl: typeof n.external_signaling_url === "string" ? n.external_signaling_url : "",
      channels: mine.length,
      connections: mine.reduce((sum, c) => sum + c.connections.length, 0),
    };
  });
  return { nodes, channels };
}

/** connection id → "VP9, opus": codecs its RTP streams use, read from its getStats() report. */
function codecsByConnection(entries: any[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of entries) {
    const stats: any[] = Array.isArray(entry?.user_agent_stats) ? entry.user_agent_stats : [];
    const codecById = new Map<string, string>();
    for (const s of stats) if (s?.type === "codec" && typeof s.mimeType === "string") codecById.set(s.id, s.mimeType.replace(/^(audio|video)\//, ""));
    const used = new Set<string>();
    for (const s of stats) {
      if ((s?.type === "inbound-rtp" || s?.type === "outbound-rtp") && codecById.has(s.codecId)) used.add(codecById.get(s.codecId)!);
    }
    if (used.size > 0) out.set(entry.connection_id, [...used].sort().join(", "));
  }
  return out;
}
