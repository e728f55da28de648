// Node-wide counters of transport input that was dropped or that ended a connection, read by
// /metrics (metrics.ts). Plain numbers bumped on the packet paths: no allocation, no logging.

export const transportCounters = {
  /** Non-STUN datagrams from an address that is not the connection's selected ICE pair (dropped before DTLS/SRTP). */
  iceForeignDatagrams: 0,
  /** STUN requests to an ICE-lite connection without a valid MESSAGE-INTEGRITY for its ufrag (dropped unanswered). */
  iceUnauthenticatedRequests: 0,
  /** ICE-lite connections failed because their client sent no authenticated STUN request for the silence timeout (ice-lite.ts). */
  iceSilentConnections: 0,
  /** ICE-lite connections that moved their selected pair to the client's later USE-CANDIDATE (ice-lite.ts). */
  iceLiteRenominations: 0,
  /** Datagrams on the shared ICE port (udp-mux.ts) of no registered connection: unknown ufrag or source address. */
  udpMuxDropped: 0,
  /** DTLS records discarded: truncated, unknown content type, epoch 0 after the handshake, alerts that fail authentication. */
  dtlsRecordsDropped: 0,
  /** Authenticated DTLS alerts that ended a session (close_notify or fatal). */
  dtlsAlertsReceived: 0,
  /** Connections ended by the node because their DTLS transport closed or failed. */
  dtlsConnectionsEnded: 0,
  /** RTP packets with a malformed header (CSRCs/extension past the end, bad padding, too many extension elements). */
  rtpMalformed: 0,
  /** RTCP compound packets whose lengths do not add up, or single RTCP packets shorter than their type needs. */
  rtcpMalformed: 0,
  /** NACKed packets not resent: resent within the last RETRANSMIT_MIN_INTERVAL_MS, or over the subscriber's budget. */
  nackRetransmissionsSuppressed: 0,
  /** Subscribers' PLI/FIR ignored because the same subscriber asked less than a second before. */
  keyframeRequestsSuppressed: 0,
};
