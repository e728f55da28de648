import { monitorEventLoopDelay } from "node:perf_hooks";
import { fastCounters } from "./transport/fast-transport.js";
import { transportCounters } from "./transport/transport-counters.js";

// Process metrics for load tests and operators (GET /metrics on the signaling port): cumulative
// CPU, memory, and the event-loop delay p99 since the previous read. Tiny on purpose.

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

export interface ProcessMetrics {
  time_ms: number;
  cpu_user_us: number;
  cpu_system_us: number;
  rss_bytes: number;
  heap_used_bytes: number;
  /** Event-loop delay since the previous read (ms). */
  event_loop_delay_p99_ms: number;
  event_loop_delay_max_ms: number;
  fast_rtp_sent: number;
  fast_rtp_received: number;
  srtp_auth_failures: number;
  srtp_replays: number;
  /** Dropped hostile or broken transport input, and connections ended by DTLS (transport-counters.ts). */
  ice_foreign_datagrams: number;
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
  const m: ProcessMetrics = {
    time_ms: performance.timeOrigin + performance.now(),
    cpu_user_us: cpu.user,
    cpu_system_us: cpu.system,
    rss_bytes: mem.rss,
    heap_used_bytes: mem.heapUsed,
    event_loop_delay_p99_ms: loopDelay.percentile(99) / 1e6,
    event_loop_delay_max_ms: loopDelay.max / 1e6,
    fast_rtp_sent: fastCounters.rtpSent,
    fast_rtp_received: fastCounters.rtpReceived,
    srtp_auth_failures: fastCounters.srtpAuthFailures,
    srtp_replays: fastCounters.srtpReplays,
    ice_foreign_datagrams: transportCounters.iceForeignDatagrams,
    udp_mux_dropped: transportCounters.udpMuxDropped,
    dtls_records_dropped: transportCounters.dtlsRecordsDropped,
    dtls_alerts_received: transportCounters.dtlsAlertsReceived,
    dtls_connections_ended: transportCounters.dtlsConnectionsEnded,
    rtp_malformed: transportCounters.rtpMalformed,
    rtcp_malformed: transportCounters.rtcpMalformed,
    nack_retransmissions_suppressed: transportCounters.nackRetransmissionsSuppressed,
    keyframe_requests_suppressed: transportCounters.keyframeRequestsSuppressed,
  };
  loopDelay.reset();
  return m;
}
