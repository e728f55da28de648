// One node's cluster relay counters (GET /metrics and /metrics.json). Kept per node (several
// nodes may share a process in tests); packets are counted here apart from the media path's
// node-wide figures.

export interface RelayCounters {
  /** Relay WebSocket connects refused (bad or missing token, unknown channel). */
  relay_connects_refused: number;
  /** Relay links closed because the peer sent a malformed message. */
  relay_bad_messages: number;
  /** Relay links this node dialled that came up (re-dials included). */
  relay_links_opened: number;
  /** `#` messages passed over relay links (sent by this node's clients / delivered from other nodes). */
  relay_messages_sent: number;
  relay_messages_received: number;
}

export function newRelayCounters(): RelayCounters {
  return {
    relay_connects_refused: 0,
    relay_bad_messages: 0,
    relay_links_opened: 0,
    relay_messages_sent: 0,
    relay_messages_received: 0,
  };
}
