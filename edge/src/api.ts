import type { z } from "zod";
import { catalog, lookupTarget, type ApiName } from "../../shared/api/catalog.js";
import type { ApiResult } from "../../shared/api/errors.js";
import { channelStub, clusterStub, type Env } from "./env.js";
import { apiError, errorResponse, json } from "./http.js";
import { readBody } from "./request-body.js";

// `POST /`: Sora's HTTP API. x-sora-target → catalog entry → body (size-limited JSON) → the
// entry's zod schema → the Durable Object method of the same name → JSON answer.

export const MAX_BODY_BYTES = 1024 * 1024;

export async function handleApiCall(request: Request, env: Env): Promise<Response> {
  const target = request.headers.get("x-sora-target");
  if (target === null || target.trim() === "") return apiError(env, "MISSING-TARGET-HEADER");
  const name = lookupTarget(target);
  if (!name) return apiError(env, "UNKNOWN-TARGET", { target: target.slice(0, 255) });

  const body = await readBody(request, MAX_BODY_BYTES);
  if (body === "too-large") return apiError(env, "PAYLOAD-TOO-LARGE", { max_bytes: MAX_BODY_BYTES });
  let raw: unknown = {};
  if (body.trim() !== "") {
    try {
      raw = JSON.parse(body);
    } catch {
      return apiError(env, "INVALID-JSON", { detail: "the body is not valid JSON" });
    }
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return apiError(env, "INVALID-JSON", { detail: "the body must be a JSON object" });
  }
  const parsed = (catalog[name].request as z.ZodType).safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
    return apiError(env, "INVALID-REQUEST", { target: target.trim(), issues });
  }

  const result = await route(env, name, parsed.data);
  return result.ok ? json(env, 200, result.answer) : errorResponse(env, result.status, result.body);
}

type RpcApi = Record<ApiName, (request: unknown) => Promise<ApiResult<unknown>>>;

/** The catalog says which object serves a call; its method has the call's name. */
function route(env: Env, name: ApiName, request: unknown): Promise<ApiResult<unknown>> {
  const stub =
    catalog[name].object === "cluster" ? clusterStub(env) : channelStub(env, (request as { channel_id: string }).channel_id);
  return (stub as unknown as RpcApi)[name](request);
}
