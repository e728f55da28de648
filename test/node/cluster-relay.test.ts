import { createSocket } from "node:dgram";
import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RtpHeader, RtpPacket, type RTCRtpTransceiver } from "werift";
import WebSocket, { WebSocketServer } from "ws";
import { relayUrlOf, type ChannelNode } from "../../shared/control-protocol.js";
import { MediaNode } from "../../media-node/src/media-node.js";
import { RtpEgress } from "../../media-node/src/transport/rtp-egress.js";
import { EdgePeer } from "../support/edge-peer.js";
import { LossyEgress } from "../support/lossy-egress.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { until } from "../support/wait.js";

// Cluster relay, media-node side (docs/relay.md): two in-process nodes on ephemeral ports (each
// with one shared ICE UDP port, as deployed), each
// linked to its own scripted edge (test/support/edge-peer.ts) that answers `place` with the live
// session and sends set_channel_nodes as the edge's ChannelObject would. werift clients publish
// on node A and subscribe on node B.

let edgeA: EdgePeer;
let edgeB: EdgePeer;
let nodeA: MediaNode;
let nodeB: MediaNode;
/** Loss on node A's relay legs (video), switched on by the loss recovery test only. */
let relayLoss = false;
const relayEgress: LossyEgress[] = [];

/** Session webhooks of both nodes: `${node port} ${type} ${session_id}`. */
const sessionWebhooks: string[] = [];
const webhookReceiver = createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const b = JSON.parse(body) as { type: string; session_id: string };
    sessionWebhooks.push(`${req.url} ${b.type} ${b.session_id}`);
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
});

/** A UDP port free on 127.0.0.1 now: each node's one shared ICE port (udp_port), as deployed. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  const port = socket.address().port;
  await new Promise<void>((r) => socket.close(() => r()));
  return port;
}

async function startNode(edge: EdgePeer, relayLegLoss: boolean, name: string): Promise<MediaNode> {
  await new Promise((r) => (edge.server.address() ? r(undefined) : edge.server.once("listening", r)));
  const node = new MediaNode({
    port: 0,
    // Clients on the node's one ICE port, as infra/node deploys it; relay legs take their own
    // sockets (node-relay.ts relaySocketPlan): this suite failed on the shared port before that.
    udpPort: await freeUdpPort(),
    edgeUrl: edge.url,
    nodeSecret: "s",
    webhooks: { sessionUrl: `http://127.0.0.1:${(webhookReceiver.address() as { port: number }).port}/${name}` },
    ...(relayLegLoss
      ? {
          subscriberEgress: (leg) => {
            if (leg.relayNode === undefined || leg.kind !== "video") return new RtpEgress();
            const egress = new LossyEgress(0.05, new RtpEgress(), () => (relayLoss ? Math.random() : 1));
            relayEgress.push(egress);
            return egress;
          },
        }
      : {}),
  });
  await node.start();
  await node.control!.link.waitReady(5000);
  return node;
}

const signalingUrl = (node: MediaNode) => `ws://127.0.0.1:${node.port}/signaling`;
const channelNode = (node: MediaNode): ChannelNode => ({ node_name: node.config.nodeName, signaling_url: node.config.externalSignalingUrl! });
const tokenOf = (channelId: string) => `relay-token-${channelId}-0123456789`;

/** What the edge's ChannelObject does when the set of serving nodes changes: tell every serving node. */
async function setChannelNodes(channelId: string, nodes: MediaNode[], to: EdgePeer[] = [edgeA, edgeB]): Promise<void> {
  const sessionId = nodeA.sfu.channels.get(channelId)?.sessionId ?? "unknown";
  for (const edge of to) {
    const ack = await edge.command({ name: "set_channel_nodes", channel_id: channelId, session_id: sessionId, relay_token: tokenOf(channelId), nodes: nodes.map(channelNode) });
    expect(ack.ok).toBe(true);
  }
}

/** Whether `client` was told of `connectionId`: a connection.created of it, or listed in one's `data`. */
function told(client: WeriftSoraClient, connectionId: string): boolean {
  return client
    .notifies("connection.created")
    .some((n) => n.connection_id === connectionId || ((n.data ?? []) as { connection_id: string }[]).some((d) => d.connection_id === connectionId));
}

/**
 * A client joins the live session at `joining`: as with the real edge, set_channel_nodes follows
 * that node's session.created (here: once its Channel exists), while the node waits for the
 * relay's members before offering the client (ChannelRelay.synced).
 */
