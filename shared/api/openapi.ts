import { z } from "zod";
import { SORA_COMPAT_VERSION } from "../version.js";
import { catalog, targetOf, type ApiName } from "./catalog.js";
import { API_ERRORS, type ApiErrorType } from "./errors.js";

// The edge's OpenAPI 3.1 document (`GET /openapi.json`), built from the catalog and the error
// table, never written by hand: the schemas are zod 4's `z.toJSONSchema` of each entry
// (draft 2020-12, the dialect OpenAPI 3.1 uses).
//
// Sora's API is one URL, `POST /`, told apart by the `x-sora-target` header; OpenAPI keys
// operations by path + method only. Each target is therefore its own pseudo-path `/#<target>`:
// the fragment makes the path key unique and readable ("POST /#Sora_20201005.RequestRtpStream"),
// yet a client that builds the URL from it sends `POST /` (a fragment is never part of the
// request target, RFC 9110 §7.1 / RFC 3986 §3.5). Each operation also has the header as a
// required parameter whose only value is its target, so tools fill it in. docs/edge.md explains.

export const OPENAPI_VERSION = "3.1.1";

type JsonObject = Record<string, unknown>;

/** Path key of a target's operation. */
export function operationPath(name: ApiName): string {
  return `/#${targetOf(name)}`;
}

/** JSON Schema of a zod schema, as an OpenAPI 3.1 Schema Object. */
function schemaOf(schema: z.ZodType, io: "input" | "output"): JsonObject {
  const json = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonObject;
  delete json.$schema; // the document's dialect (OpenAPI 3.1 = 2020-12) applies
  // Answers are open objects: zod's output mode closes them (`additionalProperties: false`), but
  // clients of Sora's API must ignore keys they do not know (Sora adds keys between releases).
  return io === "output" ? openObjects(json) : json;
}

function openObjects(node: unknown): JsonObject {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (typeof value !== "object" || value === null) return value;
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "additionalProperties" && v === false) continue;
      out[k] = walk(v);
    }
    return out;
  };
  return walk(node) as JsonObject;
}

const errorStatuses = [...new Set(Object.values(API_ERRORS).map((e) => e.status))].sort((a, b) => a - b);
const errorTypesOf = (status: number) =>
  (Object.keys(API_ERRORS) as ApiErrorType[]).filter((type) => API_ERRORS[type].status === status);
const errorResponseName = (status: number) => `Error${status}`;
const ref = (kind: "schemas" | "responses", name: string) => ({ $ref: `#/components/${kind}/${name}` });

/** One reusable response per status: the error shape with the error types of that status. */
function errorResponse(status: number): JsonObject {
  const types = errorTypesOf(status);
  return {
    description: [
      `Sora's error shape. \`error_type\` is one of:`,
      "",
      ...types.map((type) => `- \`${type}\`: ${API_ERRORS[type].description}`),
    ].join("\n"),
    content: {
      "application/json": {
        schema: {
          allOf: [ref("schemas", "ErrorAnswer")],
          properties: { error_type: { enum: types } },
        },
      },
    },
  };
}

/** The errors an API call can meet: the request problems (400/401/413) and edge bugs (500). */
const CALL_ERROR_STATUSES = [400, 401, 413, 500];

function operation(name: ApiName): JsonObject {
  const entry = catalog[name];
  const target = targetOf(name);
  const request = schemaOf(entry.request, "input");
  const hasRequiredKeys = Array.isArray(request.required) && request.required.length > 0;
  const extension = "extension" in entry && entry.extension ? `\n\nExtension (not in Sora): ${entry.extension}` : "";
  const servedBy = entry.object === "cluster" ? "ClusterObject" : "ChannelObject";
  return {
    operationId: name,
    summary: target,
    description: `${entry.description}${extension}\n\nSent as \`POST /\` with \`x-sora-target: ${target}\`. Served by the ${servedBy} Durable Object.`,
    tags: [entry.section],
    "x-sora-target": target,
    parameters: [
      {
        name: "x-sora-target",
        in: "header",
        required: true,
        description: "Names the call (Sora's API version date + name); case-sensitive.",
        schema: { type: "string", enum: [target], default: target },
      },
    ],
    requestBody: {
      required: hasRequiredKeys,
      description: hasRequiredKeys
        ? "A JSON object; unknown keys are ignored."
        : "A JSON object; an empty body is `{}`. Unknown keys are ignored.",
      content: { "application/json": { schema: ref("schemas", `${name}Request`) } },
    },
    responses: {
      "200": {
        description: "The call's answer.",
        content: { "application/json": { schema: ref("schemas", `${name}Answer`) } },
      },
      ...Object.fromEntries(CALL_ERROR_STATUSES.map((s) => [String(s), ref("responses", errorResponseName(s))])),
    },
  };
}

