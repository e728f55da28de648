import type { StatsReportAnswer } from "../../../shared/api/answers.js";
import type { NodeCounters } from "../../../shared/control-protocol.js";
import { SORA_COMPAT_VERSION } from "../../../shared/version.js";

// GetStatsReport: Sora reports one node's counters; our API answers for the whole cluster, so the
// nodes' counters are summed and the averages derived from the sums.

const ZERO: NodeCounters = {
  total_connection_created: 0,
  total_connection_updated: 0,
  total_connection_destroyed: 0,
  total_session_created: 0,
  total_session_destroyed: 0,
  total_successful_connections: 0,
  total_ongoing_connections: 0,
  total_failed_connections: 0,
  total_duration_msec: 0,
  total_setup_time_msec: 0,
  total_turn_udp_connections: 0,
  total_turn_tcp_connections: 0,
  total_received_invalid_turn_tcp_packet: 0,
  total_auth_webhook_allowed: 0,
  total_auth_webhook_denied: 0,
  total_successful_auth_webhook: 0,
  total_failed_auth_webhook: 0,
  total_successful_session_webhook: 0,
  total_failed_session_webhook: 0,
  total_successful_event_webhook: 0,
  total_failed_event_webhook: 0,
};

export function sumCounters(all: readonly NodeCounters[]): NodeCounters {
  const sum: NodeCounters = { ...ZERO };
  for (const counters of all) {
    for (const key of Object.keys(ZERO) as (keyof NodeCounters)[]) sum[key] += counters[key];
  }
  return sum;
}

export function statsReport(sum: NodeCounters, cluster: StatsReportAnswer["cluster"]): StatsReportAnswer {
  const { total_duration_msec, total_setup_time_msec, ...counts } = sum;
  const total_duration_sec = Math.floor(total_duration_msec / 1000);
  return {
    version: SORA_COMPAT_VERSION,
    ...counts,
    total_duration_sec,
    average_duration_sec: counts.total_connection_destroyed > 0 ? Math.floor(total_duration_sec / counts.total_connection_destroyed) : 0,
    average_setup_time_msec:
      counts.total_successful_connections > 0 ? Math.floor(total_setup_time_msec / counts.total_successful_connections) : 0,
    cluster,
  };
}
