import type { ChannelSnapshot } from "../../../shared/control-protocol.js";
import { jsonBytes } from "../../../shared/json-limits.js";

// The hello's snapshot cut into parts that each fit one control-link frame
// (shared/control-protocol.ts: hello carries the first part, `snapshot` reports the rest).
// Channels stay whole when they fit; a channel too large for one part is split by connections,
// every piece carrying the channel's full `connection_ids` so the edge never drops a connection
// that a later piece brings. A single connection always fits: its free JSON is bounded
// (shared/json-limits.ts), far below a part's budget.

/** Splits `channels` into parts of at most `budgetBytes` of JSON each (at least one part, maybe empty). */
export function snapshotParts(channels: readonly ChannelSnapshot[], budgetBytes: number): ChannelSnapshot[][] {
  const parts: ChannelSnapshot[][] = [];
  let part: ChannelSnapshot[] = [];
  let used = 2; // "[]"
  const flush = () => {
    if (part.length > 0) parts.push(part);
    part = [];
    used = 2;
  };
  const add = (channel: ChannelSnapshot, bytes: number) => {
    if (part.length > 0 && used + 1 + bytes > budgetBytes) flush();
    part.push(channel);
    used += (part.length > 1 ? 1 : 0) + bytes;
  };

  for (const channel of channels) {
    const whole = jsonBytes(channel);
    if (whole + 2 <= budgetBytes) {
      add(channel, whole);
      continue;
    }
    // Too large for any part: pieces by connections, each a complete part of its own.
    flush();
    const base: ChannelSnapshot = { ...channel, connections: [], connection_ids: channel.connections.map((c) => c.connection_id) };
    const baseBytes = jsonBytes(base);
    let piece: ChannelSnapshot = { ...base, connections: [] };
    let pieceBytes = baseBytes;
    for (const connection of channel.connections) {
      const bytes = jsonBytes(connection) + 1;
      if (piece.connections.length > 0 && pieceBytes + bytes + 2 > budgetBytes) {
        parts.push([piece]);
        piece = { ...base, connections: [] };
        pieceBytes = baseBytes;
      }
      piece.connections.push(connection);
      pieceBytes += bytes;
    }
    parts.push([piece]);
  }
  flush();
  if (parts.length === 0) parts.push([]);
  return parts;
}
