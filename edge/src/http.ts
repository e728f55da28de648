import { ApiError, type ApiErrorBody, type ApiErrorType } from "../../shared/api/errors.js";
import type { Env } from "./env.js";

// Answers of the HTTP API: JSON with Sora's CORS headers on every one (errors included).

// Sora's list plus `Authorization`: a page on another origin sends the API's bearer token in it
// (a wildcard in this header would not cover Authorization, Fetch standard §3.2.3). Credentials
// (cookies) stay disallowed: no access-control-allow-credentials, so `*` origins remain valid.
const CORS_ALLOW_HEADERS = "Origin, X-Requested-With, Content-Type, Accept, x-sora-target, Authorization";
const CORS_ALLOW_METHODS = "POST, OPTIONS";
const CORS_MAX_AGE = "1000";

/** Sora's CORS headers for every answer (a plain record: the one list the two forms below share). */
function corsRecord(env: Env): Record<string, string> {
  return {
    "access-control-allow-headers": CORS_ALLOW_HEADERS,
    "access-control-allow-methods": CORS_ALLOW_METHODS,
    // Sora echoes the configured origin (not the request's), `*` included.
    "access-control-allow-origin": env.ALLOWED_ORIGIN || "*",
    "access-control-max-age": CORS_MAX_AGE,
  };
}

export function corsHeaders(env: Env): Headers {
  return new Headers(corsRecord(env));
}

/**
 * A JSON answer's headers as a plain record, built once per configured origin: every API answer
 * goes through here, and a `Headers` object filled by `set` calls costs more workerd CPU than the
 * Response copying a record (seen in a CPU profile of `npm run bench:edge`).
 */
let jsonHeaders: { origin: string; headers: Record<string, string> } | undefined;

function jsonHeadersFor(env: Env): Record<string, string> {
  const origin = env.ALLOWED_ORIGIN || "*";
  if (jsonHeaders?.origin !== origin) jsonHeaders = { origin, headers: { ...corsRecord(env), "content-type": "application/json" } };
  return jsonHeaders.headers;
}

export function json(env: Env, status: number, body: unknown, extra?: Record<string, string>): Response {
  const headers = extra === undefined ? jsonHeadersFor(env) : { ...jsonHeadersFor(env), ...lowerCased(extra) };
  return new Response(JSON.stringify(body), { status, headers });
}

function lowerCased(record: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) out[k.toLowerCase()] = v;
  return out;
}

export function errorResponse(env: Env, status: number, body: ApiErrorBody, extra?: Record<string, string>): Response {
  return json(env, status, body, extra);
}

export function apiError(env: Env, error_type: ApiErrorType, error_reason?: Record<string, unknown>, extra?: Record<string, string>): Response {
  const err = new ApiError(error_type, error_reason);
  return errorResponse(env, err.status, err.body, extra);
}

export function preflight(env: Env): Response {
  return new Response(null, { status: 204, headers: corsHeaders(env) });
}