/** `/health`, `/openapi.json` and the two WebSocket doors, for completeness. */
function edgePaths(): JsonObject {
  const open = { security: [] };
  const tags = ["Edge"];
  return {
    "/health": {
      get: {
        operationId: "health",
        summary: "Liveness of the edge Worker",
        tags,
        ...open,
        responses: {
          "200": {
            description: "The Worker answers.",
            content: {
              "application/json": {
                schema: { type: "object", properties: { ok: { const: true } }, required: ["ok"] },
              },
            },
          },
        },
      },
    },
    "/openapi.json": {
      get: {
        operationId: "openapi",
        summary: "This document",
        tags,
        ...open,
        responses: {
          "200": { description: "The OpenAPI document.", content: { "application/json": { schema: { type: "object" } } } },
        },
      },
    },
    "/signaling": {
      get: {
        operationId: "signaling",
        summary: "Signaling entry point (WebSocket)",
        description:
          "Upgrade to a WebSocket and send Sora's `connect`; the edge answers `{\"type\":\"redirect\",\"location\":...}` naming the channel's media node and closes (1000). Close 4400: the first message is not a `connect` with `channel_id`; 4503: no media node is connected.",
        tags,
        ...open,
        responses: {
          "101": { description: "Switching to the WebSocket protocol." },
          "426": {
            description: "Not a WebSocket upgrade.",
            content: {
              "application/json": {
                schema: { type: "object", properties: { error_type: { const: "UPGRADE-REQUIRED" } }, required: ["error_type"] },
              },
            },
          },
        },
      },
    },
    "/node": {
      get: {
        operationId: "nodeLink",
        summary: "A media node's control link (WebSocket)",
        description: "Media nodes only: `authorization: Bearer <NODE_SECRET>`, then the edge ↔ node protocol of shared/control-protocol.ts.",
        tags,
        security: [{ nodeSecret: [] }],
        responses: {
          "101": { description: "Switching to the WebSocket protocol." },
          "401": {
            description: "`UNAUTHORIZED`: no or wrong `NODE_SECRET` (unless the edge runs with `ALLOW_UNAUTHENTICATED_NODES=true`).",
            content: { "application/json": { schema: ref("schemas", "ErrorAnswer") } },
          },
        },
      },
    },
  };
}

export function buildOpenApiDocument(): JsonObject {
  const names = Object.keys(catalog) as ApiName[];
  const sections = [...new Set(names.map((n) => catalog[n].section))];
  const schemas: JsonObject = {
    ErrorAnswer: {
      type: "object",
      description: "Every failure: `error_type` (UPPER-KEBAB) and, where it helps, `error_reason`.",
      properties: {
        error_type: { type: "string", enum: Object.keys(API_ERRORS) },
        error_reason: { type: "object", description: "Details of the error (e.g. `target`, `issues`, `node_name`)." },
      },
      required: ["error_type"],
    },
  };
  for (const name of names) {
    schemas[`${name}Request`] = schemaOf(catalog[name].request, "input");
    schemas[`${name}Answer`] = schemaOf(catalog[name].answer, "output");
  }
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: "Sora-compatible SFU: HTTP API",
      version: SORA_COMPAT_VERSION,
      description: [
        `Sora's HTTP API as served by this edge (wire format of Sora ${SORA_COMPAT_VERSION}).`,
        "",
        "Every call is `POST /` with the header `x-sora-target: Sora_<date>.<Name>` and a JSON object body.",
        "OpenAPI tells operations apart by path, so each target is listed under the pseudo-path",
        "`/#<target>`: the part after `#` is a URL fragment, which clients never send, so the request goes",
        "to `/`; the `x-sora-target` header parameter (one allowed value) names the call.",
        "",
        "Other paths answer `404 NOT-FOUND`, other methods on `/` `405 METHOD-NOT-ALLOWED`, both in the error shape.",
      ].join("\n"),
    },
    tags: [...sections.map((name) => ({ name })), { name: "Edge", description: "The edge's own doors besides the API." }],
    security: [{ apiToken: [] }],
    paths: {
      ...Object.fromEntries(names.map((name) => [operationPath(name), { post: operation(name) }])),
      ...edgePaths(),
    },
    components: {
      schemas,
      responses: Object.fromEntries(errorStatuses.map((s) => [errorResponseName(s), errorResponse(s)])),
      securitySchemes: {
        apiToken: {
          type: "http",
          scheme: "bearer",
          description: "`authorization: Bearer <API_TOKEN>` (not needed when the edge runs with `ALLOW_UNAUTHENTICATED=true`).",
        },
        nodeSecret: { type: "http", scheme: "bearer", description: "`authorization: Bearer <NODE_SECRET>`, for media nodes." },
      },
    },
  };
}
