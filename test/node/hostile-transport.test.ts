import { createSocket, type Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenericNack, PictureLossIndication, RtcpPayloadSpecificFeedback, RtcpTransportLayerFeedback, type RTCDtlsTransport, type RTCRtpSender } from "werift";
import { MediaNode } from "../../media-node/src/media-node.js";
import type { Connection } from "../../media-node/src/sfu/connection.js";
import { SrtpContext } from "../../media-node/src/rtp/srtp.js";
import { RETRANSMIT_BURST } from "../../media-node/src/sfu/subscription.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { until } from "../support/wait.js";
import { pumpKeyframeMedia, prng } from "../support/synthetic-media.js";

// Hostile traffic against live connections (werift clients against an in-process node):
// datagrams from other source ports, DTLS-shaped garbage as if from the selected pair, malformed
// RTP/RTCP and NACK/PLI floods from an authenticated client. Media to the other subscribers keeps
// flowing and /metrics.json counts what was dropped. A DTLS session that really ends (authenticated
// alert) ends the connection visibly: the client is told, peers get connection.destroyed.

let node: MediaNode;
let url: string;
const clients: WeriftSoraClient[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  node = new MediaNode({ port: 0 });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all(clients.map((c) => c.close()));
  await node?.stop();
});

type Metrics = Record<string, number>;
async function metrics(): Promise<Metrics> {
  return (await (await fetch(`http://127.0.0.1:${node.port}/metrics.json`)).json()) as Metrics;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function client(channelId: string, role: "sendrecv" | "sendonly" | "recvonly"): Promise<WeriftSoraClient> {
  const c = new WeriftSoraClient({ url, channelId, role });
  clients.push(c);
  await c.connect();
  return c;
}

function nodeConnection(channelId: string, c: WeriftSoraClient): Connection {
  const conn = node.sfu.findConnection(channelId, c.connectionId);
  if (!conn) throw new Error(`no node connection for ${c.connectionId}`);
  return conn;
}

function dtlsOf(pc: { dtlsTransports: RTCDtlsTransport[] }): RTCDtlsTransport {
  const dtls = pc.dtlsTransports[0];
  if (!dtls) throw new Error("no DTLS transport");
  return dtls;
}

interface NominatedInternals {
  nominated: { protocol: { transport: { socket: Socket } }; remoteAddr: [string, number] };
  onData: { execute(buf: Buffer): void };
}
const iceOf = (dtls: RTCDtlsTransport) => dtls.iceTransport.connection as unknown as NominatedInternals;

/** Video packets `c` has received from `from` within `ms` (the publisher sends 100/s; "flowing" is asserted as > 20 in 1.5 s on a loaded machine). */
async function videoFlow(c: WeriftSoraClient, from: WeriftSoraClient, ms: number): Promise<number> {
  const before = c.packetsFrom(from.connectionId, "video");
  await sleep(ms);
  return c.packetsFrom(from.connectionId, "video") - before;
}

/** A DTLS record: type, epoch, sequence number, fragment (DTLS 1.2 version bytes). */
function dtlsRecord(type: number, epoch: number, seq: number, fragment: Buffer): Buffer {
  const header = Buffer.alloc(13);
  header[0] = type;
  header[1] = 0xfe;
  header[2] = 0xfd;
  header.writeUInt16BE(epoch, 3);
  header.writeUIntBE(seq, 5, 6);
  header.writeUInt16BE(fragment.length, 11);
  return Buffer.concat([header, fragment]);
}

/** The datagram: content type 24, 14 bytes. */
const FOURTEEN_BYTES = dtlsRecord(24, 0, 0, Buffer.from([0]));

/** 1,000 datagrams: random bytes, DTLS-shaped records of every content type and epoch, RTP/RTCP-shaped. */
function garbage(seed: number): Buffer[] {
  const rand = prng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < 1000; i++) {
    const len = 1 + Math.floor(rand() * 300);
    const b = Buffer.alloc(len);
    for (let k = 0; k < len; k++) b[k] = Math.floor(rand() * 256);
    switch (i % 4) {
      case 0: // DTLS record header, any type 20..63, epoch 0 or 1, honest or lying length
        b[0] = 20 + Math.floor(rand() * 44);
        if (len > 12) {
          b[1] = 0xfe;
          b[2] = 0xfd;
          b.writeUInt16BE(Math.floor(rand() * 2), 3);
          b.writeUInt16BE(rand() < 0.5 ? len - 13 : Math.floor(rand() * 65536), 11);
        }
        break;
      case 1: // RTP/RTCP range (RFC 7983: 128..191)
        b[0] = 128 + Math.floor(rand() * 64);
        break;
      case 2: // alert / CCS / handshake at epoch 0 with valid lengths
        out.push(dtlsRecord([20, 21, 22][i % 3]!, 0, i, b.subarray(0, Math.min(len, 40))));
        continue;
    }
    out.push(b);
  }
  return out;
}

