import type { IRequest } from "itty-router";
import { buildOpenApiDocument } from "../../shared/api/openapi.js";
import type { Env } from "./env.js";
import { corsHeaders } from "./http.js";

// `GET /openapi.json`: the OpenAPI document, built from the catalog on the first request of an
// isolate and kept as text (building it runs z.toJSONSchema over every entry: cheap, but not
// work to repeat per request, nor to spend at isolate start for requests that never ask).
// Public like /health: it describes the API, not this deployment, and an operator opens it in
// a browser, which cannot send the API token.

let documentText: string | undefined;

export function serveOpenApi(_request: IRequest, env: Env): Response {
  documentText ??= JSON.stringify(buildOpenApiDocument());
  const headers = corsHeaders(env);
  headers.set("content-type", "application/json");
  return new Response(documentText, { status: 200, headers });
}
