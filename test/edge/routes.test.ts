import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../edge/src/index.js";
import { catalog, targetOf, type ApiName } from "../../shared/api/catalog.js";
import { buildOpenApiDocument, operationPath } from "../../shared/api/openapi.js";

// The Worker's routes besides the API pipeline (http-pipeline.test.ts): /openapi.json, the
// devtools assets, preflights on every path, and exact paths (the router's trailing-slash
// leniency must not widen what the edge answers).

const authed = { ALLOW_UNAUTHENTICATED: "false", API_TOKEN: "s3cret" };

function fetchWith(vars: Partial<typeof env>, request: Request): Promise<Response> {
  return worker.fetch(request, { ...env, ...vars });
}

describe("GET /openapi.json", () => {
  it("serves the document built from the catalog, with CORS headers", async () => {
    const res = await SELF.fetch("http://edge.test/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const doc = (await res.json()) as any;
    expect(doc).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())));
    expect(doc.openapi).toMatch(/^3\.1\./);
    for (const name of Object.keys(catalog) as ApiName[]) {
      expect(doc.paths[operationPath(name)]?.post?.["x-sora-target"], name).toBe(targetOf(name));
    }
  });

  it("needs no API token (an operator opens it in a browser), and is the same on every request", async () => {
    const first = await fetchWith(authed, new Request("http://edge.test/openapi.json"));
    expect(first.status).toBe(200);
    const second = await fetchWith(authed, new Request("http://edge.test/openapi.json"));
    expect(await second.text()).toBe(await first.text());
  });

  it("is GET only: other methods go through the API token and end as 404", async () => {
    const res = await SELF.fetch("http://edge.test/openapi.json", { method: "POST" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error_type: "NOT-FOUND", error_reason: { path: "/openapi.json" } });
    expect((await fetchWith(authed, new Request("http://edge.test/openapi.json", { method: "PUT" }))).status).toBe(401);
  });
});

describe("exact paths", () => {
  it("answers /health, /openapi.json and / only under their exact path", async () => {
    for (const path of ["/health/", "/health//", "/openapi.json/"]) {
      const res = await SELF.fetch(`http://edge.test${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ error_type: "NOT-FOUND", error_reason: { path } });
    }
    const res = await SELF.fetch("http://edge.test//", { method: "POST", headers: { "x-sora-target": targetOf("ListChannels") } });
    expect(res.status).toBe(404);
    // With auth on, an unknown path is 401 first, as before.
    expect((await fetchWith(authed, new Request("http://edge.test/health/"))).status).toBe(401);
  });

  it("keeps a signaling or node request on another path away from the WebSocket doors", async () => {
    for (const path of ["/signaling/", "/node/"]) {
      const res = await SELF.fetch(`http://edge.test${path}`, { headers: { upgrade: "websocket" } });
      expect(res.status, path).toBe(404);
    }
  });
});

describe("CORS preflight", () => {
  it("answers OPTIONS on every path with 204 and Sora's CORS headers, without auth", async () => {
    for (const path of ["/", "/openapi.json", "/health", "/devtools/", "/anything"]) {
      const res = await fetchWith(authed, new Request(`http://edge.test${path}`, { method: "OPTIONS" }));
      expect(res.status, path).toBe(204);
      expect(res.headers.get("access-control-allow-methods")).toBe("POST, OPTIONS");
      expect(res.headers.get("access-control-allow-headers")).toContain("x-sora-target");
      expect(res.headers.get("access-control-max-age")).toBe("1000");
    }
  });
});

describe("/devtools", () => {
  const served: string[] = [];
  const ASSETS = {
    fetch: async (input: RequestInfo | URL) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      served.push(url.pathname + url.search);
      return new Response(`asset ${url.pathname}`, { status: 200, headers: { "content-type": "text/html" } });
    },
    connect: () => {
      throw new Error("not used");
    },
  } as unknown as Fetcher;

  it("is a 404 in Sora's error shape without an ASSETS binding", async () => {
    // The test Worker has the binding (wrangler.toml [assets]); a deployment without the page does not.
    for (const path of ["/devtools", "/devtools/", "/devtools/app.js"]) {
      const res = await fetchWith({ ASSETS: undefined }, new Request(`http://edge.test${path}`));
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ error_type: "NOT-FOUND", error_reason: { path } });
    }
  });

  it("redirects /devtools to /devtools/ (query kept) and hands /devtools/* to the assets", async () => {
    const redirect = await fetchWith({ ASSETS }, new Request("http://edge.test/devtools?x=1", { redirect: "manual" }));
    expect(redirect.status).toBe(307);
    expect(redirect.headers.get("location")).toBe("http://edge.test/devtools/?x=1");
    expect(served).toEqual([]);

    for (const path of ["/devtools/", "/devtools/app.js", "/devtools/a/b.css?v=2"]) {
      const res = await fetchWith({ ...authed, ASSETS }, new Request(`http://edge.test${path}`));
      expect(res.status, path).toBe(200);
      expect(await res.text()).toBe(`asset ${path.replace(/\?.*/, "")}`);
    }
    expect(served).toEqual(["/devtools/", "/devtools/app.js", "/devtools/a/b.css?v=2"]);
    // Not a prefix match on the name.
    expect((await fetchWith({ ASSETS }, new Request("http://edge.test/devtoolsx"))).status).toBe(404);
  });
});