async function joinAndTell(client: WeriftSoraClient, joining: MediaNode, channelId: string, nodes: MediaNode[], to?: EdgePeer[]): Promise<void> {
  const connected = client.connect();
  await until("the joining node's channel", () => joining.sfu.channels.has(channelId), 5000);
  await setChannelNodes(channelId, nodes, to);
  await connected;
}

/** A publisher on A whose video behaves like an encoder: a keyframe first and after each PLI. */
class Publisher {
  readonly client: WeriftSoraClient;
  plis = 0;
  private keyframeDue = true;
  private timer?: NodeJS.Timeout;
  videoSeq = 0;

  constructor(channelId: string, extra: Record<string, unknown> = {}) {
    this.client = new WeriftSoraClient({ url: signalingUrl(nodeA), channelId, role: "sendonly", ...extra });
  }

  async connect(): Promise<void> {
    await this.client.connect();
    const video = this.client.pc.getTransceivers().find((t: RTCRtpTransceiver) => t.sender.track === this.client.videoTrack)!;
    video.sender.onPictureLossIndication.subscribe(() => {
      this.plis++;
      this.keyframeDue = true;
    });
  }

  /** `count` video packets at `pps` (0 = until stopped), plus audio at 50/s. */
  start(pps = 100, count = 0): void {
    const c = this.client;
    let sent = 0;
    let audioSeq = 0;
    let ticks = 0;
    this.timer = setInterval(() => {
      ticks++;
      for (let i = 0; i < pps / 100; i++) {
        if (count > 0 && sent >= count) break;
        const payload = Buffer.alloc(400, 0xab);
        payload[0] = 0x10; // VP8 descriptor: S=1, PID=0
        payload[1] = this.keyframeDue ? 0x00 : 0x01; // VP8 header: P bit clear = keyframe
        this.keyframeDue = false;
        this.videoSeq = (this.videoSeq + 1) & 0xffff;
        c.videoTrack!.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: this.videoSeq, timestamp: (sent * 900) >>> 0, marker: true }), payload));
        sent++;
      }
      if (ticks % 2 === 0) {
        audioSeq = (audioSeq + 1) & 0xffff;
        c.audioTrack!.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: audioSeq, timestamp: (audioSeq * 960) >>> 0 }), Buffer.alloc(60, 0xcd)));
      }
    }, 10);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.client.close();
  }
}

/** A channel live on A with a publisher, joined on B (place answers the live session), both nodes told. */
async function spanChannel(channelId: string, options: { subscriberExtra?: Record<string, unknown>; publisherExtra?: Record<string, unknown> } = {}) {
  const publisher = new Publisher(channelId, options.publisherExtra);
  await publisher.connect();
  const sessionId = nodeA.sfu.channels.get(channelId)!.sessionId;
  edgeB.placeAnswer = () => ({ owner: nodeB.config.nodeName, session_id: sessionId });
  const subscriber = new WeriftSoraClient({ url: signalingUrl(nodeB), channelId, role: "recvonly", ...(options.subscriberExtra ?? {}) });
  await joinAndTell(subscriber, nodeB, channelId, [nodeA, nodeB]);
  edgeB.placeAnswer = () => ({ owner: "self" });
  // B serves the channel itself (not redirected), in A's session.
  expect(subscriber.redirects).toEqual([]);
  expect(nodeB.sfu.channels.get(channelId)!.sessionId).toBe(sessionId);
  return { publisher, subscriber };
}

const metrics = async (node: MediaNode) => (await (await fetch(`http://127.0.0.1:${node.port}/metrics.json`)).json()) as Record<string, number>;

beforeAll(async () => {
  edgeA = new EdgePeer();
  edgeB = new EdgePeer();
  await new Promise<void>((r) => webhookReceiver.listen(0, "127.0.0.1", r));
  nodeA = await startNode(edgeA, true, "A");
  nodeB = await startNode(edgeB, false, "B");
});

afterAll(async () => {
  await nodeA?.stop();
  await nodeB?.stop();
  edgeA?.server.close();
  edgeB?.server.close();
  webhookReceiver.close();
});

