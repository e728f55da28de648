import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../edge/src/index.js";
import { catalog, targetOf, type ApiName } from "../../shared/api/catalog.js";
import { api, call } from "./support/api.js";

// The Worker's request pipeline, input by input: CORS, preflight, auth, method/path, size,
// target header, JSON, schema. Bad input always gets a 4xx JSON with an error_type.

const CORS = {
  "access-control-allow-headers": "Origin, X-Requested-With, Content-Type, Accept, x-sora-target, Authorization",
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-allow-origin": "*",
  "access-control-max-age": "1000",
};

function expectCors(headers: Headers): void {
  for (const [k, v] of Object.entries(CORS)) expect(headers.get(k), k).toBe(v);
}

/** The Worker with other vars than the test config's (auth switched on, another origin). */
function fetchWith(vars: Partial<typeof env>, request: Request): Promise<Response> {
  return worker.fetch(request, { ...env, ...vars });
}

describe("CORS and preflight", () => {
  it("answers OPTIONS / with 204 and Sora's CORS headers", async () => {
    const res = await SELF.fetch("http://edge.test/", { method: "OPTIONS" });
    expect(res.status).toBe(204);
    expectCors(res.headers);
  });

  it("puts CORS headers on answers and on errors", async () => {
    const good = await api("ListChannels");
    expect(good.status).toBe(200);
    expect(good.headers.get("content-type")).toBe("application/json");
    expectCors(good.headers);
    const bad = await call("Sora_20201013.Nope", {});
    expect(bad.status).toBe(400);
    expectCors(bad.headers);
  });

  it("echoes a configured origin", async () => {
    const res = await fetchWith(
      { ALLOWED_ORIGIN: "https://app.example" },
      new Request("http://edge.test/", { method: "POST", headers: { "x-sora-target": targetOf("ListChannels") } }),
    );
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
  });
});

describe("auth", () => {
  const authed = { ALLOW_UNAUTHENTICATED: "false", API_TOKEN: "s3cret" };
  const listChannels = (headers: Record<string, string>) =>
    new Request("http://edge.test/", { method: "POST", headers: { "x-sora-target": targetOf("ListChannels"), ...headers } });

  it("refuses a call without or with a wrong bearer token when auth is on", async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: "Bearer wrong" }, { authorization: "Basic s3cret" }];
    for (const headers of attempts) {
      const res = await fetchWith(authed, listChannels(headers));
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error_type: "UNAUTHORIZED" });
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
    }
  });

  it("admits the right token, and preflights need none", async () => {
    const res = await fetchWith(authed, listChannels({ authorization: "Bearer s3cret" }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
    const preflight = await fetchWith(authed, new Request("http://edge.test/", { method: "OPTIONS" }));
    expect(preflight.status).toBe(204);
  });

  it("refuses everything when auth is on but no API_TOKEN is set", async () => {
    const res = await fetchWith({ ALLOW_UNAUTHENTICATED: "false", API_TOKEN: "" }, listChannels({ authorization: "Bearer " }));
    expect(res.status).toBe(401);
  });

  it("refuses a node link without the node secret unless nodes are allowed unauthenticated", async () => {
    const link = (headers: Record<string, string>) =>
      new Request("http://edge.test/node", { headers: { upgrade: "websocket", "x-sora-node-name": "n@host", ...headers } });
    const vars = { ALLOW_UNAUTHENTICATED_NODES: "false", NODE_SECRET: "node-s3cret" };
    expect((await fetchWith(vars, link({}))).status).toBe(401);
    expect((await fetchWith(vars, link({ authorization: "Bearer nope" }))).status).toBe(401);
    const res = await fetchWith(vars, link({ authorization: "Bearer node-s3cret" }));
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    res.webSocket!.close(1000);
  });
});