describe("datagrams that are not from the selected pair, and DTLS garbage", () => {
  const channelId = `hostile-dtls-${Math.random().toString(36).slice(2)}`;
  let publisher: WeriftSoraClient;
  let subscriber: WeriftSoraClient;
  let stop: () => void;

  beforeAll(async () => {
    publisher = await client(channelId, "sendonly");
    stop = pumpKeyframeMedia(publisher).stop;
    subscriber = await client(channelId, "recvonly");
    await until("subscriber receives video", () => subscriber.packetsFrom(publisher.connectionId, "video") > 50);
  });
  afterAll(() => stop());

  it("drops the 14-byte datagram and 1,000 random/DTLS-shaped datagrams sent from another UDP socket; media keeps flowing", async () => {
    const serverDtls = dtlsOf(nodeConnection(channelId, subscriber).peer.pc);
    const nodePort = (iceOf(serverDtls).nominated.protocol.transport.socket.address() as { port: number }).port;
    const attacker = createSocket("udp4");
    sockets.push(attacker);
    await new Promise<void>((r) => attacker.bind(0, "127.0.0.1", () => r()));
    const before = await metrics();
    const datagrams = [FOURTEEN_BYTES, ...garbage(1)];
    for (let i = 0; i < datagrams.length; i += 50) {
      for (const d of datagrams.slice(i, i + 50)) attacker.send(d, nodePort, "127.0.0.1");
      // In batches the node's socket buffer holds even when the event loop stalls (loaded CI).
      const sent = Math.min(i + 50, datagrams.length);
      await until(`${sent} datagrams counted`, async () => (await metrics()).ice_foreign_datagrams - before.ice_foreign_datagrams >= sent);
    }
    const after = await metrics();
    expect(after.ice_foreign_datagrams - before.ice_foreign_datagrams).toBe(datagrams.length);
    expect(serverDtls.state).toBe("connected");
    expect(dtlsOf(subscriber.pc).state).toBe("connected");
    expect(await videoFlow(subscriber, publisher, 1500)).toBeGreaterThan(20);
  });

  it("drops DTLS records that could only be spoofed from the selected pair's address: unknown types, epoch 0 after the handshake, unauthenticated alerts", async () => {
    const serverDtls = dtlsOf(nodeConnection(channelId, subscriber).peer.pc);
    const ice = iceOf(serverDtls); // what the selected pair delivers, past the source filter
    const before = await metrics();
    const records = [
      FOURTEEN_BYTES,
      dtlsRecord(21, 0, 99, Buffer.from([1, 0])), // plaintext close_notify
      dtlsRecord(21, 0, 100, Buffer.from([2, 40])), // plaintext fatal alert
      dtlsRecord(21, 1, 101, Buffer.from([1, 0])), // epoch-1 "alert" that is not encrypted
      dtlsRecord(21, 1, 102, Buffer.alloc(26, 7)), // epoch-1 alert with a wrong tag
      dtlsRecord(22, 0, 103, Buffer.from("010000000000000000000000", "hex")), // an epoch-0 ClientHello (werift renegotiated on it)
      dtlsRecord(20, 0, 104, Buffer.from([1])),
      Buffer.concat([dtlsRecord(23, 0, 105, Buffer.alloc(10)), Buffer.from([22, 0xfe, 0xfd, 0, 0])]), // record, then a truncated header
      dtlsRecord(22, 0, 106, Buffer.alloc(4)).subarray(0, 15), // length past the end
    ];
    for (const r of records) ice.onData.execute(r);
    for (const d of garbage(2)) if (d[0]! >= 20 && d[0]! <= 63) ice.onData.execute(d);
    const after = await metrics();
    expect(after.dtls_records_dropped - before.dtls_records_dropped).toBeGreaterThanOrEqual(records.length + 1);
    expect(after.dtls_alerts_received).toBe(before.dtls_alerts_received);
    expect(serverDtls.state).toBe("connected");
    expect(await videoFlow(subscriber, publisher, 1500)).toBeGreaterThan(20);
    expect(nodeConnection(channelId, subscriber).closed).toBe(false);
  });
});

