import { fastCounters } from "../transport/fast-transport.js";
import { transportCounters } from "../transport/transport-counters.js";
import { mediaCounters } from "../sfu/media-counters.js";
import type { HistogramSnapshot } from "./bucket-histogram.js";
import { eventLoopDelay } from "./event-loop-delay.js";

// The node's counters as one JSON object (GET /metrics.json on the signaling port) for the load
// tool and tests: cumulative CPU, memory, the event-loop delay histogram and the packet counters.
// Reading changes nothing: every figure is cumulative, a window is the difference of two reads
// (quantileBetween/maxBetween in bucket-histogram.ts). Prometheus scrapes GET /metrics (prometheus.ts).

export interface ProcessMetrics {
  time_ms: number;
  cpu_user_us: number;
  cpu_system_us: number;
  rss_bytes: number;
  heap_used_bytes: number;
  /** Event-loop delay since the process started, in seconds (event-loop-delay.ts). */
  event_loop_delay: HistogramSnapshot;
  fast_rtp_sent: number;
  fast_rtp_received: number;
  srtp_auth_failures: number;
  srtp_replays: number;
  /** Batched native sends the kernel did not take (socket buffer full, socket gone). */
  fast_send_drops: number;
  /** Media path (sfu/media-counters.ts). */
  rtp_received: number;
  rtp_forwarded: number;
  nack_packets_resent: number;
  pli_sent: number;
  simulcast_layer_switches: number;
  /** Dropped hostile or broken transport input, and connections ended by DTLS (transport-counters.ts). */
  ice_foreign_datagrams: number;
  ice_unauthenticated_requests: number;
  ice_silent_connections: number;
  udp_mux_dropped: number;
  dtls_records_dropped: number;
  dtls_alerts_received: number;
  dtls_connections_ended: number;
  rtp_malformed: number;
  rtcp_malformed: number;
  nack_retransmissions_suppressed: number;
  keyframe_requests_suppressed: number;
}

export function processMetrics(): ProcessMetrics {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    time_ms: performance.timeOrigin + performance.now(),
    cpu_user_us: cpu.user,
    cpu_system_us: cpu.system,
    rss_bytes: mem.rss,
    heap_used_bytes: mem.heapUsed,
    event_loop_delay: eventLoopDelay().snapshot(),
    fast_rtp_sent: fastCounters.rtpSent,
    fast_rtp_received: fastCounters.rtpReceived,
    srtp_auth_failures: fastCounters.srtpAuthFailures,
    srtp_replays: fastCounters.srtpReplays,
    fast_send_drops: fastCounters.sendDrops,
    rtp_received: mediaCounters.packetsReceived,
    rtp_forwarded: mediaCounters.packetsForwarded,
    nack_packets_resent: mediaCounters.nackPacketsResent,
    pli_sent: mediaCounters.pliSent,
    simulcast_layer_switches: mediaCounters.simulcastLayerSwitches,
    ice_foreign_datagrams: transportCounters.iceForeignDatagrams,
    ice_unauthenticated_requests: transportCounters.iceUnauthenticatedRequests,
    ice_silent_connections: transportCounters.iceSilentConnections,
    udp_mux_dropped: transportCounters.udpMuxDropped,
    dtls_records_dropped: transportCounters.dtlsRecordsDropped,
    dtls_alerts_received: transportCounters.dtlsAlertsReceived,
    dtls_connections_ended: transportCounters.dtlsConnectionsEnded,
    rtp_malformed: transportCounters.rtpMalformed,
    rtcp_malformed: transportCounters.rtcpMalformed,
    nack_retransmissions_suppressed: transportCounters.nackRetransmissionsSuppressed,
    keyframe_requests_suppressed: transportCounters.keyframeRequestsSuppressed,
  };
}