describe("media A → B", () => {
  it("a subscriber on B receives A's publisher (decrypted RTP), keyframe requests reach the publisher, notifies cross nodes", async () => {
    const { publisher, subscriber } = await spanChannel("relay-media");
    const pubId = publisher.client.connectionId;
    publisher.start(100);
    await until("video and audio at B's subscriber", () => subscriber.packetsFrom(pubId, "video") > 50 && subscriber.packetsFrom(pubId, "audio") > 20, 10_000);

    // Notifies: B's node learnt A's connections before offering (ChannelRelay.synced), so B's
    // client's own connection.created counts the session and lists A's publisher in `data`.
    const created = subscriber.notifies("connection.created").find((n) => n.connection_id === subscriber.connectionId);
    expect(created).toMatchObject({ channel_connections: 2, channel_sendonly_connections: 1, channel_recvonly_connections: 1 });
    expect((created!.data as { connection_id: string }[]).map((d) => d.connection_id)).toEqual([pubId]);
    // …and A's publisher (A pulls B too) of B's subscriber.
    await until("A's client told of B's", () => publisher.client.notifies("connection.created").some((n) => n.connection_id === subscriber.connectionId));
    // Each node reports only its own connections to the edge: nothing counted twice.
    expect(edgeB.of("connection.created").map((r) => r.connection.connection_id)).toEqual([subscriber.connectionId]);
    const sessionId = nodeA.sfu.channels.get("relay-media")!.sessionId;
    expect(edgeB.of("session.created")[0]!.channel.session_id).toBe(sessionId);
    // The session webhook fires once, from the node that started the session.
    await until("session.created webhook", () => sessionWebhooks.includes(`/A session.created ${sessionId}`));
    expect(sessionWebhooks.filter((w) => w.includes(sessionId))).toEqual([`/A session.created ${sessionId}`]);

    // A PLI from B's subscriber travels B → relay leg → A → publisher.
    await new Promise((r) => setTimeout(r, 1200)); // past the per-subscriber PLI spacing of the start
    const before = publisher.plis;
    const video = subscriber.pc.getTransceivers().find((t) => t.receiver.track.kind === "video" && t.receiver.tracks.length > 0)!;
    const ssrc = Number(Object.keys((video.receiver as unknown as { remoteStreams: Record<string, unknown> }).remoteStreams)[0]);
    await video.receiver.sendRtcpPLI(ssrc);
    await until("PLI at the publisher", () => publisher.plis > before, 5000);

    // Metadata of A's connection changes on A (the edge commands the node that hosts it, and
    // sends the push to every other serving node as a channel push, as edge/src/objects does):
    // B's clients get the push once, and B's later notifies carry the new metadata.
    const push = { type: "signaling_notify_metadata_ext", action: "PutMetadata", connection_id: pubId, metadata: { hand: "up" } };
    expect((await edgeA.command({ name: "set_notify_metadata", channel_id: "relay-media", connection_id: pubId, metadata: { hand: "up" }, push })).ok).toBe(true);
    expect((await edgeB.command({ name: "push", channel_id: "relay-media", data: push })).ok).toBe(true);
    await until("push at B", () => subscriber.messages.some((m) => m.type === "push"));
    await new Promise((r) => setTimeout(r, 300));
    expect(subscriber.messages.filter((m) => m.type === "push")).toEqual([{ type: "push", data: push }]);

    // A later publisher on A is offered to B (re-offer of the relay leg); a later subscriber on B gets both.
    const second = new Publisher("relay-media");
    await second.connect();
    second.start(100);
    await until("second publisher's video at B", () => subscriber.packetsFrom(second.client.connectionId, "video") > 20, 10_000);
    const late = new WeriftSoraClient({ url: signalingUrl(nodeB), channelId: "relay-media", role: "recvonly" });
    await late.connect();
    await until("both at the late subscriber", () => late.packetsFrom(pubId, "video") > 20 && late.packetsFrom(second.client.connectionId, "audio") > 10, 10_000);
    const lateCreated = late.notifies("connection.created").find((n) => n.connection_id === late.connectionId)!;
    expect((lateCreated.data as { connection_id: string }[]).map((d) => d.connection_id).sort()).toEqual([pubId, second.client.connectionId, subscriber.connectionId].sort());
    expect(lateCreated.channel_connections).toBe(4);
    expect((lateCreated.data as { connection_id: string; metadata?: unknown }[]).find((d) => d.connection_id === pubId)!.metadata).toEqual({ hand: "up" });
    await second.close();
    await late.close();

    // Per-node relay counters.
    const [a, b] = await Promise.all([metrics(nodeA), metrics(nodeB)]);
    expect(a.relay_packets_sent).toBeGreaterThan(50);
    expect(b.relay_packets_received).toBeGreaterThan(50);
    expect(a.relay_servings).toBe(1);
    expect(b.relay_links).toBe(1);
    const text = await (await fetch(`http://127.0.0.1:${nodeA.port}/metrics`)).text();
    expect(text).toMatch(/sora_sfu_relay_packets_total\{direction="sent"\} [1-9]/);

    // The publisher leaves: B's client gets connection.destroyed for it.
    await publisher.close();
    await until("destroyed at B", () => subscriber.notifies("connection.destroyed").some((n) => n.connection_id === pubId));
    expect(nodeB.sfu.channels.get("relay-media")!.remoteMembers.has(pubId)).toBe(false);
    await subscriber.close();
  });

  it("recovers 5% loss on the relay leg from A's cache (B's NACKs answered)", async () => {
    const { publisher, subscriber } = await spanChannel("relay-loss");
    const pubId = publisher.client.connectionId;
    const seqs = new Set<number>();
    subscriber.onPacket = (key, rtp) => {
      if (key === `${pubId}:video`) seqs.add(rtp.header.sequenceNumber);
    };
    publisher.start(100);
    await until("video at B", () => seqs.size > 20, 10_000);
    const dropsBefore = relayEgress.reduce((n, e) => n + e.dropped, 0);
    const resentBefore = (await metrics(nodeA)).relay_nack_packets_resent;
    seqs.clear();
    relayLoss = true;
    await new Promise((r) => setTimeout(r, 3000));
    relayLoss = false;
    await new Promise((r) => setTimeout(r, 1000)); // the last retransmissions
    const dropped = relayEgress.reduce((n, e) => n + e.dropped, 0) - dropsBefore;
    expect(dropped).toBeGreaterThan(5);
    expect((await metrics(nodeA)).relay_nack_packets_resent - resentBefore).toBeGreaterThan(0);
    const sorted = [...seqs].sort((x, y) => x - y);
    const span = sorted[sorted.length - 1]! - sorted[0]! + 1;
    // Without NACK answers about 5% of the span would be missing.
    expect(span - seqs.size).toBeLessThanOrEqual(Math.ceil(span * 0.01));
    await publisher.close();
    await subscriber.close();
  });
});