/** Makes the client's DTLS send one authenticated alert (werift has no API for it: its application-data send, re-typed). */
async function sendAuthenticatedAlert(c: WeriftSoraClient, level: number, description: number): Promise<void> {
  const socket = (dtlsOf(c.pc) as unknown as { dtls: { cipher: { encryptPacket(p: { recordLayerHeader: { contentType: number } }): unknown }; send(buf: Buffer): Promise<void> } }).dtls;
  const encrypt = socket.cipher.encryptPacket.bind(socket.cipher);
  socket.cipher.encryptPacket = (pkt) => {
    pkt.recordLayerHeader.contentType = 21;
    socket.cipher.encryptPacket = encrypt;
    return encrypt(pkt);
  };
  await socket.send(Buffer.from([level, description]));
}

describe("a DTLS session that really ends", () => {
  it.each([
    { name: "close_notify", level: 1, description: 0, reason: "DTLS-CLOSED" },
    { name: "a fatal alert", level: 2, description: 40, reason: "DTLS-FAILED" },
  ])("ends the connection on an authenticated $name: client told, peers notified, counted", async ({ level, description, reason }) => {
    const channelId = `hostile-close-${Math.random().toString(36).slice(2)}`;
    const publisher = await client(channelId, "sendonly");
    const stop = pumpKeyframeMedia(publisher).stop;
    try {
      const subscriber = await client(channelId, "recvonly");
      await until("subscriber receives video", () => subscriber.packetsFrom(publisher.connectionId, "video") > 20);
      await until("publisher told of the subscriber", () => publisher.notifies("connection.created").some((n) => n.connection_id === subscriber.connectionId));
      const before = await metrics();
      await sendAuthenticatedAlert(subscriber, level, description);
      await until("subscriber's WebSocket closed", () => subscriber.closeInfo !== undefined);
      expect(subscriber.closeInfo).toEqual({ code: 1000, reason });
      await until("publisher gets connection.destroyed", () =>
        publisher.notifies("connection.destroyed").some((n) => n.connection_id === subscriber.connectionId),
      );
      expect(node.sfu.findConnection(channelId, subscriber.connectionId)).toBeUndefined();
      const after = await metrics();
      expect(after.dtls_alerts_received - before.dtls_alerts_received).toBe(1);
      expect(after.dtls_connections_ended - before.dtls_connections_ended).toBe(1);
    } finally {
      stop();
    }
  });
});

