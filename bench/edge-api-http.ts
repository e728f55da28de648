import http from "node:http";
import { targetOf, type ApiName } from "../shared/api/catalog.js";

/**
 * Sora API calls over node:http for the edge bench: keep-alive connections (as fetch) unless
 * `keepAlive` is false (a new connection per call). A network error answers status 0 with the
 * error's text, so a run counts it instead of stopping.
 */
export function apiCaller(keepAlive: boolean): (base: string, name: ApiName, body: unknown) => Promise<{ status: number; text: string }> {
  const agent = new http.Agent({ keepAlive, maxSockets: 64 });
  const post = (base: string, headers: Record<string, string>, body: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(base, { method: "POST", agent, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  return async (base, name, body) => {
    try {
      return await post(base, { "x-sora-target": targetOf(name), "content-type": "application/json" }, JSON.stringify(body));
    } catch (err) {
      return { status: 0, text: String(err) };
    }
  };
}
