import { Router, type IRequest } from "itty-router";
import { bearerMatches } from "./auth.js";
import { handleApiCall } from "./api.js";
import { handleCallCounts } from "./call-counts.js";
import { serveDevtools } from "./devtools.js";
import { nodeStub, type Env } from "./env.js";
import { apiError, json, preflight } from "./http.js";
import { serveOpenApi } from "./openapi.js";
import { pathnameOf } from "./url-path.js";
import { handleSignaling } from "./signaling-redirect.js";

export { ClusterObject } from "./objects/cluster-object.js";
export { ChannelObject } from "./objects/channel-object.js";
export { NodeObject } from "./objects/node-object.js";

// The edge Worker's routes (itty-router; the first handler that returns a Response wins):
//   GET  /health        liveness
//   GET  /openapi.json  the API's OpenAPI 3.1 document (shared/api/openapi.ts)
//   GET  /signaling     a client's first stop: answered with a `redirect` to the channel's node
//   GET  /node          a media node's control link (NODE_SECRET), handed to that node's NodeObject
//                       (the node names itself: `?node_name=` or `x-sora-node-name`)
//   OPTIONS (any path)  CORS preflight, no auth (browsers send preflights without credentials)
//   /devtools, /devtools/*  the devtools page (Workers static assets), see devtools.ts
//   POST /              Sora's HTTP API behind API_TOKEN (api.ts pipeline)
//   POST /internal/call-counts   calls handled per Durable Object class (call-counts.ts), API_TOKEN
// Anything else passes the API token check first (so an unauthenticated caller learns nothing
// about paths), then is 405 on `/` or 404 elsewhere. Nothing escapes as a bare 500: every
// answer of ours is JSON with CORS headers.

type Handler = (request: IRequest, env: Env) => Response | Promise<Response> | undefined;

/**
 * itty-router matches `/health` also as `/health/` or `/health//` (and `/` as `//`); the edge
 * answers only the exact path, as before the router, so other spellings fall through to 404.
 */
const exact =
  (handler: Handler): Handler =>
  (request, env) =>
    pathnameOf(request.url) === (request.route || "/") ? handler(request, env) : undefined;

const health: Handler = (_request, env) => json(env, 200, { ok: true });

const nodeLink: Handler = (request, env) => {
  if (env.ALLOW_UNAUTHENTICATED_NODES !== "true" && !bearerMatches(request, env.NODE_SECRET)) {
    return apiError(env, "UNAUTHORIZED", undefined, { "www-authenticate": "Bearer" });
  }
  const nodeName = presentedNodeName(request);
  if (nodeName === null) {
    return apiError(env, "INVALID-REQUEST", { detail: "GET /node needs the node's name: ?node_name= or x-sora-node-name (1 to 255 characters)" });
  }
  const headers = new Headers(request.headers);
  headers.set("x-sora-node-name", nodeName);
  return nodeStub(env, nodeName).fetch(new Request(request.url, { headers }));
};

/** The name a node presents on `GET /node` (query wins over header); its hello must say the same. */
function presentedNodeName(request: Request): string | null {
  const name = new URL(request.url).searchParams.get("node_name") ?? request.headers.get("x-sora-node-name");
  return name !== null && name.length > 0 && name.length <= 255 ? name : null;
}

/** Middleware: answers 401 without the API token, else lets the next route handle the request. */
const requireApiToken: Handler = (request, env) => {
  if (env.ALLOW_UNAUTHENTICATED === "true" || bearerMatches(request, env.API_TOKEN)) return undefined;
  return apiError(env, "UNAUTHORIZED", undefined, { "www-authenticate": "Bearer" });
};

const methodNotAllowed: Handler = (request, env) =>
  apiError(env, "METHOD-NOT-ALLOWED", { method: request.method }, { allow: "POST, OPTIONS" });

const notFound: Handler = (request, env) => apiError(env, "NOT-FOUND", { path: new URL(request.url).pathname.slice(0, 255) });

const router = Router<IRequest, [Env]>({
  catch: (err: unknown, _request: IRequest, env: Env) => {
    console.error("edge request failed", err);
    return apiError(env, "INTERNAL-ERROR");
  },
})
  .get("/health", exact(health))
  .get("/openapi.json", exact(serveOpenApi))
  .get("/signaling", exact((request, env) => handleSignaling(request, env)))
  .get("/node", exact(nodeLink))
  .options("*", (_request: IRequest, env: Env) => preflight(env))
  .all("/devtools/*", serveDevtools)
  .all("*", requireApiToken)
  .post("/", exact((request, env) => handleApiCall(request, env)))
  .post("/internal/call-counts", exact((request, env) => handleCallCounts(request, env)))
  .all("/", exact(methodNotAllowed))
  .all("*", notFound);

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    try {
      return ((await router.fetch(request, env)) as Response | undefined) ?? (notFound(request as IRequest, env) as Response);
    } catch (err) {
      console.error("edge request failed", err);
      return apiError(env, "INTERNAL-ERROR");
    }
  },
} satisfies ExportedHandler<Env>;
