import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { NodeLoad } from "../../../shared/control-protocol.js";
import { fastCounters } from "../transport/fast-transport.js";

// What the node tells the edge of its load every LOAD_REPORT_INTERVAL_MS (shared/control-protocol.ts
// nodeLoadSchema): connections against its cap for placement, plus forwarded packets/s, CPU % and
// the event-loop delay p99 since the previous sample, for operators and future placement rules.
// Its own event-loop histogram: /metrics (metrics.ts) resets its one on every read.

/** Cumulative readings at one instant. */
export interface LoadReading {
  timeMs: number;
  /** process.cpuUsage() user + system, µs. */
  cpuUs: number;
  /** RTP packets forwarded to subscribers so far (fast path). */
  packetsSent: number;
}

/** Rates between two readings (pure). CPU % is of one core, as `top` shows a process. */
export function loadRates(previous: LoadReading, current: LoadReading): { cpu_percent: number; forwarded_packets_per_second: number } {
  const elapsedMs = current.timeMs - previous.timeMs;
  if (elapsedMs <= 0) return { cpu_percent: 0, forwarded_packets_per_second: 0 };
  const cpu = Math.max(0, current.cpuUs - previous.cpuUs) / 1000 / elapsedMs;
  const packets = Math.max(0, current.packetsSent - previous.packetsSent) / (elapsedMs / 1000);
  return { cpu_percent: Math.round(cpu * 1000) / 10, forwarded_packets_per_second: Math.round(packets) };
}

export class LoadMeter {
  private readonly loopDelay: IntervalHistogram;
  private previous: LoadReading;

  constructor() {
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
    this.previous = reading();
  }

  /** The load since the previous sample. */
  sample(connections: number, maxConnections: number | undefined): NodeLoad {
    const current = reading();
    const rates = loadRates(this.previous, current);
    this.previous = current;
    const p99 = this.loopDelay.count > 0 ? this.loopDelay.percentile(99) / 1e6 : 0;
    this.loopDelay.reset();
    return {
      connections,
      max_connections: maxConnections ?? null,
      ...rates,
      event_loop_delay_p99_ms: Math.round(p99 * 10) / 10,
    };
  }

  stop(): void {
    this.loopDelay.disable();
  }
}

function reading(): LoadReading {
  const cpu = process.cpuUsage();
  return { timeMs: performance.now(), cpuUs: cpu.user + cpu.system, packetsSent: fastCounters.rtpSent };
}
