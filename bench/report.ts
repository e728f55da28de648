import { readFileSync } from "node:fs";
import { relayTable } from "./relay-table.js";
import type { Row } from "./run.js";

// Markdown tables from bench JSON results (docs/performance.md):
//   npx tsx bench/report.ts bench/results/full-fast.json [bench/results/full-werift.json]
// The first file is the main run (node + raw relay rows); the optional second one a run with
// --node-arg=--no-fast-path, shown as the "werift path" comparison. Janus rows (--janus) get a
// side-by-side table of their own.

interface Result {
  date: string;
  node: string;
  nodeArgs: string[];
  rows: Row[];
}

const [mainFile, compareFile] = process.argv.slice(2);
if (!mainFile) {
  console.error("usage: tsx bench/report.ts <result.json> [werift-result.json]");
  process.exit(2);
}
const main = JSON.parse(readFileSync(mainFile, "utf8")) as Result;
const compare = compareFile ? (JSON.parse(readFileSync(compareFile, "utf8")) as Result) : undefined;
const f = (v: number | undefined, d = 0) => (v !== undefined && Number.isFinite(v) ? v.toFixed(d) : "-");

const scenarios = [...new Set(main.rows.map((r) => r.scenario))];
const lines: string[] = [];
lines.push(
  "| scenario | fwd pkt/s | node CPU % | idle % | µs CPU/pkt | net µs/pkt | pkt/s per core | raw relay µs/pkt | × raw | werift path µs/pkt | loop p99 ms | RSS MB | MB/conn | loss % | delay p50/p99 ms (raw) | connect median/p95 ms | clients CPU % |",
  "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
);
for (const sc of scenarios) {
  const r = main.rows.find((x) => x.scenario === sc && x.server === "sora");
  if (!r || r.relay) continue;
  const raw = main.rows.find((x) => x.scenario === sc && x.server === "raw");
  const w = compare?.rows.find((x) => x.scenario === sc && x.server === "sora");
  lines.push(
    `| ${sc} | ${f(r.forwardedPps)} | ${f(r.cpuPercent)} | ${f(r.idleCpuPercent, 1)} | ${f(r.cpuUsPerPacket, 1)} | ${f(r.netCpuUsPerPacket, 1)} | ${f(r.ppsPerCore)} | ${f(raw?.cpuUsPerPacket, 1)} | ${f(raw ? r.cpuUsPerPacket / raw.cpuUsPerPacket : undefined, 1)} | ${w ? `${f(w.cpuUsPerPacket, 1)} (loss ${f(w.lossPercent, 1)} %)` : "-"} | ${f(r.loopDelayP99Ms, 1)} | ${f(r.rssMb)} | ${f(r.rssPerConnectionMb, 2)} | ${f(r.lossPercent, 2)} | ${f(r.latencyP50Ms, 1)}/${f(r.latencyP99Ms, 1)} (${raw ? `${f(raw.latencyP50Ms, 1)}/${f(raw.latencyP99Ms, 1)}` : "-"}) | ${f(r.connectMedianMs)}/${f(r.connectP95Ms)} | ${f(r.clientCpuPercent)} |`,
  );
}
console.log(lines.join("\n"));

