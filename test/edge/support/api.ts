import { SELF } from "cloudflare:test";
import { expect } from "vitest";
import { catalog, targetOf, type ApiName } from "../../../shared/api/catalog.js";

// Calls the HTTP API through the Worker, like Sora's clients: POST / with x-sora-target.

export interface ApiAnswer {
  status: number;
  headers: Headers;
  body: any;
}

export async function call(target: string, body?: unknown, init: RequestInit = {}): Promise<ApiAnswer> {
  const headers = new Headers(init.headers);
  headers.set("x-sora-target", target);
  headers.set("content-type", "application/json");
  const res = await SELF.fetch("http://edge.test/", {
    method: "POST",
    ...init,
    headers,
    body: body === undefined ? (init.body ?? null) : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Left as text for the assertion.
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export async function api(name: ApiName, body?: unknown): Promise<ApiAnswer> {
  return call(targetOf(name), body);
}

/** A call that must succeed; its answer must have the catalog's answer shape. */
export async function ok(name: ApiName, body?: unknown): Promise<any> {
  const res = await api(name, body);
  if (res.status !== 200) throw new Error(`${name} → ${res.status} ${JSON.stringify(res.body)}`);
  const shape = catalog[name].answer.safeParse(res.body);
  expect(shape.success, `${name} answer shape: ${JSON.stringify(res.body)}`).toBe(true);
  return res.body;
}

/** A call that must fail with this status and error_type; returns the error body. */
export async function fails(name: ApiName, body: unknown, error_type: string, status = 400): Promise<any> {
  const res = await api(name, body);
  expect(res.body, `${name} ${JSON.stringify(body)}`).toMatchObject({ error_type });
  expect(res.status).toBe(status);
  return res.body;
}