describe("audio streaming results across nodes", () => {
  it("a result of A's sender reaches a subscribed client on B, and only the subscribed one", async () => {
    const { publisher, subscriber } = await spanChannel("relay-audio-results");
    const other = new WeriftSoraClient({ url: signalingUrl(nodeB), channelId: "relay-audio-results", role: "recvonly" });
    await other.connect();
    // The edge sends every serving node the channel's full subscriber list.
    for (const edge of [edgeA, edgeB]) {
      const ack = await edge.command({ name: "set_audio_streaming_subscribers", channel_id: "relay-audio-results", connection_ids: [subscriber.connectionId] });
      expect(ack.ok).toBe(true);
    }
    // What AudioStreamer does with one line of the gateway's answer for A's sender (the gateway
    // itself is exercised on one node by test/browser/egress-audio-streaming.test.ts).
    const channel = nodeA.sfu.channels.get("relay-audio-results")!;
    const streamer = nodeA.egress.audioStreaming as unknown as { pushResult(c: typeof channel, source: string, r: Record<string, unknown>): void };
    streamer.pushResult(channel, publisher.client.connectionId, { type: "test", message: "hello", is_final: true });
    await until("result at B's subscribed client", () => subscriber.messages.some((m) => m.type === "push"));
    expect(subscriber.messages.filter((m) => m.type === "push")).toEqual([
      { type: "push", data: { type: "test", message: "hello", is_final: true, channel_id: "relay-audio-results", connection_id: publisher.client.connectionId } },
    ]);
    await new Promise((r) => setTimeout(r, 200));
    expect(other.messages.some((m) => m.type === "push")).toBe(false);
    await other.close();
    await publisher.close();
    await subscriber.close();
  });
});

