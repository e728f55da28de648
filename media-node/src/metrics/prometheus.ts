import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from "prom-client";
import { mediaCounters } from "../sfu/media-counters.js";
import type { Egress } from "../egress/egress.js";
import type { Sfu } from "../sfu/sfu.js";
import { fastCounters } from "../transport/fast-transport.js";
import { transportCounters } from "../transport/transport-counters.js";
import type { TurnCounters } from "../turn/turn-service.js";
import type { WebhookCounters, WebhookDurations } from "../webhooks/counters.js";
import type { BucketHistogram } from "./bucket-histogram.js";
import { eventLoopDelay } from "./event-loop-delay.js";

// GET /metrics in the Prometheus text format (prom-client). Every figure is read at scrape time
// from the plain counters the node already keeps (prom-client `collect` callbacks): the packet
// paths never call prom-client, and a scrape changes no state, so two scrapes in a row without
// traffic give the same counter values. Names: `sora_sfu_` prefix, `_total` for counters, base
// units (seconds, bytes), https://prometheus.io/docs/practices/naming/.
//
// Two registries: the process's (prom-client's default process/GC/heap metrics, the event-loop
// delay histogram, and the counters kept per process: media path, fast path, hostile input), made
// once; and each node's (connections, sessions, messaging, webhooks, egress, TURN). One node runs
// per process in production; tests that run several in one process see the process part shared.

type Labels = Record<string, string>;
type Read = () => number | readonly (readonly [Labels, number])[];

function values(read: Read): readonly (readonly [Labels, number])[] {
  const v = read();
  return typeof v === "number" ? [[{}, v]] : v;
}

/** A counter whose value is read at scrape time from a plain number the node keeps. */
function sampledCounter(registry: Registry, name: string, help: string, read: Read, labelNames: string[] = []): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of values(read)) this.inc(labels, v);
    },
  });
}

function sampledGauge(registry: Registry, name: string, help: string, read: Read, labelNames: string[] = []): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of values(read)) this.set(labels, v);
    },
  });
}

/**
 * A Prometheus histogram over BucketHistograms the node fills itself (prom-client's Histogram
 * can only be observed into, not read from existing counts). The registry only calls `get()`.
 */
function sampledHistogram(registry: Registry, name: string, help: string, read: () => readonly (readonly [Labels, BucketHistogram])[]): void {
  const metric = {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    get() {
      const out: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const [labels, h] of read()) {
        const cumulative = h.cumulative();
        h.bounds.forEach((le, i) => out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative[i]! }));
        out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: "+Inf" }, value: h.count });
        out.push({ metricName: `${name}_sum`, labels, value: h.sum });
        out.push({ metricName: `${name}_count`, labels, value: h.count });
      }
      return { name, help, type: "histogram", aggregator: "sum", values: out };
    },
  };
  registry.registerMetric(metric as unknown as Metric);
}

let processRegistry: Registry | undefined;

