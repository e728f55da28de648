import type { NodeLoad } from "../../../shared/control-protocol.js";

/** A node's load report with these connections and cap (the rest idle), as placement reads it. */
export function load(connections: number, max_connections: number | null = null): NodeLoad {
  return { connections, max_connections, forwarded_packets_per_second: 0, cpu_percent: 0, event_loop_delay_p99_ms: 0 };
}