describe("messaging across nodes", () => {
  it("a # message from B's client reaches A's and back", async () => {
    const dc = { dataChannelSignaling: true, extra: { data_channels: [{ label: "#chat", direction: "sendrecv" }] } };
    const { publisher, subscriber } = await spanChannel("relay-chat", {
      publisherExtra: { dataChannelSignaling: true, extra: { data_channels: [{ label: "#chat", direction: "sendrecv" }] } },
      subscriberExtra: dc,
    });
    await until("B's #chat open", () => subscriber.dataChannels.get("#chat")?.readyState === "open");
    await until("A's #chat open", () => publisher.client.dataChannels.get("#chat")?.readyState === "open");
    await until("links up both ways", async () => (await metrics(nodeA)).relay_links === 1 && (await metrics(nodeB)).relay_links === 1);
    subscriber.dataChannels.get("#chat")!.send(Buffer.from("from B"));
    await until("at A", () => publisher.client.dataChannelMessages.some((m) => m.label === "#chat" && m.data.toString() === "from B"));
    publisher.client.dataChannels.get("#chat")!.send(Buffer.from("from A"));
    await until("at B", () => subscriber.dataChannelMessages.some((m) => m.label === "#chat" && m.data.toString() === "from A"));
    await publisher.close();
    await subscriber.close();
  });
});

describe("relay legs follow demand", () => {
  it("A sends a publication to B only while B has a subscriber for it", async () => {
    // B serves the channel for a sender only: nothing of A's publisher is needed there.
    const { publisher, subscriber: bSender } = await (async () => {
      const publisher = new Publisher("relay-demand");
      await publisher.connect();
      const sessionId = nodeA.sfu.channels.get("relay-demand")!.sessionId;
      edgeB.placeAnswer = () => ({ owner: nodeB.config.nodeName, session_id: sessionId });
      const subscriber = new WeriftSoraClient({ url: signalingUrl(nodeB), channelId: "relay-demand", role: "sendonly" });
      await joinAndTell(subscriber, nodeB, "relay-demand", [nodeA, nodeB]);
      edgeB.placeAnswer = () => ({ owner: "self" });
      return { publisher, subscriber };
    })();
    const pubId = publisher.client.connectionId;
    publisher.start(100);
    const legs = () => (nodeA.sfu.channels.get("relay-demand")!.relay as unknown as { legCounts(): { sending: number; paused: number } }).legCounts();
    await until("A's legs to B paused (B has no subscriber)", () => legs().paused === 2 && legs().sending === 0, 10_000);
    const viewer = new WeriftSoraClient({ url: signalingUrl(nodeB), channelId: "relay-demand", role: "recvonly" });
    await viewer.connect();
    await until("legs resumed", () => legs().sending === 2, 10_000);
    await until("media at B's viewer", () => viewer.packetsFrom(pubId, "video") > 20 && viewer.packetsFrom(pubId, "audio") > 10, 10_000);
    await viewer.close();
    await until("paused again once the viewer left", () => legs().paused === 2, 10_000);
    await publisher.close();
    await bSender.close();
  });
});