describe("hostile RTP/RTCP from an authenticated client", () => {
  const channelId = `hostile-rtp-${Math.random().toString(36).slice(2)}`;
  let publisher: WeriftSoraClient;
  let bystander: WeriftSoraClient;
  let hostile: WeriftSoraClient;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    publisher = await client(channelId, "sendonly");
    stops.push(pumpKeyframeMedia(publisher).stop);
    bystander = await client(channelId, "recvonly");
    hostile = await client(channelId, "sendrecv");
    stops.push(pumpKeyframeMedia(hostile).stop);
    await until("both receive the publisher", () =>
      bystander.packetsFrom(publisher.connectionId, "video") > 50 && hostile.packetsFrom(publisher.connectionId, "video") > 50,
    );
  });
  afterAll(() => stops.forEach((s) => s()));

  /** SRTP-protects raw RTP bytes with the client's own keys and sends them on its selected pair. */
  function sendRawRtp(c: WeriftSoraClient, srtp: SrtpContext, rtp: Buffer): void {
    const buf = Buffer.alloc(rtp.length + 10);
    rtp.copy(buf);
    const n = srtp.protectRtp(buf, Math.min(12, rtp.length), rtp.length);
    void dtlsOf(c.pc).iceTransport.connection.send(buf.subarray(0, n));
  }

  it("drops malformed RTP (truncated, huge CSRC count, extension past the end, too many extension elements, bad padding) and RTCP with lying lengths", async () => {
    const clientDtls = dtlsOf(hostile.pc);
    const keys = (clientDtls.srtp as unknown as { config: { keys: { localMasterKey: Buffer; localMasterSalt: Buffer } } }).config.keys;
    const srtp = new SrtpContext(keys.localMasterKey, keys.localMasterSalt);
    const videoSender = hostile.pc.getTransceivers().find((t) => t.sender.track === hostile.videoTrack)!.sender as RTCRtpSender;
    const ssrc = videoSender.ssrc; // claimed by the node's fast path: its packets are decrypted there
    const rtp = (b0: number, seq: number, rest: number[], size = 40) => {
      const b = Buffer.alloc(size, 0x11);
      b[0] = b0;
      b[1] = 96;
      b.writeUInt16BE(seq, 2);
      b.writeUInt32BE(1234, 4);
      b.writeUInt32BE(ssrc, 8);
      Buffer.from(rest).copy(b, 12);
      return b;
    };
    const fortyElements = [0xbe, 0xde, 0, 20, ...Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? 0x10 : 0))];
    const malformedRtp = [
      rtp(0x8f, 40_000, [], 40), // 15 CSRCs in 40 bytes
      rtp(0x90, 40_001, [0xbe, 0xde, 0xff, 0xff]), // extension length 65535 words
      rtp(0x90, 40_002, [0xbe, 0xde, 0, 2, 0x1f, 1, 2, 3, 4, 5, 6, 7]), // element runs past its block
      rtp(0x90, 40_003, fortyElements, 120), // 40 one-byte elements
      rtp(0xa0, 40_004, [], 20), // padding count larger than the packet
    ];
    malformedRtp[4]![19] = 200;
    // (the last one authenticates: its sequence number moves the SRTP rollover estimate of the
    // hostile client's own stream, which is all an authenticated sender can break)
    const before = await metrics();
    for (const p of malformedRtp) sendRawRtp(hostile, srtp, p);
    const raw = (hex: string) => ({ serialize: () => Buffer.from(hex.replace(/\s/g, ""), "hex") }) as never;
    const lyingRtcp = [
      "81c9 0064 00000001 00000002", // RR claiming 100 words
      "81cd 0003 00000001 00000002 00010000 ffffff", // NACK, then 3 stray bytes
      "8fce 0005 00000001 00000000 52454d42 c8000000 00000002", // REMB listing 200 SSRCs, carrying 1
      "84ce 0003 00000001 00000000 00000002", // FIR with half an entry
      "9fc8 0006 00000001 00000000 00000000 00000000 00000000 00000000", // SR claiming 31 report blocks
    ];
    for (const hex of lyingRtcp) await clientDtls.sendRtcp([raw(hex)]);
    await until("malformed packets counted", async () => {
      const m = await metrics();
      return m.rtp_malformed - before.rtp_malformed >= malformedRtp.length && m.rtcp_malformed - before.rtcp_malformed >= lyingRtcp.length;
    }).catch(async (err: Error) => {
      const m = await metrics();
      throw new Error(`${err.message}: rtp_malformed +${m.rtp_malformed - before.rtp_malformed}, rtcp_malformed +${m.rtcp_malformed - before.rtcp_malformed}, srtp_auth_failures +${m.srtp_auth_failures - before.srtp_auth_failures}`);
    });
    const after = await metrics();
    expect(after.rtp_malformed - before.rtp_malformed).toBe(malformedRtp.length);
    expect(after.rtcp_malformed - before.rtcp_malformed).toBe(lyingRtcp.length);
    expect(await videoFlow(bystander, publisher, 1500)).toBeGreaterThan(20);
    expect(nodeConnection(channelId, hostile).closed).toBe(false);
  });

  it("bounds a NACK flood and a PLI flood from one subscriber; the other subscriber is unaffected", async () => {
    const conn = nodeConnection(channelId, hostile);
    const pub = [...conn.subscriptions.keys()].find((p) => p.connectionId === publisher.connectionId && p.kind === "video")!;
    const sub = conn.subscriptions.get(pub)!;
    const mediaSsrc = sub.transceiver.sender.ssrc; // the SSRC the hostile client receives the publisher's video on
    const clientDtls = dtlsOf(hostile.pc);
    const publisherSender = publisher.pc.getTransceivers().find((t) => t.sender.track === publisher.videoTrack)!.sender as unknown as { pliCount: number };
    const before = await metrics();
    const retransmittedBefore = sub.retransmitted;
    const pliBefore = publisherSender.pliCount;
    const startedAt = Date.now();
    const lost = Array.from({ length: 2048 }, (_, i) => i); // every slot of the subscription's send ring
    for (let i = 0; i < 200; i++) {
      const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: mediaSsrc, lost }) });
      const pli = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc }) });
      await clientDtls.sendRtcp([nack, pli]);
      if (i % 20 === 19) await sleep(100);
    }
    await sleep(300);
    const elapsedMs = Date.now() - startedAt;
    const after = await metrics();
    // Each packet resent at most once per 20 ms, and at most the token bucket's worth.
    expect(sub.retransmitted - retransmittedBefore).toBeLessThanOrEqual(RETRANSMIT_BURST + (elapsedMs * 400) / 1000);
    expect(after.nack_retransmissions_suppressed - before.nack_retransmissions_suppressed).toBeGreaterThan(10_000);
    // 200 PLIs in ~1.3 s: at most one a second reaches the publisher.
    expect(after.keyframe_requests_suppressed - before.keyframe_requests_suppressed).toBeGreaterThanOrEqual(190);
    expect(publisherSender.pliCount - pliBefore).toBeLessThanOrEqual(Math.ceil(elapsedMs / 1000) + 1);
    expect(publisherSender.pliCount - pliBefore).toBeGreaterThanOrEqual(1);
    expect(await videoFlow(bystander, publisher, 1500)).toBeGreaterThan(20);
  });
});
