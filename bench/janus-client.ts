import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, useAbsSendTime, useSdesMid } from "werift";

// Janus VideoRoom signaling for the load clients (bench/client-worker.ts, mode "janus"): Janus's
// plain HTTP API with a long poll per session, as janus.js does without WebSockets. One Janus
// session and one videoroom handle per client, like a browser tab. Media itself is not handled
// here: the caller taps the connected PeerConnection exactly as on the Sora path.

interface JanusMessage {
  janus: string;
  transaction?: string;
  data?: { id?: number };
  plugindata?: { plugin: string; data: Record<string, unknown> };
  jsep?: { type: "offer" | "answer"; sdp: string };
  error?: { code: number; reason: string };
}

const KEEPALIVE_MS = 15_000; // Janus drops a session after session_timeout (60 s) without requests

let transactions = 0;
const transaction = () => `t${process.pid}-${++transactions}`;

async function post(url: string, body: Record<string, unknown>): Promise<JanusMessage> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`janus ${url}: HTTP ${res.status}`);
  const m = (await res.json()) as JanusMessage;
  if (m.janus === "error") throw new Error(`janus ${String(body.janus)}: ${m.error?.code} ${m.error?.reason}`);
  return m;
}

export class JanusSession {
  private readonly waiters = new Map<string, (m: JanusMessage) => void>();
  private readonly abort = new AbortController();
  private keepalive?: NodeJS.Timeout;
  /** Events nobody waited for (webrtcup, media, slowlink, hangup): kept for failure messages. */
  readonly unsolicited: string[] = [];
  handle = 0;

  private constructor(
    private readonly base: string,
    readonly id: number,
  ) {}

  static async create(base: string): Promise<JanusSession> {
    const created = await post(base, { janus: "create", transaction: transaction() });
    const s = new JanusSession(base, created.data!.id!);
    void s.poll();
    s.keepalive = setInterval(() => void post(`${base}/${s.id}`, { janus: "keepalive", transaction: transaction() }).catch(() => undefined), KEEPALIVE_MS);
    const attached = await post(`${base}/${s.id}`, { janus: "attach", plugin: "janus.plugin.videoroom", transaction: transaction() });
    s.handle = attached.data!.id!;
    return s;
  }

  private async poll(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        const res = await fetch(`${this.base}/${this.id}?maxev=10&rid=${Date.now()}`, { signal: this.abort.signal });
        const body = (await res.json()) as JanusMessage | JanusMessage[];
        for (const m of Array.isArray(body) ? body : [body]) {
          const w = m.transaction !== undefined ? this.waiters.get(m.transaction) : undefined;
          if (w && m.janus !== "ack") {
            this.waiters.delete(m.transaction!);
            w(m);
          } else if (m.janus !== "keepalive" && m.janus !== "ack") {
            this.unsolicited.push(m.janus);
          }
        }
      } catch {
        if (this.abort.signal.aborted) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** A plugin request whose reply is synchronous (listparticipants). */
  async request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const m = await post(`${this.base}/${this.id}/${this.handle}`, { janus: "message", body, transaction: transaction() });
    return m.plugindata?.data ?? {};
  }

  /** A plugin request whose reply is an asynchronous event (join, publish, start), with its jsep. */
  async message(body: Record<string, unknown>, jsep?: { type: string; sdp: string }, timeoutMs = 20_000): Promise<JanusMessage> {
    const tx = transaction();
    const event = new Promise<JanusMessage>((resolve, reject) => {
      const t = setTimeout(() => (this.waiters.delete(tx), reject(new Error(`janus: no reply to ${String(body.request)}`))), timeoutMs);
      this.waiters.set(tx, (m) => (clearTimeout(t), resolve(m)));
    });
    const ack = await post(`${this.base}/${this.id}/${this.handle}`, { janus: "message", body, transaction: tx, ...(jsep ? { jsep } : {}) });
    // Requests Janus can answer at once come back in the POST itself instead of the long poll.
    const m = ack.janus === "ack" ? await event : (this.waiters.delete(tx), ack);
    const data = m.plugindata?.data;
    if (data?.error !== undefined) throw new Error(`janus ${String(body.request)}: ${String(data.error_code)} ${String(data.error)}`);
    return m;
  }