function processMetricsRegistry(): Registry {
  if (processRegistry) return processRegistry;
  const r = new Registry();
  collectDefaultMetrics({ register: r });
  // prom-client's eventLoopLag gauges reset their perf_hooks histogram on every scrape (a second
  // scraper would see a different window); sora_sfu_event_loop_delay_seconds replaces them.
  for (const m of r.getMetricsAsArray()) if (m.name.startsWith("nodejs_eventloop_lag")) r.removeSingleMetric(m.name);
  const loop = eventLoopDelay();
  sampledHistogram(r, "sora_sfu_event_loop_delay_seconds", "How late a 10 ms timer fired (event-loop delay), since the process started.", () => [[{}, loop]]);

  const m = mediaCounters;
  sampledCounter(r, "sora_sfu_received_packets_total", "RTP packets received from publishers (all layers).", () => m.packetsReceived);
  sampledCounter(r, "sora_sfu_received_bytes_total", "RTP payload bytes received from publishers.", () => m.bytesReceived);
  sampledCounter(r, "sora_sfu_forwarded_packets_total", "RTP packets sent to subscribers, NACK answers included.", () => m.packetsForwarded);
  sampledCounter(r, "sora_sfu_forwarded_bytes_total", "RTP payload bytes sent to subscribers.", () => m.bytesForwarded);
  sampledCounter(r, "sora_sfu_fast_path_sent_packets_total", "RTP packets sent to subscribers on the fast path (SRTP in place on the ICE socket).", () => fastCounters.rtpSent);
  sampledCounter(r, "sora_sfu_fast_path_received_packets_total", "RTP packets received from publishers on the fast path.", () => fastCounters.rtpReceived);
  sampledCounter(r, "sora_sfu_srtp_auth_failures_total", "SRTP packets dropped on the fast path: authentication failed.", () => fastCounters.srtpAuthFailures);
  sampledCounter(r, "sora_sfu_srtp_replays_total", "SRTP packets dropped on the fast path: replayed (already seen).", () => fastCounters.srtpReplays);
  sampledCounter(r, "sora_sfu_fast_path_send_drops_total", "RTP packets the batched native send could not hand to the kernel (socket buffer full, socket closed).", () => fastCounters.sendDrops);
  sampledCounter(r, "sora_sfu_nacks_received_total", "Generic NACK feedback messages received from subscribers.", () => m.nacksReceived);
  sampledCounter(r, "sora_sfu_nacked_packets_total", "Packets subscribers' NACKs asked for.", () => m.nackedPackets);
  sampledCounter(r, "sora_sfu_nack_resent_packets_total", "NACKed packets resent from the cache.", () => m.nackPacketsResent);
  sampledCounter(r, "sora_sfu_nack_resends_suppressed_total", "NACKed packets not resent (resent within 20 ms, or over the subscriber's budget).", () => transportCounters.nackRetransmissionsSuppressed);
  sampledCounter(r, "sora_sfu_keyframe_requests_received_total", "Keyframe requests (PLI, FIR) received from subscribers.", () => [
    [{ type: "pli" }, m.pliReceived],
    [{ type: "fir" }, m.firReceived],
  ], ["type"]);
  sampledCounter(r, "sora_sfu_keyframe_requests_suppressed_total", "Subscribers' PLI/FIR ignored: the same subscriber asked less than 1 s before.", () => transportCounters.keyframeRequestsSuppressed);
  sampledCounter(r, "sora_sfu_pli_sent_total", "PLIs sent to publishers (the node never sends FIR).", () => m.pliSent);
  sampledCounter(r, "sora_sfu_simulcast_layer_switches_total", "Simulcast layer switches made for subscribers (on a keyframe of the new layer; the first layer relayed is none).", () => m.simulcastLayerSwitches);
  sampledCounter(r, "sora_sfu_rtp_forwarding_sent_packets_total", "RTP packets sent by RTP forwarding legs (StartForwardingRtp).", () => m.rtpForwardingPacketsSent);
  sampledCounter(r, "sora_sfu_audio_streaming_frames_total", "Opus frames handed to audio streaming, by outcome (dropped: the gateway stream was not writable).", () => [
    [{ outcome: "sent" }, m.audioStreamingPacketsSent],
    [{ outcome: "dropped" }, m.audioStreamingPacketsDropped],
  ], ["outcome"]);

  const t = transportCounters;
  sampledCounter(r, "sora_sfu_ice_foreign_datagrams_total", "Non-STUN datagrams from an address that is not the selected ICE pair (dropped).", () => t.iceForeignDatagrams);
  sampledCounter(r, "sora_sfu_ice_unauthenticated_requests_total", "STUN requests to an ICE-lite connection without a valid MESSAGE-INTEGRITY (dropped unanswered).", () => t.iceUnauthenticatedRequests);
  sampledCounter(r, "sora_sfu_ice_silent_connections_total", "ICE-lite connections failed because their client sent no STUN request for the silence timeout.", () => t.iceSilentConnections);
  sampledCounter(r, "sora_sfu_dtls_records_dropped_total", "DTLS records dropped (truncated, unknown type, epoch 0 after the handshake, unauthenticated alerts).", () => t.dtlsRecordsDropped);
  sampledCounter(r, "sora_sfu_dtls_alerts_received_total", "Authenticated DTLS alerts that ended a session.", () => t.dtlsAlertsReceived);
  sampledCounter(r, "sora_sfu_dtls_connections_ended_total", "Connections ended because their DTLS transport closed or failed.", () => t.dtlsConnectionsEnded);
  sampledCounter(r, "sora_sfu_rtp_malformed_total", "RTP packets with a malformed header (dropped).", () => t.rtpMalformed);
  sampledCounter(r, "sora_sfu_rtcp_malformed_total", "RTCP packets whose lengths do not add up (dropped).", () => t.rtcpMalformed);
  sampledCounter(r, "sora_sfu_udp_mux_dropped_total", "Datagrams on the shared ICE UDP port that belong to no connection (dropped).", () => t.udpMuxDropped);
  processRegistry = r;
  return r;
}