// Marginal cost of one more forwarded packet between consecutive fan-out sizes: the slope of
// node CPU over forwarded packets, which cancels the per-inbound-packet and idle costs.
const fan = main.rows.filter((r) => r.server === "sora" && r.scenario.startsWith("fanout-")).sort((a, b) => Number(a.scenario.slice(7)) - Number(b.scenario.slice(7)));
if (fan.length > 1) {
  console.log("\n| between | marginal µs CPU per extra forwarded packet |\n|---|--:|");
  for (let i = 1; i < fan.length; i++) {
    const a = fan[i - 1]!;
    const b = fan[i]!;
    const slope = ((b.cpuPercent - a.cpuPercent) / 100 / (b.forwardedPps - a.forwardedPps)) * 1e6;
    console.log(`| ${a.scenario} → ${b.scenario} | ${f(slope, 1)} |`);
  }
}
// CPU per forwarded packet across N at the same forwarded rate (the iso-N scenarios).
const iso = main.rows.filter((r) => r.server === "sora" && r.scenario.startsWith("iso-")).sort((a, b) => Number(a.scenario.slice(4)) - Number(b.scenario.slice(4)));
if (iso.length > 1) {
  const mean = iso.reduce((sum, r) => sum + r.cpuUsPerPacket, 0) / iso.length;
  console.log("\n| N (iso load) | fwd pkt/s | µs CPU/pkt | vs mean | pkt/s per core | × raw | loss % |\n|--:|--:|--:|--:|--:|--:|--:|");
  for (const r of iso) {
    const raw = main.rows.find((x) => x.scenario === r.scenario && x.server === "raw");
    const dev = (100 * (r.cpuUsPerPacket - mean)) / mean;
    console.log(`| ${r.scenario.slice(4)} | ${f(r.forwardedPps)} | ${f(r.cpuUsPerPacket, 1)} | ${dev >= 0 ? "+" : ""}${f(dev)} % | ${f(r.ppsPerCore)} | ${f(raw ? r.cpuUsPerPacket / raw.cpuUsPerPacket : undefined, 1)} | ${f(r.lossPercent, 2)} |`);
  }
}
// Our node against Janus's VideoRoom on the same scenarios (bench/run.ts --janus). Janus's CPU is
// the total CPU time of all its threads (/proc/<pid>/stat), like process.cpuUsage() of the node.
const janusScenarios = scenarios.filter((sc) => main.rows.some((x) => x.scenario === sc && x.server === "janus"));
if (janusScenarios.length > 0) {
  console.log(
    "\n| scenario | server | fwd pkt/s | CPU % (all threads) | µs CPU/pkt | net µs/pkt | pkt/s per core | × raw | ours / Janus µs/pkt | RSS MB | loss % | delay p50/p99 ms | connect median/p95 ms |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  );
  for (const sc of janusScenarios) {
    const raw = main.rows.find((x) => x.scenario === sc && x.server === "raw");
    const janus = main.rows.find((x) => x.scenario === sc && x.server === "janus")!;
    for (const server of ["sora", "janus", "raw"] as const) {
      const r = main.rows.find((x) => x.scenario === sc && x.server === server);
      if (!r) continue;
      const name = server === "sora" ? "ours" : server === "raw" ? "raw relay" : "Janus";
      const vsRaw = server !== "raw" && raw ? r.cpuUsPerPacket / raw.cpuUsPerPacket : undefined;
      const vsJanus = server === "sora" ? r.cpuUsPerPacket / janus.cpuUsPerPacket : undefined;
      console.log(
        `| ${sc} | ${name} | ${f(r.forwardedPps)} | ${f(r.cpuPercent)} | ${f(r.cpuUsPerPacket, 1)} | ${f(r.netCpuUsPerPacket, 1)} | ${f(r.ppsPerCore)} | ${f(vsRaw, 1)} | ${f(vsJanus, 2)} | ${f(r.rssMb)} | ${f(r.lossPercent, 2)} | ${f(r.latencyP50Ms, 1)}/${f(r.latencyP99Ms, 1)} | ${server === "raw" ? "-" : `${f(r.connectMedianMs)}/${f(r.connectP95Ms)}`} |`,
      );
    }
  }
}
// Relay scenarios (cluster and its one-node reference) get a table of their own.
const relayRows = relayTable(main.rows);
if (relayRows) console.log(`\n${relayRows}`);
console.log(`\n${main.date}, Node ${main.node}, node args: ${main.nodeArgs.join(" ") || "(default)"}${compare ? `; comparison: ${compare.nodeArgs.join(" ")}` : ""}`);
