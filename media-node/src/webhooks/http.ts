// One webhook POST: JSON in, JSON (or nothing) out, bounded by a timeout. Failures are values,
// never exceptions, so a caller on the signaling path decides what a failure means.

export type WebhookFailure = "timeout" | "unreachable" | "bad-status" | "invalid-json";

export type WebhookResult =
  | { ok: true; status: number; body: unknown }
  | { ok: false; failure: WebhookFailure; status?: number; error?: string };

export interface PostOptions {
  timeoutMs: number;
  headers?: Record<string, string>;
  /** Aborts the request early (node shutdown). */
  signal?: AbortSignal;
}

/**
 * POSTs `body` as JSON. Success = a 2xx whose body is empty or valid JSON. Credentials in the
 * URL (`http://user:pass@host/`, Sora's basic auth option) become an Authorization header:
 * fetch refuses URLs that carry them.
 */
export async function postJson(url: string, body: unknown, options: PostOptions): Promise<WebhookResult> {
  const target = new URL(url);
  const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
  if (target.username || target.password) {
    const user = decodeURIComponent(target.username);
    const pass = decodeURIComponent(target.password);
    headers.authorization = "Basic " + Buffer.from(`${user}:${pass}`).toString("base64");
    target.username = "";
    target.password = "";
  }
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onOuterAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  try {
    // The timeout covers the body too: a receiver that sends headers and then stalls still fails.
    const res = await fetch(target, { method: "POST", headers, body: JSON.stringify(body), signal: controller.signal });
    const text = await res.text();
    if (res.status < 200 || res.status > 299) return { ok: false, failure: "bad-status", status: res.status };
    if (text.trim() === "") return { ok: true, status: res.status, body: undefined };
    try {
      return { ok: true, status: res.status, body: JSON.parse(text) };
    } catch {
      return { ok: false, failure: "invalid-json", status: res.status };
    }
  } catch (err) {
    return { ok: false, failure: timedOut ? "timeout" : "unreachable", error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
}
