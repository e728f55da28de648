import type { Connection } from "./connection.js";
import { SIMULCAST_RIDS } from "./publication.js";

// GetStatsConnection's answer (Sora's statistics list, sora-doc API_STATS): the keys the node
// counts. `rtp` sums everything the client sends to the server (every track, every layer); a
// simulcast sender also gets `simulcast.{r0,r1,r2}.rtp` for its video layers.

export interface RtpCounters {
  total_received_rtp: number;
  total_received_rtp_byte_size: number;
}

export function connectionStats(conn: Connection, now = new Date()): Record<string, unknown> {
  const rtp: RtpCounters = { total_received_rtp: 0, total_received_rtp_byte_size: 0 };
  let simulcast: Record<string, { rtp: RtpCounters }> | undefined;
  for (const pub of conn.publications) {
    for (const layer of pub.layers) {
      rtp.total_received_rtp += layer.packetsReceived;
      rtp.total_received_rtp_byte_size += layer.bytesReceived;
    }
    if (pub.kind === "video" && pub.simulcast) {
      simulcast = {};
      for (const [i, rid] of SIMULCAST_RIDS.entries()) {
        const layer = pub.layers[i]!;
        simulcast[rid] = { rtp: { total_received_rtp: layer.packetsReceived, total_received_rtp_byte_size: layer.bytesReceived } };
      }
    }
  }
  const stats: Record<string, unknown> = {
    timestamp: rfc3339Micros(now),
    channel_id: conn.channel.channelId,
    session_id: conn.sessionId,
    client_id: conn.clientId,
    bundle_id: conn.bundleId,
    connection_id: conn.id,
    rtp,
  };
  if (simulcast) stats.simulcast = simulcast;
  return stats;
}

/** `2025-01-02T03:04:05.678000Z`: Sora's timestamp has microseconds; a JS clock has milliseconds. */
export function rfc3339Micros(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