describe("simulcast across nodes", () => {
  it("each layer of A's simulcast sender arrives on B as that layer (r0..r2 from three m-lines), only the layers B's subscribers need; each gets the rid it chose", async () => {
    const { publisher, subscriber: r2 } = await spanChannel("relay-simulcast", {
      publisherExtra: { extra: { simulcast: true } },
      subscriberExtra: { extra: { simulcast: true, simulcast_rid: "r2" } },
    });
    const pubId = publisher.client.connectionId;
    const r0 = new WeriftSoraClient({ url: signalingUrl(nodeB), channelId: "relay-simulcast", role: "recvonly", extra: { simulcast: true, simulcast_rid: "r0" } });
    await r0.connect();
    // The publisher's three layers, fed straight into A's Publication (a werift client cannot send rids).
    const pub = nodeA.sfu.findConnection("relay-simulcast", pubId)!.publications.find((p) => p.kind === "video")!;
    expect(pub.simulcast).toBe(true);
    let n = 0;
    const timer = setInterval(() => {
      n++;
      for (let layer = 0; layer < 3; layer++) {
        const payload = Buffer.alloc(200, 0xab);
        payload[0] = 0x10; // VP8 descriptor: S=1, PID=0
        payload[1] = n % 10 === 1 ? 0x00 : 0x01; // a keyframe every 10 packets
        payload[2] = layer; // which layer this is, as the receivers will check
        pub.onRtp(new RtpPacket(new RtpHeader({ payloadType: 96, ssrc: 7000 + layer, sequenceNumber: (100 * layer + n) & 0xffff, timestamp: n * 3000, marker: true }), payload), layer);
      }
    }, 10);
    try {
      const seen = (client: WeriftSoraClient) => {
        const layers = new Set<number>();
        client.onPacket = (key, rtp) => {
          if (key === `${pubId}:video`) layers.add(rtp.payload[2]!);
        };
        return layers;
      };
      const at2 = seen(r2);
      const at0 = seen(r0);
      await until("video at both", () => r2.packetsFrom(pubId, "video") > 30 && r0.packetsFrom(pubId, "video") > 30, 10_000);
      const remote = nodeB.sfu.channels.get("relay-simulcast")!.remoteMembers.get(pubId)!.publications.find((p) => p.kind === "video")!;
      // B needs r0 and r2 (its subscribers' rids): A sends those layers and pauses r1's leg.
      await until("r0 and r2 live on B", () => remote.layers[0]!.packetsReceived > 20 && remote.layers[2]!.packetsReceived > 20);
      await new Promise((r) => setTimeout(r, 300)); // the next keyframe (every 100 ms) completes any switch
      const r1Before = remote.layers[1]!.packetsReceived;
      at2.clear();
      at0.clear();
      const [was2, was0] = [r2.packetsFrom(pubId, "video"), r0.packetsFrom(pubId, "video")];
      await until("more video at both", () => r2.packetsFrom(pubId, "video") > was2 + 30 && r0.packetsFrom(pubId, "video") > was0 + 30, 10_000);
      expect([...at2]).toEqual([2]);
      expect([...at0]).toEqual([0]);
      expect(remote.layers[1]!.packetsReceived).toBe(r1Before); // not demanded: not sent
      expect(new Set(remote.layers.map((l) => l.ssrc)).size).toBe(3);

      // r0's viewer asks for r1 (the edge's set_rid_requests): B demands it, A resumes that leg
      // (with a keyframe request), and the viewer switches to it.
      expect((await edgeB.command({ name: "set_rid_requests", channel_id: "relay-simulcast", requests: [{ recv_connection_id: r0.connectionId, rid: "r1" }] })).ok).toBe(true);
      await until("r1 flows to B", () => remote.layers[1]!.packetsReceived > r1Before + 20, 10_000);
      await until("r0's viewer gets layer 1", () => at0.has(1), 10_000);
      // …and r0, needed by nobody now, stops once the switch is done.
      await new Promise((r) => setTimeout(r, 500));
      const r0Now = remote.layers[0]!.packetsReceived;
      await new Promise((r) => setTimeout(r, 300));
      expect(remote.layers[0]!.packetsReceived).toBe(r0Now);
    } finally {
      clearInterval(timer);
    }
    await r0.close();
    await r2.close();
    await publisher.close();
  });
});

describe("spotlight across nodes", () => {
  it("B ranks A's sender (relayed simulcast layers) and takes the edge's focus commands for it", async () => {
    const { publisher, subscriber } = await spanChannel("relay-spotlight", { publisherExtra: { extra: { spotlight: true } }, subscriberExtra: { extra: { spotlight: true } } });
    const pubId = publisher.client.connectionId;
    // Join-order fill of the free slot with the only video sender, which A serves.
    await until("focused at B", () => subscriber.notifies("spotlight.focused").some((n) => n.connection_id === pubId), 10_000);
    expect(subscriber.notifies("spotlight.focused").find((n) => n.connection_id === pubId)).toMatchObject({ client_id: publisher.client.connectionId, video: true });
    const remote = nodeB.sfu.channels.get("relay-spotlight")!.remoteMembers.get(pubId)!;
    expect(remote.publications.find((p) => p.kind === "video")!.layers.length).toBe(3);
    expect((await edgeB.command({ name: "set_spotlight_focus", channel_id: "relay-spotlight", connection_id: pubId, focus: "fixed" })).ok).toBe(true);
    expect(nodeB.sfu.channels.get("relay-spotlight")!.spotlightState!.isFixed(pubId)).toBe(true);
    await publisher.close();
    await subscriber.close();
  });
});

