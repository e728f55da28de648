// Node-wide counters of the media path, read by GET /metrics (prometheus.ts) and /metrics.json.
// Plain numbers bumped on the packet paths: no allocation, no logging, no prom-client call per packet.

export const mediaCounters = {
  /** RTP packets received from publishers (every layer, both packet paths). */
  packetsReceived: 0,
  /** Their payload bytes. */
  bytesReceived: 0,
  /** RTP packets sent to subscribers, NACK answers included (both packet paths). */
  packetsForwarded: 0,
  /** Their payload bytes. */
  bytesForwarded: 0,
  /** Generic NACK feedback messages received from subscribers. */
  nacksReceived: 0,
  /** Sequence numbers those NACKs asked for. */
  nackedPackets: 0,
  /** NACKed packets resent from the publication's cache (also counted in packetsForwarded). */
  nackPacketsResent: 0,
  /** PLIs from subscribers (FIR counted apart; both are passed on as a PLI to the publisher). */
  pliReceived: 0,
  firReceived: 0,
  /** PLIs sent to publishers (the node never sends FIR: libwebrtc answers PLI with a keyframe). */
  pliSent: 0,
  /** Simulcast layer switches made by subscriptions (on a keyframe of the new layer; a subscription's first layer is none). */
  simulcastLayerSwitches: 0,
  /** Egress: RTP sent by RTP forwarding legs; Opus frames written / dropped by audio streaming. */
  rtpForwardingPacketsSent: 0,
  audioStreamingPacketsSent: 0,
  audioStreamingPacketsDropped: 0,
};
