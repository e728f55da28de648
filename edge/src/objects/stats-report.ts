import type { StatsReportAnswer } from "../../../shared/api/answers.js";
import { type NodeCounters, zeroNodeCounters } from "../../../shared/control-protocol.js";
import { SORA_COMPAT_VERSION } from "../../../shared/version.js";

// GetStatsReport: Sora reports one node's counters; our API answers for the whole cluster, so the
// nodes' counters are summed and the averages derived from the sums.

export function sumCounters(all: readonly NodeCounters[]): NodeCounters {
  const sum = zeroNodeCounters();
  for (const counters of all) {
    for (const key of Object.keys(sum) as (keyof NodeCounters)[]) sum[key] += counters[key];
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