describe("relay links follow set_channel_nodes", () => {
  it("A dropped from the set: B's clients get connection.destroyed, links close; a dropped link is re-dialled while A is listed", async () => {
    const { publisher, subscriber } = await spanChannel("relay-teardown");
    const pubId = publisher.client.connectionId;
    publisher.start(100);
    await until("video at B", () => subscriber.packetsFrom(pubId, "video") > 20, 10_000);

    // The link drops (A ends its serving side): A's members leave B, and B re-dials.
    const opened = (await metrics(nodeB)).relay_links_opened;
    const servings = () => (nodeA.sfu.channels.get("relay-teardown")!.relay as unknown as { servings: Set<{ close(): void }> }).servings;
    for (const s of [...servings()]) s.close();
    await until("destroyed at B", () => subscriber.notifies("connection.destroyed").some((n) => n.connection_id === pubId));
    await until("re-dialled", async () => (await metrics(nodeB)).relay_links_opened > opened, 10_000);
    // At first A's publisher was listed in the subscriber's own connection.created (`data`); after
    // the re-dial it comes as a connection.created of its own.
    await until("created again at B", () => subscriber.notifies("connection.created").filter((n) => n.connection_id === pubId).length === 1, 10_000);
    const videoBefore = subscriber.packetsFrom(pubId, "video");
    await until("media again", () => subscriber.packetsFrom(pubId, "video") > videoBefore + 20, 10_000);

    // The edge drops A from B's set (and B from A's): links close, no re-dial.
    const destroyedBefore = subscriber.notifies("connection.destroyed").length;
    await setChannelNodes("relay-teardown", [nodeB], [edgeB]);
    await setChannelNodes("relay-teardown", [nodeA], [edgeA]);
    await until("destroyed at B", () => subscriber.notifies("connection.destroyed").length > destroyedBefore);
    await until("no relay left", async () => {
      const [a, b] = await Promise.all([metrics(nodeA), metrics(nodeB)]);
      return a.relay_links === 0 && a.relay_servings === 0 && b.relay_links === 0 && b.relay_servings === 0;
    });
    expect(nodeB.sfu.channels.get("relay-teardown")!.remoteMembers.size).toBe(0);
    await publisher.close();
    await subscriber.close();
  });
});

describe("a hostile serving node", () => {
  it("cannot shadow a local connection; a malformed message closes that link only, which is re-dialled", async () => {
    const fake = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((r) => fake.once("listening", r));
    const dials: { url: string; auth: string | undefined; ws: WebSocket }[] = [];
    fake.on("connection", (ws, req) => dials.push({ url: req.url ?? "", auth: req.headers.authorization, ws }));
    const fakeNode: ChannelNode = { node_name: "fake", signaling_url: `ws://127.0.0.1:${(fake.address() as { port: number }).port}/signaling` };
    try {
      const viewer = new WeriftSoraClient({ url: signalingUrl(nodeB), channelId: "relay-fake", role: "recvonly" });
      await viewer.connect();
      await edgeB.command({ name: "set_channel_nodes", channel_id: "relay-fake", session_id: "S", relay_token: tokenOf("relay-fake"), nodes: [channelNode(nodeB), fakeNode] });
      await until("B dials the fake node", () => dials.length === 1);
      expect(dials[0]!.auth).toBe(`Bearer ${tokenOf("relay-fake")}`);
      expect(new URL(dials[0]!.url, "ws://x").searchParams.get("channel_id")).toBe("relay-fake");
      const member = (id: string) => ({ connection_id: id, client_id: id, bundle_id: id, role: "sendonly", audio: true, video: true, created_at: 0, connected_at: 0, notify: { session_id: "S" } });
      dials[0]!.ws.send(JSON.stringify({ type: "members", members: [member(viewer.connectionId), member("REMOTE1")] }));
      await until("remote member announced", () => viewer.notifies("connection.created").some((n) => n.connection_id === "REMOTE1"));
      expect(viewer.notifies("connection.created").filter((n) => n.connection_id === viewer.connectionId)).toHaveLength(1); // its own, not the fake copy
      const bad = (await metrics(nodeB)).relay_bad_messages;
      const closed = new Promise<number>((r) => dials[0]!.ws.once("close", (code) => r(code)));
      dials[0]!.ws.send("{ not json");
      expect(await closed).toBe(4400);
      expect((await metrics(nodeB)).relay_bad_messages).toBe(bad + 1);
      await until("its members leave B", () => viewer.notifies("connection.destroyed").some((n) => n.connection_id === "REMOTE1"));
      await until("re-dialled", () => dials.length === 2, 10_000);
      expect(viewer.closeInfo).toBeUndefined(); // B's own client is untouched
      await viewer.close();
      await until("the channel's relay closed with its session", () => dials[1]!.ws.readyState === WebSocket.CLOSED);
    } finally {
      fake.close();
    }
  });
});