  async destroy(): Promise<void> {
    clearInterval(this.keepalive);
    this.abort.abort();
    await post(`${this.base}/${this.id}`, { janus: "destroy", transaction: transaction() }).catch(() => undefined);
  }
}

/**
 * The same codecs and header extensions as the Sora clients (test/support/werift-sora-client.ts),
 * bound to the address Janus gathers on (see bench/janus-server.ts).
 */
function peerConnection(iceAddress: string): RTCPeerConnection {
  return new RTCPeerConnection({
    iceServers: [],
    iceInterfaceAddresses: { udp4: iceAddress },
    iceUseIpv6: false,
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111 })],
      video: [new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000, payloadType: 96, rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }] })],
    },
    headerExtensions: { audio: [useSdesMid(), useAbsSendTime()], video: [useSdesMid(), useAbsSendTime()] },
  });
}

/** Janus is half-trickle: it reads our candidates from the SDP, so send it once gathering is done. */
async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve) => {
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") (unSubscribe(), resolve());
    });
    // As in the Sora client: werift sometimes never reports "complete"; host candidates are there.
    setTimeout(() => (unSubscribe(), resolve()), 1000).unref();
  });
}

async function connected(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`connect timeout (pc ${pc.connectionState}, ice ${pc.iceConnectionState})`)), timeoutMs);
    const check = () => {
      if (pc.connectionState === "connected") (clearTimeout(t), resolve());
    };
    pc.connectionStateChange.subscribe(check);
    check();
  });
}

export interface JanusPeer {
  pc: RTCPeerConnection;
  session: JanusSession;
}

/** Joins `room` as a publisher and publishes sendonly Opus + VP8 with our offer. */
export async function janusPublish(base: string, iceAddress: string, room: number, display: string, timeoutMs: number): Promise<JanusPeer> {
  const session = await JanusSession.create(base);
  await session.message({ request: "join", ptype: "publisher", room, display });
  const pc = peerConnection(iceAddress);
  pc.addTransceiver(new MediaStreamTrack({ kind: "audio" }), { direction: "sendonly" });
  pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const reply = await session.message({ request: "publish", audiocodec: "opus", videocodec: "vp8" }, { type: "offer", sdp: pc.localDescription!.sdp });
  if (reply.jsep?.type !== "answer") throw new Error(`janus publish: no answer (${JSON.stringify(reply.plugindata?.data)})`);
  await pc.setRemoteDescription(reply.jsep);
  await connected(pc, timeoutMs);
  return { pc, session };
}

/** Joins `room` as a subscriber of its (first) publisher and answers Janus's offer. */
export async function janusSubscribe(base: string, iceAddress: string, room: number, timeoutMs: number): Promise<JanusPeer> {
  const session = await JanusSession.create(base);
  // The publisher joins first but in another client (maybe another process): wait for its feed.
  const deadline = Date.now() + timeoutMs;
  let feed: number | undefined;
  while (feed === undefined) {
    const list = await session.request({ request: "listparticipants", room });
    feed = (list.participants as { id: number; publisher: boolean }[] | undefined)?.find((p) => p.publisher)?.id;
    if (feed === undefined) {
      if (Date.now() > deadline) throw new Error("janus: no publisher in the room");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const attached = await session.message({ request: "join", ptype: "subscriber", room, streams: [{ feed }] });
  if (attached.jsep?.type !== "offer") throw new Error(`janus subscribe: no offer (${JSON.stringify(attached.plugindata?.data)})`);
  const pc = peerConnection(iceAddress);
  await pc.setRemoteDescription(attached.jsep);
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  await session.message({ request: "start" }, { type: "answer", sdp: pc.localDescription!.sdp });
  await connected(pc, timeoutMs);
  return { pc, session };
}