export interface NodeMetricsSources {
  sfu: Sfu;
  /** Absent when the listener runs without a MediaNode (tests): egress gauges read 0. */
  egress?: Egress | undefined;
  webhooks?: { counters: WebhookCounters; durations: WebhookDurations } | undefined;
  turn?: TurnCounters | undefined;
}

/** One media node's Prometheus registry; `text()` is the body of GET /metrics. */
export class NodeMetrics {
  static readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  private readonly registry = new Registry();
  private readonly process = processMetricsRegistry();

  constructor({ sfu, egress, webhooks, turn }: NodeMetricsSources) {
    const r = this.registry;
    sampledGauge(r, "sora_sfu_connections", "Connections on this node, by role (admitted and not yet left).", () => {
      const byRole = { sendrecv: 0, sendonly: 0, recvonly: 0 };
      for (const ch of sfu.channels.values()) for (const c of ch.connections.values()) byRole[c.role]++;
      return Object.entries(byRole).map(([role, n]) => [{ role }, n] as const);
    }, ["role"]);
    sampledGauge(r, "sora_sfu_sessions", "Sessions (channels with at least one connection) on this node.", () => sfu.channels.size);
    const c = sfu.counters;
    sampledCounter(r, "sora_sfu_connections_created_total", "Connections that became connected.", () => c.total_connection_created);
    sampledCounter(r, "sora_sfu_connections_destroyed_total", "Connected connections that ended.", () => c.total_connection_destroyed);
    sampledCounter(r, "sora_sfu_connections_failed_total", "Connections that ended before they became connected.", () => c.total_failed_connections);
    sampledCounter(r, "sora_sfu_sessions_created_total", "Sessions created.", () => c.total_session_created);
    sampledCounter(r, "sora_sfu_sessions_destroyed_total", "Sessions destroyed.", () => c.total_session_destroyed);
    sampledCounter(r, "sora_sfu_connection_setup_seconds_total", "Sum of connect-to-connected times of connections created.", () => c.total_setup_time_msec / 1000);
    sampledCounter(r, "sora_sfu_connection_duration_seconds_total", "Sum of the connected lifetimes of connections destroyed.", () => c.total_duration_msec / 1000);
    const msg = sfu.messagingCounters;
    sampledCounter(r, "sora_sfu_messaging_messages_total", "DataChannel messaging (# labels): deliveries made, messages dropped.", () => [
      [{ outcome: "relayed" }, msg.messaging_relayed],
      [{ outcome: "dropped" }, msg.messaging_dropped],
    ], ["outcome"]);
    sampledGauge(r, "sora_sfu_rtp_forwarding_legs", "RTP forwarding legs sending now (one per forwarded track).", () => egress?.rtpForwarding.legCount() ?? 0);
    sampledGauge(r, "sora_sfu_audio_streaming_streams", "Audio streaming streams open now (one per sending connection).", () => egress?.audioStreaming.streamCount() ?? 0);
    const relay = sfu.relay;
    if (relay) {
      // Cluster relay (docs/relay.md), per node; relay RTP sent is also in the node-wide forwarded count.
      sampledCounter(r, "sora_sfu_relay_packets_total", "Cluster relay RTP: sent to other nodes (NACK answers included), received from them.", () => {
        const p = relay.packetCounts();
        return [
          [{ direction: "sent" }, p.sent],
          [{ direction: "received" }, p.received],
        ];
      }, ["direction"]);
      sampledCounter(r, "sora_sfu_relay_nack_packets_resent_total", "Cluster relay RTP resent to other nodes' NACKs.", () => relay.packetCounts().nackResent);
      sampledGauge(r, "sora_sfu_relay_links", "Cluster relay links open now: pulls this node makes, pulls of this node.", () => {
        const o = relay.linkCounts();
        return [
          [{ side: "pulling" }, o.links],
          [{ side: "serving" }, o.servings],
        ];
      }, ["side"]);
      sampledGauge(r, "sora_sfu_relay_legs", "Relay legs (one per track and simulcast layer) this node serves: sending, or paused with no remote subscriber.", () => {
        const o = relay.linkCounts();
        return [
          [{ state: "sending" }, o.legsSending],
          [{ state: "paused" }, o.legsPaused],
        ];
      }, ["state"]);
      const rc = relay.counters;
      sampledCounter(r, "sora_sfu_relay_connects_refused_total", "Relay WebSocket connects refused (bad token, channel not here).", () => rc.relay_connects_refused);
      sampledCounter(r, "sora_sfu_relay_bad_messages_total", "Relay links closed for a malformed message.", () => rc.relay_bad_messages);
      sampledCounter(r, "sora_sfu_relay_messages_total", "DataChannel messages over relay links.", () => [
        [{ direction: "sent" }, rc.relay_messages_sent],
        [{ direction: "received" }, rc.relay_messages_received],
      ], ["direction"]);
    }
    if (turn) {
      sampledCounter(r, "sora_sfu_turn_relayed_connections_total", "Connections whose selected ICE pair goes through TURN, by client-to-TURN transport.", () => [
        [{ transport: "udp" }, turn.total_turn_udp_connections],
        [{ transport: "tcp" }, turn.total_turn_tcp_connections],
      ], ["transport"]);
    }
    if (webhooks) {
      const w = webhooks.counters;
      sampledCounter(r, "sora_sfu_webhook_requests_total", "Webhook requests by kind and outcome (success: a 2xx with a valid answer; session/event retries count once).", () => [
        [{ kind: "auth", outcome: "success" }, w.total_successful_auth_webhook],
        [{ kind: "auth", outcome: "failure" }, w.total_failed_auth_webhook],
        [{ kind: "session", outcome: "success" }, w.total_successful_session_webhook],
        [{ kind: "session", outcome: "failure" }, w.total_failed_session_webhook],
        [{ kind: "event", outcome: "success" }, w.total_successful_event_webhook],
        [{ kind: "event", outcome: "failure" }, w.total_failed_event_webhook],
      ], ["kind", "outcome"]);
      sampledCounter(r, "sora_sfu_auth_webhook_decisions_total", "Auth webhook answers by decision.", () => [
        [{ decision: "allowed" }, w.total_auth_webhook_allowed],
        [{ decision: "denied" }, w.total_auth_webhook_denied],
      ], ["decision"]);
      const d = webhooks.durations;
      sampledHistogram(r, "sora_sfu_webhook_duration_seconds", "Webhook request durations (every attempt, whatever the outcome).", () => [
        [{ kind: "auth" }, d.auth],
        [{ kind: "session" }, d.session],
        [{ kind: "event" }, d.event],
      ]);
    }
  }

  /** The scrape body: the process's metrics, then this node's. */
  async text(): Promise<string> {
    const [p, n] = await Promise.all([this.process.metrics(), this.registry.metrics()]);
    return p + "\n" + n;
  }
}