describe("three nodes", () => {
  it("a channel on A, B and C: everyone gets the media and notifies; killing C leaves A and B's clients going", async () => {
    const edgeC = new EdgePeer();
    const nodeC = await startNode(edgeC, false, "C");
    let cStopped = false;
    try {
      const { publisher, subscriber: atB } = await spanChannel("relay-three");
      const pubId = publisher.client.connectionId;
      const sessionId = nodeA.sfu.channels.get("relay-three")!.sessionId;
      edgeC.placeAnswer = () => ({ owner: nodeC.config.nodeName, session_id: sessionId });
      const atC = new WeriftSoraClient({ url: signalingUrl(nodeC), channelId: "relay-three", role: "recvonly" });
      await joinAndTell(atC, nodeC, "relay-three", [nodeA, nodeB, nodeC], [edgeA, edgeB, edgeC]);
      publisher.start(100);
      await until("media at B and C", () => atB.packetsFrom(pubId, "video") > 30 && atC.packetsFrom(pubId, "video") > 30, 10_000);
      // B's and C's clients know each other (each node pulls every other).
      await until("B's client told of C's", () => told(atB, atC.connectionId));
      await until("C's client told of B's", () => told(atC, atB.connectionId));
      // A serves its publisher to B and C, once each; B and C relay nothing of it to each other (no loops).
      const [a, b, c] = await Promise.all([metrics(nodeA), metrics(nodeB), metrics(nodeC)]);
      expect(a.relay_servings).toBe(2);
      expect(b.relay_packets_sent).toBe(0);
      expect(c.relay_packets_sent).toBe(0);

      // C dies: only its client is lost; B's keeps decoding A's publisher and is told C's client left.
      await nodeC.stop();
      cStopped = true;
      await until("C's client gone at B", () => atB.notifies("connection.destroyed").some((n) => n.connection_id === atC.connectionId));
      const before = atB.packetsFrom(pubId, "video");
      await until("B still gets A's media", () => atB.packetsFrom(pubId, "video") > before + 30);
      // The edge then drops C from the set: no link to C is left.
      await setChannelNodes("relay-three", [nodeA, nodeB]);
      await until("links to C gone", async () => (await metrics(nodeA)).relay_links === 1 && (await metrics(nodeB)).relay_links === 1);
      await publisher.close();
      await atB.close();
      await atC.close();
    } finally {
      if (!cStopped) await nodeC.stop();
      edgeC.server.close();
    }
  });
});

describe("hostile relay connects", () => {
  const relayConnect = (node: MediaNode, channelId: string, token: string) =>
    new Promise<{ status?: number; ws?: WebSocket }>((resolve) => {
      const url = `${relayUrlOf(signalingUrl(node))}?channel_id=${channelId}&node_name=evil`;
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
      ws.once("unexpected-response", (_req, res) => resolve({ status: res.statusCode }));
      ws.once("open", () => resolve({ ws }));
      ws.once("error", () => resolve({}));
    });

  it("refuses a bad token or an unknown channel (counted); a malformed message closes that link only", async () => {
    const { publisher, subscriber } = await spanChannel("relay-hostile");
    const pubId = publisher.client.connectionId;
    publisher.start(100);
    await until("video at B", () => subscriber.packetsFrom(pubId, "video") > 20, 10_000);
    const refusedBefore = (await metrics(nodeA)).relay_connects_refused;
    expect((await relayConnect(nodeA, "relay-hostile", "wrong-token-wrong-token")).status).toBe(401);
    expect((await relayConnect(nodeA, "no-such-channel", tokenOf("relay-hostile"))).status).toBe(401);
    expect((await metrics(nodeA)).relay_connects_refused).toBe(refusedBefore + 2);

    const { ws } = await relayConnect(nodeA, "relay-hostile", tokenOf("relay-hostile"));
    expect(ws).toBeDefined();
    const closed = new Promise<number>((r) => ws!.once("close", (code) => r(code)));
    ws!.send(JSON.stringify({ type: "answer", sdp: 5, nested: [[[[]]]] }));
    expect(await closed).toBe(4400);
    expect((await metrics(nodeA)).relay_bad_messages).toBeGreaterThan(0);
    // B's own link is untouched: media keeps flowing.
    const before = subscriber.packetsFrom(pubId, "video");
    await until("media still flows", () => subscriber.packetsFrom(pubId, "video") > before + 20);
    await publisher.close();
    await subscriber.close();
  });
});