describe("method, path, size", () => {
  it("answers GET /health", async () => {
    const res = await SELF.fetch("http://edge.test/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it("404s other paths and 405s other methods, as JSON", async () => {
    const notFound = await SELF.fetch("http://edge.test/api", { method: "POST" });
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toMatchObject({ error_type: "NOT-FOUND" });
    for (const method of ["GET", "PUT", "DELETE"]) {
      const res = await SELF.fetch("http://edge.test/", { method });
      expect(res.status, method).toBe(405);
      expect(await res.json()).toMatchObject({ error_type: "METHOD-NOT-ALLOWED" });
      expect(res.headers.get("allow")).toBe("POST, OPTIONS");
    }
  });

  it("refuses a body over 1 MiB with 413", async () => {
    const big = JSON.stringify({ channel_id: "c", connection_id: "x", metadata: { blob: "x".repeat(1024 * 1024) } });
    const res = await call(targetOf("PutSignalingNotifyMetadata"), big);
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error_type: "PAYLOAD-TOO-LARGE" });
  });

  it("reads an oversized length-less body to its end instead of cancelling it (wrangler dev dies on a cancel)", async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const chunks = 32; // 2 MiB
    let pulled = 0;
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled === chunks) return controller.close();
        pulled++;
        controller.enqueue(chunk);
      },
      cancel() {
        cancelled = true;
      },
    });
    const request = new Request("http://edge.test/", {
      method: "POST",
      headers: { "x-sora-target": targetOf("ListChannels") },
      body,
    });
    expect(request.headers.get("content-length")).toBeNull();
    const res = await fetchWith({}, request);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error_type: "PAYLOAD-TOO-LARGE", error_reason: { max_bytes: 1024 * 1024 } });
    expect(cancelled).toBe(false);
    expect(pulled).toBe(chunks);
  });
});

describe("target header", () => {
  it("needs x-sora-target", async () => {
    const res = await SELF.fetch("http://edge.test/", { method: "POST", body: "{}" });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error_type: "MISSING-TARGET-HEADER" });
  });

  it("refuses unknown targets and known names with a wrong date", async () => {
    for (const target of ["Sora_20201013.Nope", "Sora_20201014.ListChannels", "ListChannels", "sora_20201013.ListChannels"]) {
      const res = await call(target, {});
      expect(res.status, target).toBe(400);
      expect(res.body).toEqual({ error_type: "UNKNOWN-TARGET", error_reason: { target } });
    }
  });

  it("accepts the header in any case (X-Sora-Target)", async () => {
    const res = await SELF.fetch("http://edge.test/", { method: "POST", headers: { "X-Sora-Target": targetOf("ListChannels") } });
    expect(res.status).toBe(200);
  });
});

