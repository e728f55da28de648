import { z } from "zod";
import { channelStub, clusterStub, nodeStub, type Env } from "./env.js";
import { apiError, json } from "./http.js";
import { readBody } from "./request-body.js";

// `POST /internal/call-counts` (behind the API token): how many calls each Durable Object class
// has handled, summed over the instances named in the body — what `npm run bench:edge` reads to
// show that ClusterObject carries O(membership changes) while NodeObjects and ChannelObjects
// carry the per-connection traffic (objects/call-counter.ts). Counts live in memory: an instance
// evicted since starts again from zero.

const MAX_NAMES = 2_000;
const requestSchema = z.object({
  nodes: z.array(z.string().min(1).max(255)).max(MAX_NAMES),
  channels: z.array(z.string().min(1).max(255)).max(MAX_NAMES),
});

type Counts = { since: number; counts: Record<string, number> };

export async function handleCallCounts(request: Request, env: Env): Promise<Response> {
  const body = await readBody(request, 256 * 1024);
  if (body === "too-large") return apiError(env, "PAYLOAD-TOO-LARGE", { max_bytes: 256 * 1024 });
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return apiError(env, "INVALID-JSON", { detail: "the body is not valid JSON" });
  }
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) return apiError(env, "INVALID-REQUEST", { issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.join("."), message: i.message })) });
  const sum = (all: Counts[]) => {
    const total: Record<string, number> = {};
    for (const c of all) for (const [k, v] of Object.entries(c.counts)) total[k] = (total[k] ?? 0) + v;
    return { instances: all.length, counts: total };
  };
  const [cluster, nodes, channels] = await Promise.all([
    clusterStub(env).callCounts() as Promise<Counts>,
    Promise.all(parsed.data.nodes.map((n) => nodeStub(env, n).callCounts() as Promise<Counts>)),
    Promise.all(parsed.data.channels.map((c) => channelStub(env, c).callCounts() as Promise<Counts>)),
  ]);
  return json(env, 200, { ClusterObject: sum([cluster]), NodeObject: sum(nodes), ChannelObject: sum(channels) });
}
