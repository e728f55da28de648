import type { Row } from "./run.js";

// The cluster relay table of bench/run.ts and bench/report.ts (docs/performance.md, "Cluster relay").
// Per relay scenario: the cluster row (3 node processes, CPU summed over them) and the reference row
// (the same clients on one node, server "single").
//
// The relay's share of the cluster's CPU is estimated from packet counts: each relay packet sent
// (node A → B, C) or received (B, C from A) is charged the one-node run's CPU per forwarded packet
// (a forwarded packet costs one SRTP protect + send, a relay packet received one unprotect + parse
// shared by that node's subscribers: charging both the full per-packet cost over-estimates). The rest
// of the cluster's extra CPU over the one-node run is the cost of spreading the same clients over
// three processes (their idle costs, fewer packets per wake-up), reported apart.

const f = (v: number | undefined, d = 0) => (v !== undefined && Number.isFinite(v) ? v.toFixed(d) : "-");

export interface RelayShare {
  /** Relay packets × one-node µs/pkt, over the cluster's CPU (%). */
  relaySharePercent: number;
  /** 1 − one-node CPU / cluster CPU (%), the same forwarded load. */
  spreadOverheadPercent: number;
  /** Relayed minus local one-way delay p50 (ms): one relay hop. */
  hopP50Ms: number;
}

export function relayShare(cluster: Row, single: Row | undefined): RelayShare {
  const r = cluster.relay!;
  const cpuUs = (cluster.cpuPercent / 100) * 1e6; // per second
  const perPacket = single?.cpuUsPerPacket ?? NaN;
  return {
    relaySharePercent: (100 * (r.relaySentPps + r.relayReceivedPps) * perPacket) / cpuUs,
    spreadOverheadPercent: single ? 100 * (1 - (single.cpuPercent * cluster.forwardedPps) / single.forwardedPps / cluster.cpuPercent) : NaN,
    hopP50Ms: r.relayedP50Ms - r.localP50Ms,
  };
}

export function relayTable(rows: Row[]): string | undefined {
  const clusters = rows.filter((r) => r.server === "sora" && r.relay);
  if (clusters.length === 0) return undefined;
  const lines = [
    "| scenario | nodes | fwd pkt/s | CPU % (sum) | per node % | µs CPU/pkt | one node: CPU % / µs/pkt | relay out/in pkt/s | relay share of CPU | spread overhead | loss % | delay p50 local / relayed ms | one relay hop p50 ms | delay p99 local / relayed ms | connect median ms |",
    "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const c of clusters) {
    const single = rows.find((x) => x.scenario === c.scenario && x.server === "single");
    const r = c.relay!;
    const share = relayShare(c, single);
    lines.push(
      `| ${c.scenario} | ${r.nodes} | ${f(c.forwardedPps)} | ${f(c.cpuPercent)} | ${r.nodeCpuPercent.map((p) => f(p)).join(" + ")} | ${f(c.cpuUsPerPacket, 1)} | ${single ? `${f(single.cpuPercent)} / ${f(single.cpuUsPerPacket, 1)} (loss ${f(single.lossPercent, 2)} %)` : "-"} | ${f(r.relaySentPps)} / ${f(r.relayReceivedPps)} | ${f(share.relaySharePercent, 1)} % | ${f(share.spreadOverheadPercent)} % | ${f(c.lossPercent, 2)} | ${f(r.localP50Ms, 2)} / ${f(r.relayedP50Ms, 2)} | ${f(share.hopP50Ms, 2)} | ${f(r.localP99Ms, 1)} / ${f(r.relayedP99Ms, 1)} | ${f(c.connectMedianMs)} (${c.connected}/${c.connections}) |`,
    );
  }
  return lines.join("\n");
}
