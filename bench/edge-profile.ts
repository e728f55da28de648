import { writeFileSync } from "node:fs";
import WebSocket from "ws";

// `npx tsx bench/edge-profile.ts <inspector port> <seconds> <out.cpuprofile>`: records a V8 CPU
// profile of the edge's Worker in workerd (started with EDGE_INSPECTOR_PORT, bench/edge-miniflare.ts)
// and prints the functions with the most self time, to see where the edge spends its time per report.

const [port = "9229", seconds = "5", out = "/tmp/edge.cpuprofile"] = process.argv.slice(2);
const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string; title?: string; id: string }[];
const target = targets.find((t) => t.id.startsWith(process.env.PROFILE_TARGET ?? "core:user")) ?? targets[0]!;
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.once("open", r));
let next = 1;
const waiting = new Map<number, (v: any) => void>();
ws.on("message", (d) => {
  const m = JSON.parse(d.toString());
  if (m.id && waiting.has(m.id)) waiting.get(m.id)!(m.result ?? m.error);
});
const call = (method: string, params: object = {}) =>
  new Promise<any>((resolve) => {
    const id = next++;
    waiting.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: Number(process.env.PROFILE_INTERVAL_US ?? 200) });
await call("Profiler.start");
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
const { profile } = await call("Profiler.stop");
writeFileSync(out, JSON.stringify(profile));
ws.close();

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
const nodes = new Map<number, Node>((profile.nodes as Node[]).map((n) => [n.id, n]));
const self = new Map<number, number>();
for (const s of profile.samples as number[]) self.set(s, (self.get(s) ?? 0) + 1);
const byFn = new Map<string, number>();
for (const [id, n] of self) {
  const f = nodes.get(id)!.callFrame;
  const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + n);
}
const total = (profile.samples as number[]).length;
console.log(`target ${target.title ?? target.id}; ${total} samples`);
for (const [k, n] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${((100 * n) / total).toFixed(1).padStart(5)}%  ${k}`);