describe("body", () => {
  it("treats an empty body as {} for calls without keys", async () => {
    for (const name of ["ListChannels", "ListClusterNodes", "ListClusterChannels", "GetMode"] as const) {
      const res = await call(targetOf(name), "");
      expect(res.status, name).toBe(200);
    }
  });

  it("refuses malformed JSON and JSON that is not an object", async () => {
    for (const body of ["{", "{'a':1}", "nul", "[1,2]", "\"text\"", "42", "null"]) {
      const res = await call(targetOf("ListChannelUserAgentStats"), body);
      expect(res.status, body).toBe(400);
      expect(res.body.error_type).toBe("INVALID-JSON");
    }
  });

  const invalid: [ApiName, unknown, string][] = [
    ["ListChannelUserAgentStats", {}, "channel_id"],
    ["ListChannelUserAgentStats", { channel_id: 1 }, "channel_id"],
    ["ListChannelUserAgentStats", { channel_id: "" }, "channel_id"],
    ["ListChannelUserAgentStats", { channel_id: "c".repeat(256) }, "channel_id"],
    ["GetSignalingNotifyMetadata", { channel_id: "c" }, "connection_id"],
    ["PutSignalingNotifyMetadata", { channel_id: "c", connection_id: "x", metadata: [1] }, "metadata"],
    ["PutSignalingNotifyMetadata", { channel_id: "c", connection_id: "x", metadata: "m" }, "metadata"],
    ["PutSignalingNotifyMetadata", { channel_id: "c", connection_id: "x", metadata: {}, push: "yes" }, "push"],
    ["PutSignalingNotifyMetadataItem", { channel_id: "c", connection_id: "x", key: "k" }, "value"],
    ["RequestRtpStream", { channel_id: "c", recv_connection_id: "x", rid: "r3" }, "rid"],
    ["RequestRtpStream", { channel_id: "c", recv_connection_id: "x" }, "rid"],
    ["ChangeUpstreamVideoBitRate", { channel_id: "c", connection_id: "x", bit_rate: 0 }, "bit_rate"],
    ["ChangeUpstreamVideoBitRate", { channel_id: "c", connection_id: "x", bit_rate: 30001 }, "bit_rate"],
    ["ChangeUpstreamVideoBitRate", { channel_id: "c", connection_id: "x", bit_rate: 1.5 }, "bit_rate"],
    ["ChangeUpstreamVideoBitRate", { channel_id: "c", connection_id: "x", bit_rate: "500" }, "bit_rate"],
    ["StartForwardingRtp", { channel_id: "c", ip_address: "127.0.0.1", audio_port: 0, video_port: 5006 }, "audio_port"],
    ["StartForwardingRtp", { channel_id: "c", ip_address: "127.0.0.1", audio_port: 5004, video_port: 65536 }, "video_port"],
    ["StartForwardingRtp", { channel_id: "c", ip_address: "300.1.1.1", audio_port: 5004, video_port: 5006 }, "ip_address"],
    ["StartForwardingRtp", { channel_id: "c", ip_address: "localhost", audio_port: 5004, video_port: 5006 }, "ip_address"],
    ["ChangeMode", { mode: "initial" }, "mode"],
    ["ChangeMode", {}, "mode"],
    ["ListClusterNodes", { include_all_known_nodes: "true" }, "include_all_known_nodes"],
    ["PurgeClusterNode", {}, "target_node_name"],
    ["InitCluster", { node_name_list: [] }, "node_name_list"],
    ["InitCluster", { node_name_list: "a" }, "node_name_list"],
    ["JoinCluster", {}, "contact_node_name"],
    ["GenerateCrashLog", { info: "text" }, "info"],
    ["PauseRtpStream", { channel_id: "c", recv_connection_id: "x" }, "send_connection_id"],
    ["DisconnectConnection", { channel_id: "c" }, "connection_id"],
    ["DisconnectConnection", { channel_id: "c", connection_id: "x", reason: "because" }, "reason"],
    ["DisconnectChannel", { channel_id: "c", reason: [1] }, "reason"],
    ["DisconnectClient", { channel_id: "c" }, "client_id"],
    ["DisconnectChannelByRole", { channel_id: "c", role: "viewer" }, "role"],
    ["PushChannel", { channel_id: "c" }, "data"],
    ["PushChannel", { channel_id: "c", data: "text" }, "data"],
    ["PushClient", { channel_id: "c", client_id: "", data: {} }, "client_id"],
    ["PushConnection", { channel_id: "c", connection_id: "x", data: [1] }, "data"],
    ["PushChannelByRole", { channel_id: "c", data: {} }, "role"],
    ["ListChannelConnections", {}, "channel_id"],
    ["GetStatsConnection", { channel_id: "c" }, "connection_id"],
    ["RequestKeyFrame", { connection_id: "x" }, "channel_id"],
    ["FocusSpotlightFixed", { channel_id: "c", connection_id: 7 }, "connection_id"],
    ["UnfocusSpotlight", { channel_id: "c" }, "connection_id"],
    ["ChangeSpotlightNumber", { channel_id: "c", spotlight_number: 0 }, "spotlight_number"],
    ["ChangeSpotlightNumber", { channel_id: "c", spotlight_number: 9 }, "spotlight_number"],
    ["ChangeSpotlightNumber", { channel_id: "c", spotlight_number: 1.5 }, "spotlight_number"],
  ];

  it.each(invalid)("%s %j → INVALID-REQUEST naming %s", async (name, body, path) => {
    const res = await api(name, body);
    expect(res.status).toBe(400);
    expect(res.body.error_type).toBe("INVALID-REQUEST");
    expect(res.body.error_reason.issues.map((i: { path: string }) => i.path)).toContain(path);
  });

  it("accepts IPv6 forwarding targets and drops unknown keys (Sora clients send extras)", async () => {
    // Valid input reaches the channel, which has no session here.
    const res = await api("StartForwardingRtp", { channel_id: "c", ip_address: "::1", audio_port: 5004, video_port: 5006, redirect: false });
    expect(res.body).toEqual({ error_type: "CHANNEL-NOT-FOUND", error_reason: { channel_id: "c" } });
  });

  it("never answers 5xx to junk bodies on any target", async () => {
    const junk: unknown[] = [{}, { channel_id: null }, { channel_id: "c", connection_id: "x", key: "k", value: null, metadata: {}, rid: "r0", recv_connection_id: "y", send_connection_id: "z", bit_rate: 1, mode: "normal", node_name_list: ["n"], target_node_name: "n", contact_node_name: "n" }, { __proto__: { a: 1 } }, { constructor: { prototype: 1 } }];
    for (const name of Object.keys(catalog) as ApiName[]) {
      for (const body of junk) {
        const res = await api(name, body);
        const what = `${name} ${JSON.stringify(body)}: ${res.status} ${JSON.stringify(res.body)}`;
        expect(res.status, what).toBeLessThan(500);
        if (res.status !== 200) {
          expect(res.status, what).toBeGreaterThanOrEqual(400);
          expect(typeof res.body.error_type, what).toBe("string");
        }
      }
    }
  });
});
