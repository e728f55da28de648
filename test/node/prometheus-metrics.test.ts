import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { GenericNack, PictureLossIndication, RtcpPayloadSpecificFeedback, RtcpTransportLayerFeedback } from "werift";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaNode } from "../../media-node/src/media-node.js";
import { parsePrometheusText, sampleNames, sampleValue, type Family } from "../support/prometheus-text.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { pumpKeyframeMedia } from "../support/synthetic-media.js";

// GET /metrics (Prometheus text, metrics/prometheus.ts) scraped around real traffic: werift
// clients publish and subscribe through an in-process node with an event webhook receiver. The
// exposition must parse strictly, counters must rise by what was sent, reading must change
// nothing (two scrapes in a row, and a /metrics.json read between, give the same counters), and
// every metric the Grafana dashboard (infra/grafana/sora-sfu-node.json) queries must exist.

let node: MediaNode;
let receiver: Server;
let eventWebhooks = 0;
const clients: WeriftSoraClient[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/event") eventWebhooks++;
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  node = new MediaNode({ port: 0, webhooks: { eventUrl: `${hook}/event`, sessionUrl: `${hook}/session` } });
  await node.start();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await node?.stop();
  await new Promise((r) => receiver?.close(r));
});

async function scrape(): Promise<{ text: string; families: Map<string, Family> }> {
  const res = await fetch(`http://127.0.0.1:${node.port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, families: parsePrometheusText(text) };
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const v = sampleValue(families, name, labels);
  if (v === undefined) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return v;
}

/** Every sora_sfu_ counter and gauge series (the event-loop histogram moves with time by design). */
function soraSeries(families: Map<string, Family>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of families.values()) {
    if (!f.name.startsWith("sora_sfu_") || f.name === "sora_sfu_event_loop_delay_seconds") continue;
    for (const s of f.samples) out[`${s.name}${JSON.stringify(s.labels)}`] = s.value;
  }
  return out;
}

async function waitFor(what: string, probe: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function client(channelId: string, role: "sendonly" | "recvonly"): Promise<WeriftSoraClient> {
  const c = new WeriftSoraClient({ url: `ws://127.0.0.1:${node.port}/signaling`, channelId, role });
  clients.push(c);
  await c.connect();
  return c;
}

describe("GET /metrics", () => {
  let afterTraffic: Map<string, Family>;

  it("parses strictly, follows the naming rules and replaces prom-client's resetting event-loop gauges", async () => {
    const { families } = await scrape();
    for (const f of families.values()) {
      if (!f.name.startsWith("sora_sfu_")) continue;
      if (f.type === "counter") expect(f.name, f.name).toMatch(/_total$/);
      else expect(f.name, f.name).not.toMatch(/_total$/);
      expect(f.help.length, f.name).toBeGreaterThan(0);
    }
    // prom-client's default metrics: process, heap, GC.
    expect(families.get("process_cpu_seconds_total")?.type).toBe("counter");
    expect(families.get("nodejs_heap_size_used_bytes")?.type).toBe("gauge");
    expect(families.get("nodejs_gc_duration_seconds")?.type).toBe("histogram");
    expect([...families.keys()].filter((n) => n.startsWith("nodejs_eventloop_lag"))).toEqual([]);
    expect(families.get("sora_sfu_event_loop_delay_seconds")?.type).toBe("histogram");
    expect(families.get("sora_sfu_webhook_duration_seconds")?.type).toBe("histogram");
  });

  it("counters rise by what was sent through the node", async () => {
    const { families: before } = await scrape();
    const publisher = await client("metrics-traffic", "sendonly");
    const subscriber = await client("metrics-traffic", "recvonly");
    const pump = pumpKeyframeMedia(publisher);
    await waitFor("subscriber receives media", () => subscriber.packetsFrom(publisher.connectionId, "video") > 100 && subscriber.packetsFrom(publisher.connectionId, "audio") > 20);
    pump.stop();
    await new Promise((r) => setTimeout(r, 500)); // packets in flight land
    await waitFor("connection.created event webhooks", () => eventWebhooks >= 2);
    // The subscriber NACKs the last 5 video packets it got and asks for a keyframe (PLI), on the
    // SSRC the node sends it the publisher's video on.
    const conn = node.sfu.findConnection("metrics-traffic", subscriber.connectionId)!;
    const sub = [...conn.subscriptions.values()].find((x) => x.publication.kind === "video")!;
    const mediaSsrc = sub.transceiver.sender.ssrc;
    const lastSeq = subscriber.received.get(`${publisher.connectionId}:video`)!.lastSeq;
    const lost = [1, 2, 3, 4, 5].map((i) => (lastSeq - i) & 0xffff);
    const publisherSender = publisher.pc.getTransceivers().find((t) => t.sender.track === publisher.videoTrack)!.sender as unknown as { pliCount: number };
    const pliBefore = publisherSender.pliCount;
    await subscriber.pc.dtlsTransports[0]!.sendRtcp([
      new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: mediaSsrc, lost }) }),
      new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc }) }),
    ]);
    await waitFor("the publisher gets the PLI", () => publisherSender.pliCount > pliBefore);
    const { families: after } = await scrape();
    afterTraffic = after;
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);

    const videoIn = subscriber.received.get(`${publisher.connectionId}:video`)!;
    const audioIn = subscriber.received.get(`${publisher.connectionId}:audio`)!;
    const forwarded = delta("sora_sfu_forwarded_packets_total");
    expect(forwarded).toBeGreaterThanOrEqual(videoIn.packets + audioIn.packets);
    expect(delta("sora_sfu_forwarded_bytes_total")).toBeGreaterThanOrEqual(videoIn.bytes + audioIn.bytes);
    const received = delta("sora_sfu_received_packets_total");
    expect(received).toBeLessThanOrEqual(pump.sent());
    // One subscriber, no simulcast: each received packet is forwarded at most once, besides resends.
    expect(forwarded - delta("sora_sfu_nack_resent_packets_total")).toBeLessThanOrEqual(received);
    expect(delta("sora_sfu_received_bytes_total")).toBeGreaterThanOrEqual(received * 80);
    // The fast path (on by default) carried the forwarded packets; its share is at most all of them.
    const fastSent = delta("sora_sfu_fast_path_sent_packets_total");
    expect(fastSent).toBeGreaterThan(0);
    expect(fastSent).toBeLessThanOrEqual(forwarded);
    expect(delta("sora_sfu_fast_path_received_packets_total")).toBeLessThanOrEqual(received);
    // The subscriber's NACK and PLI: answered from the cache, passed on to the publisher.
    expect(delta("sora_sfu_nacks_received_total")).toBeGreaterThanOrEqual(1);
    expect(delta("sora_sfu_nacked_packets_total")).toBeGreaterThanOrEqual(lost.length);
    expect(delta("sora_sfu_nack_resent_packets_total")).toBeGreaterThanOrEqual(lost.length);
    expect(delta("sora_sfu_keyframe_requests_received_total", { type: "pli" })).toBeGreaterThanOrEqual(1);
    expect(delta("sora_sfu_pli_sent_total")).toBeGreaterThanOrEqual(publisherSender.pliCount - pliBefore);

    expect(value(after, "sora_sfu_connections", { role: "sendonly" })).toBe(1);
    expect(value(after, "sora_sfu_connections", { role: "recvonly" })).toBe(1);
    expect(value(after, "sora_sfu_connections", { role: "sendrecv" })).toBe(0);
    expect(value(after, "sora_sfu_sessions")).toBe(1);
    expect(delta("sora_sfu_connections_created_total")).toBe(2);
    expect(delta("sora_sfu_sessions_created_total")).toBe(1);

    const eventOk = delta("sora_sfu_webhook_requests_total", { kind: "event", outcome: "success" });
    expect(eventOk).toBeGreaterThanOrEqual(2);
    expect(delta("sora_sfu_webhook_requests_total", { kind: "event", outcome: "failure" })).toBe(0);
    expect(delta("sora_sfu_webhook_duration_seconds_count", { kind: "event" })).toBeGreaterThanOrEqual(eventOk);
    expect(value(after, "sora_sfu_webhook_duration_seconds_count", { kind: "session" })).toBeGreaterThanOrEqual(1);
  });

  it("reading changes nothing: two scrapes (and a /metrics.json read between) give the same counters", async () => {
    const a = await scrape();
    const json = (await (await fetch(`http://127.0.0.1:${node.port}/metrics.json`)).json()) as { event_loop_delay: { count: number }; rtp_forwarded: number };
    const b = await scrape();
    expect(soraSeries(b.families)).toEqual(soraSeries(a.families));
    expect(json.rtp_forwarded).toBe(value(a.families, "sora_sfu_forwarded_packets_total"));
    // The event-loop histogram is cumulative: it only grows, whoever reads it.
    const loopA = value(a.families, "sora_sfu_event_loop_delay_seconds_count");
    const loopB = value(b.families, "sora_sfu_event_loop_delay_seconds_count");
    expect(loopA).toBeGreaterThan(0);
    expect(json.event_loop_delay.count).toBeGreaterThanOrEqual(loopA);
    expect(loopB).toBeGreaterThanOrEqual(json.event_loop_delay.count);
  });

  it("gauges follow connections leaving", async () => {
    const { families: before } = await scrape();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await waitFor("connections gone", () => node.sfu.connectionCount() === 0);
    const { families: after } = await scrape();
    expect(value(after, "sora_sfu_connections", { role: "sendonly" })).toBe(0);
    expect(value(after, "sora_sfu_connections", { role: "recvonly" })).toBe(0);
    expect(value(after, "sora_sfu_sessions")).toBe(0);
    expect(value(after, "sora_sfu_connections_destroyed_total") - value(before, "sora_sfu_connections_destroyed_total")).toBe(2);
  });

  it("every metric the Grafana dashboard queries exists in a real scrape", () => {
    const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, "../../infra/grafana/sora-sfu-node.json"), "utf8")) as unknown;
    const exprs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if ((k === "expr" || k === "query") && typeof x === "string") exprs.push(x);
          else walk(x);
        }
      }
    };
    walk(dashboard);
    expect(exprs.length).toBeGreaterThan(10);
    const names = sampleNames(afterTraffic);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(?:sora_sfu|nodejs|process)_[a-zA-Z0-9_]+/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !names.has(n))).toEqual([]);
  });
});
