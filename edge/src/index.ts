import { bearerMatches } from "./auth.js";
import { handleApiCall } from "./api.js";
import { clusterStub, type Env } from "./env.js";
import { apiError, json, preflight } from "./http.js";
import { handleSignaling } from "./signaling-redirect.js";

export { ClusterObject } from "./objects/cluster-object.js";
export { ChannelObject } from "./objects/channel-object.js";

// The edge Worker. Three doors besides /health:
//   POST /          Sora's HTTP API (CORS → preflight → auth → method → api.ts pipeline)
//   GET  /node      a media node's control link, handed to the Cluster Durable Object
//   GET  /signaling a client's first stop: answered with a `redirect` to the channel's node
// Nothing escapes as a bare 500: every answer is JSON with CORS headers.

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    try {
      return await dispatch(request, env);
    } catch (err) {
      console.error("edge request failed", err);
      return apiError(env, "INTERNAL-ERROR");
    }
  },
} satisfies ExportedHandler<Env>;

async function dispatch(request: Request, env: Env): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (pathname === "/health" && request.method === "GET") return json(env, 200, { ok: true });
  if (pathname === "/signaling" && request.method === "GET") return handleSignaling(request, env);
  // The devtools page: served as assets before the Worker runs; this covers setups that run the
  // Worker first (run_worker_first, the workerd tests).
  if (env.ASSETS && (pathname === "/devtools" || pathname.startsWith("/devtools/"))) return env.ASSETS.fetch(request);
  if (pathname === "/node" && request.method === "GET") {
    if (env.ALLOW_UNAUTHENTICATED_NODES !== "true" && !bearerMatches(request, env.NODE_SECRET)) {
      return apiError(env, "UNAUTHORIZED", undefined, { "www-authenticate": "Bearer" });
    }
    return clusterStub(env).fetch(request);
  }

  if (request.method === "OPTIONS" && pathname === "/") return preflight(env);
  if (env.ALLOW_UNAUTHENTICATED !== "true" && !bearerMatches(request, env.API_TOKEN)) {
    return apiError(env, "UNAUTHORIZED", undefined, { "www-authenticate": "Bearer" });
  }
  if (pathname !== "/") return apiError(env, "NOT-FOUND", { path: pathname.slice(0, 255) });
  if (request.method !== "POST") return apiError(env, "METHOD-NOT-ALLOWED", { method: request.method }, { allow: "POST, OPTIONS" });
  return handleApiCall(request, env);
}
