// `npx tsx bench/edge-profile-busy.ts [/tmp/edge.cpuprofile]`: the longest busy runs (consecutive
// non-idle samples) of a CPU profile written by bench/edge-profile.ts, each with the functions
// most often on its stacks: what held workerd's one thread when an API call waited (a tail), as
// opposed to where its time goes on average (edge-profile.ts's self-time list). A run whose
// samples are sparse for its length was off the CPU, e.g. in an fsync (docs/performance.md,
// "Where the tail comes from").
import { readFileSync } from "node:fs";
const p = JSON.parse(readFileSync(process.argv[2] ?? "/tmp/edge.cpuprofile", "utf8"));
const nodes = new Map<number, any>(p.nodes.map((n: any) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (id: number) => { const f = nodes.get(id).callFrame; return `${f.functionName || "(anon)"}:${f.lineNumber + 1}`; };
const stack = (id: number) => { const s: string[] = []; let x: number | undefined = id; while (x !== undefined) { s.push(name(x)); x = parent.get(x); } return s; };
const idle = (id: number) => name(id).startsWith("(idle)");
let t = p.startTime; const runs: { start: number; dur: number; samples: number[] }[] = []; let cur: any;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i];
  const s = p.samples[i];
  if (idle(s)) { if (cur) { runs.push(cur); cur = undefined; } continue; }
  if (!cur) cur = { start: t, dur: 0, samples: [] };
  cur.dur = t - cur.start; cur.samples.push(s);
}
runs.sort((a, b) => b.dur - a.dur);
for (const r of runs.slice(0, 6)) {
  const counts = new Map<string, number>();
  for (const s of r.samples) for (const f of new Set(stack(s).slice(0, 8))) counts.set(f, (counts.get(f) ?? 0) + 1);
  console.log(`run ${(r.dur / 1000).toFixed(1)} ms at ${((r.start - p.startTime) / 1e6).toFixed(2)} s, ${r.samples.length} samples:`, [...counts].sort((a, b) => b[1] - a[1]).slice(0, 14).map(([k, n]) => `${k}×${n}`).join(" "));
}
const total = p.samples.length, idles = p.samples.filter(idle).length;
console.log(`idle ${(100 * idles / total).toFixed(1)}%; runs > 20 ms: ${runs.filter((r) => r.dur > 20000).length}`);
