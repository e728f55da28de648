import { SELF, env } from "cloudflare:test";
import { expect, it } from "vitest";

// The devtools page is Workers static assets (wrangler.toml [assets] → devtools/dist, built by
// `npm run devtools:build` before these tests): served at /devtools/ with its bundle, while the
// API, /node and /signaling still reach the Worker.

it("serves the devtools page and its bundle at /devtools/", async () => {
  const page = await SELF.fetch("http://edge.test/devtools/");
  expect(page.status).toBe(200);
  expect(page.headers.get("content-type")).toMatch(/text\/html/);
  const html = await page.text();
  expect(html).toContain('src="app.js"');
  const bundle = await SELF.fetch("http://edge.test/devtools/app.js");
  expect(bundle.status).toBe(200);
  expect(bundle.headers.get("content-type")).toMatch(/javascript/);
  expect((await bundle.text()).length).toBeGreaterThan(10_000);
});

it("binds the assets as ASSETS for the Worker", async () => {
  expect(env.ASSETS).toBeDefined();
  const res = await env.ASSETS!.fetch("http://edge.test/devtools/style.css");
  expect(res.status).toBe(200);
});

it("leaves the API to the Worker", async () => {
  const res = await SELF.fetch("http://edge.test/", { method: "POST", headers: { "x-sora-target": "Sora_20201013.ListChannels", authorization: "Bearer test-api-token" } });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual([]);
});
