import type { IRequest } from "itty-router";
import type { Env } from "./env.js";
import { apiError, corsHeaders } from "./http.js";

// `/devtools/*`: the devtools page, served from the Worker's static assets (wrangler.toml
// `[assets]`, binding ASSETS) under its full path, so the assets directory holds `devtools/`.
// `/devtools` redirects to `/devtools/` so the page's relative URLs resolve inside it. Without an
// ASSETS binding (tests, a deployment without the page) it is a 404 like any unknown path.

export const DEVTOOLS_PATH = "/devtools/";

export function serveDevtools(request: IRequest, env: Env): Response | Promise<Response> {
  const url = new URL(request.url);
  if (!env.ASSETS) return apiError(env, "NOT-FOUND", { path: url.pathname.slice(0, 255) });
  if (url.pathname === "/devtools") {
    url.pathname = DEVTOOLS_PATH;
    const headers = corsHeaders(env);
    headers.set("location", url.toString());
    // 307: not cached for good (the page may move), method kept.
    return new Response(null, { status: 307, headers });
  }
  return env.ASSETS.fetch(request);
}
