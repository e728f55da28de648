import type { RTCDataChannel, RTCDtlsTransport } from "werift";
import type { WebSocket } from "ws";
import { newSoraId } from "../../../shared/ids.js";
import { SIGNALING_CLOSE } from "../../../shared/close-codes.js";
import { MAX_JSON_DEPTH, jsonDepth } from "../../../shared/json-limits.js";
import { SORA_COMPAT_VERSION } from "../../../shared/version.js";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import { deflateSync } from "node:zlib";
import { Connection, RPC_LABEL, SYSTEM_DATA_CHANNELS, type SignalingPort } from "../sfu/connection.js";
import { decodeMessage } from "../sfu/messaging.js";
import { PreparedMessage } from "../sfu/prepared-message.js";
import { Refusal, type Authorization, type Sfu } from "../sfu/sfu.js";
import { transportCounters } from "../transport/transport-counters.js";
import { connectMessage, sessionMessage, type ConnectMessage, type SessionMessage } from "./messages.js";
import { JSONRPC_ERROR, decideRpc, rpcError, rpcErrorFor, rpcResult, type RpcResponse } from "./rpc.js";
import { offerConfig } from "./offer-config.js";
import { connectionOptions } from "./connection-options.js";
import { WriteCoalescer, type Corkable } from "./write-coalescer.js";
import { readyToSwitch } from "./switch-readiness.js";

// One client's signaling state machine, over the WebSocket and, after `switched`, the
// `signaling`/`notify`/`push`/`stats` DataChannels. Anything malformed or out of order
// closes this session with a reason; it never throws into the server.

type State = "awaiting-connect" | "placing" | "authenticating" | "offering" | "awaiting-answer" | "active" | "closed";

/** WebSocket close codes (shared/close-codes.ts): 1000 for normal ends (the SDK treats others as abnormal). */
export const CLOSE = SIGNALING_CLOSE;

const MAX_CANDIDATES = 64;
/** How long a DataChannel `close` message may take to be acknowledged before the PeerConnection closes. */
const CLOSE_MESSAGE_FLUSH_MS = 1_000;
/** RPCs of one connection awaiting their result; more are answered with an error at once. */
const MAX_RPC_IN_FLIGHT = 16;
/**
 * Window within which notify/push messages to one client are written together (one `writev`
 * instead of one per message; the first after a quiet spell goes at once). At 40 joins/s a
 * member gets a `connection.created` every 25 ms: 100 ms cuts its writes 4×.
 */
const NOTIFY_COALESCE_MS = 100;
/** A message is an envelope around at most one free-JSON value (shared/json-limits.ts). */
const MAX_MESSAGE_DEPTH = MAX_JSON_DEPTH + 1;
/** How long a node that joins a live session waits for the other nodes' connections before its first offer. */
const RELAY_SYNC_WAIT_MS = 2_000;
/** How long after the connection is up its DataChannels may take to open before the log says which have not. */
const SWITCH_LATE_WARN_MS = 5_000;

/** The close reason of a connect that fails its schema: which free-JSON key broke a limit, if one did. */
export function invalidConnectReason(issues: readonly { path: readonly PropertyKey[]; params?: Record<string, unknown> }[]): string {
  for (const issue of issues) {
    const limit = issue.params?.json_limit;
    if (limit !== "depth" && limit !== "size") continue;
    const key = String(issue.path[0] ?? "message").toUpperCase().replaceAll("_", "-");
    return `${key}-${limit === "depth" ? "TOO-DEEP" : "TOO-LARGE"}`;
  }
  return "INVALID-CONNECT";
}

export class SignalingSession implements SignalingPort {
  private state: State = "awaiting-connect";
  private conn?: Connection;
  private switched = false;
  /** The connection is up with DataChannel signaling: `switched` goes as soon as switchIfReady allows. */
  private switchWanted = false;
  private candidates = 0;
  private pingTimer?: NodeJS.Timeout;
  private stageTimer?: NodeJS.Timeout;
  private lifetimeTimer?: NodeJS.Timeout;
  private statsTimer?: NodeJS.Timeout;
  private lastPongAt = Date.now();
  private awaitingPong = false;
  private ws: WebSocket | null;
  private rpcInFlight = 0;
  /** Notify/push bursts to this client leave in one socket write per window (write-coalescer.ts). */
  private readonly coalescer: WriteCoalescer | undefined;

  /** `socket`: the WebSocket's TCP socket (from the HTTP upgrade), corked while notifies are held. */
  constructor(
    ws: WebSocket,
    private readonly sfu: Sfu,
    private readonly config: NodeConfig,
    private log: Logger,
    socket?: Corkable,
  ) {
    this.ws = ws;
    this.coalescer = socket ? new WriteCoalescer(socket, NOTIFY_COALESCE_MS) : undefined;
    ws.on("message", (data, isBinary) => this.onWebSocketMessage(data as Buffer, isBinary));
    ws.on("close", () => this.onWebSocketClose());
    ws.on("error", (err) => this.log.debug({ err }, "websocket error"));
    this.armStageTimer("CONNECT-TIMEOUT");
  }

  get connection(): Connection | undefined {
    return this.conn;
  }

  // ---- inbound -------------------------------------------------------------------------

  private onWebSocketMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) return this.fail(CLOSE.badRequest, "BINARY-MESSAGE-NOT-ALLOWED");
    let message: unknown;
    try {
      message = JSON.parse(data.toString("utf8"));
    } catch {
      return this.fail(CLOSE.badRequest, "INVALID-JSON");
    }
    this.dispatch(message, "websocket");
  }

  private dispatch(message: unknown, via: "websocket" | "datachannel"): void {
    if (this.state === "closed") return;
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      return this.fail(CLOSE.badRequest, "INVALID-MESSAGE");
    }
    // Before anything walks it: JSON.stringify and zod recurse, and an unknown key is kept
    // (passthrough) into the auth webhook's body.
    if (jsonDepth(message, MAX_MESSAGE_DEPTH) > MAX_MESSAGE_DEPTH) return this.fail(CLOSE.badRequest, "JSON-TOO-DEEP");
    const type = (message as { type?: unknown }).type;
    if (this.state === "awaiting-connect") {
      if (type !== "connect") return this.fail(CLOSE.badRequest, "EXPECTED-CONNECT");
      const parsed = connectMessage.safeParse(message);
      if (!parsed.success) return this.fail(CLOSE.badRequest, invalidConnectReason(parsed.error.issues));
      void this.onConnect(parsed.data);
      return;
    }
    if (type === "connect") return this.fail(CLOSE.badRequest, "UNEXPECTED-CONNECT");
    const parsed = sessionMessage.safeParse(message);
    if (!parsed.success) {
      const known = ["answer", "re-answer", "update", "candidate", "pong", "stats", "disconnect"].includes(String(type));
      return this.fail(CLOSE.badRequest, known ? "INVALID-MESSAGE" : "UNKNOWN-MESSAGE-TYPE");
    }
    void this.onSessionMessage(parsed.data, via).catch((err) => {
      this.log.warn({ err }, "signaling message failed");
      this.fail(CLOSE.badRequest, "SIGNALING-FAILED");
    });
  }

  private async onConnect(connect: ConnectMessage): Promise<void> {
    let joinSessionId: string | undefined;
    // A new session here: ask the cluster whether another node owns the channel (Sora redirects
    // before auth). A session this node hosts but has no room for: ask where else it is served
    // (cluster relay, docs/relay.md) rather than refuse at once.
    const full = this.sfu.channels.has(connect.channel_id) && this.sfu.atCapacity();
    if ((!this.sfu.channels.has(connect.channel_id) || full) && this.sfu.placement) {
      this.state = "placing";
      const placed = await this.sfu.placement(connect.channel_id, full);
      if (this.state !== "placing") return; // closed while asking
      if (placed?.refused) return this.fail(CLOSE.refused, placed.refused); // every node is full
      if (placed?.redirectUrl) {
        this.log.info({ channel_id: connect.channel_id, owner: placed.owner }, "redirecting to the channel's node");
        this.sendWebSocket({ type: "redirect", location: placed.redirectUrl });
        this.state = "closed";
        this.clearStageTimer();
        this.ws?.close(CLOSE.normal, "REDIRECT");
        return;
      }
      joinSessionId = placed?.sessionId;
    }
    // Admission, then auth (the auth webhook sees the connection id, its overrides shape the
    // Connection), then the Connection is built.
    let conn: Connection;
    let auth: Authorization;
    const connectionId = newSoraId();
    try {
      this.sfu.checkAdmission(connect.channel_id);
      if (connect.multistream === false) throw new Refusal("LEGACY-STREAM-NOT-SUPPORTED", CLOSE.badRequest);
      this.state = "authenticating";
      auth = await this.sfu.authorize(connect, connectionId);
      if (this.state !== "authenticating") return; // closed while asking
      const { connect: admitted, lifetimeSec: _lifetime, ...grants } = auth;
      conn = this.sfu.admit(connectionOptions(admitted), { connectionId, ...grants }, joinSessionId);
    } catch (err) {
      if (err instanceof Refusal) return this.fail(err.code, err.reason);
      this.log.error({ err }, "admission failed");
      return this.fail(CLOSE.internal, "INTERNAL-ERROR");
    }
    this.conn = conn;
    if (auth.lifetimeSec !== undefined) this.armLifetime(auth.lifetimeSec);
    if (conn.channel.joined && conn.channel.relay) {
      // This node just joined a session live on other nodes: learn their connections first, so
      // this client's connection.created counts and lists them (docs/relay.md).
      await conn.channel.relay.synced(RELAY_SYNC_WAIT_MS);
      if (this.state !== "authenticating") return; // closed while waiting (its close freed conn)
    }
    conn.setPort(this);
    this.log = conn.log.child({ connection_id: conn.id });
    this.state = "offering";
    let sdp: string;
    try {
      sdp = await this.sfu.offerFor(conn);
    } catch (err) {
      this.log.error({ err }, "offer failed");
      return this.fail(CLOSE.internal, "INTERNAL-ERROR");
    }
    if (this.state !== "offering") return; // closed while gathering
    this.watchPeer(conn);
    const offer: Record<string, unknown> = {
      type: "offer",
      sdp,
      version: SORA_COMPAT_VERSION,
      connection_id: conn.id,
      client_id: conn.clientId,
      bundle_id: conn.bundleId,
      session_id: conn.sessionId,
      channel_id: conn.channel.channelId,
      multistream: true,
      simulcast: conn.simulcast,
      spotlight: conn.channel.spotlight,
      audio: conn.audio,
      video: conn.video,
      mid: conn.peer.mids,
      data_channel_signaling: conn.dataChannelSignaling,
      ignore_disconnect_websocket: conn.ignoreDisconnectWebSocket,
    };
    // Absent only for an iOS SDK client without relay: its decoder rejects any other `config`.
    const config = offerConfig(this.sfu.rtcConfigFor(conn), conn.options.soraClient);
    if (config) offer.config = config;
    if (conn.authnMetadata !== undefined) offer.metadata = conn.authnMetadata;
    if (conn.audio) offer.audio_codec_type = "OPUS";
    if (conn.video) offer.video_codec_type = conn.videoCodec;
    const encodings = conn.offerEncodings();
    if (encodings) offer.encodings = encodings;
    const dcs = conn.offerDataChannels();
    if (dcs) offer.data_channels = dcs;
    if (conn.rpcMethods.length > 0) offer.rpc_methods = conn.rpcMethods;
    this.state = "awaiting-answer";
    this.sendWebSocket(offer);
    this.armStageTimer("ANSWER-TIMEOUT");
  }

  private async onSessionMessage(message: SessionMessage, via: "websocket" | "datachannel"): Promise<void> {
    const conn = this.conn!;
    switch (message.type) {
      case "answer": {
        if (this.state !== "awaiting-answer" || via !== "websocket") return this.fail(CLOSE.badRequest, "UNEXPECTED-ANSWER");
        this.state = "active";
        this.clearStageTimer();
        try {
          await conn.applyAnswer(message.sdp);
        } catch {
          return this.fail(CLOSE.badRequest, "INVALID-SDP");
        }
        this.startPing();
        return;
      }
      case "re-answer":
      case "update": {
        if (this.state !== "active" || !conn.isNegotiating) return this.fail(CLOSE.badRequest, "UNEXPECTED-RE-ANSWER");
        try {
          await conn.applyAnswer(message.sdp);
        } catch {
          return this.fail(CLOSE.badRequest, "INVALID-SDP");
        }
        this.switchIfReady(conn);
        return;
      }
      case "candidate": {
        if (this.state !== "active") return this.fail(CLOSE.badRequest, "UNEXPECTED-CANDIDATE");
        if (++this.candidates > MAX_CANDIDATES) return this.fail(CLOSE.tooMany, "TOO-MANY-CANDIDATES");
        await conn.peer.addIceCandidate(message).catch(() => {
          // A candidate the ICE agent cannot use is the client's loss, not a protocol error.
        });
        return;
      }
      case "pong": {
        this.awaitingPong = false;
        this.lastPongAt = Date.now();
        if (message.stats !== undefined) this.sfu.recordUserAgentStats(conn, message.stats);
        return;
      }
      case "stats": {
        this.sfu.recordUserAgentStats(conn, message.reports);
        return;
      }
      case "disconnect": {
        await this.end(CLOSE.normal, "TYPE-DISCONNECT", "client disconnect");
        return;
      }
    }
  }

  // ---- PeerConnection and DataChannels ------------------------------------------------

  private watchPeer(conn: Connection): void {
    const pc = conn.peer.pc;
    pc.connectionStateChange.subscribe((state) => {
      if (state === "connected") {
        // Runs inside werift's event dispatch: a throw here would escape as an unhandled
        // rejection and leave the PeerConnection up with nobody told.
        try {
          this.sfu.onConnected(conn);
        } catch (err) {
          this.log.error({ err }, "announcing the connection failed");
          return this.fail(CLOSE.internal, "INTERNAL-ERROR");
        }
        if (conn.dataChannelSignaling) this.switchWhenOpen(conn);
      } else if (state === "failed" || state === "closed") {
        void this.end(CLOSE.normal, "PEER-CONNECTION-" + state.toUpperCase(), "peer connection " + state);
      }
    });
    for (const [label, dc] of conn.peer.dataChannels) this.bindDataChannel(conn, label, dc);
    // werift's connectionState ignores the DTLS transport once ICE is up: a DTLS session that
    // closes (authenticated close_notify) or fails (fatal alert, handshake failure) would leave
    // a connection that says "connected" and carries nothing. End it, and say why.
    for (const dtls of pc.dtlsTransports) {
      dtls.onStateChange.subscribe((state) => {
        if (state === "closed" || state === "failed") this.endForDtls(conn, dtls);
      });
    }
  }

  /** The connection's DTLS transport closed or failed while the connection was live. */
  private endForDtls(conn: Connection, dtls: RTCDtlsTransport): void {
    if (conn.closed || this.state === "closed") return;
    transportCounters.dtlsConnectionsEnded++;
    const state = dtls.state === "failed" ? "FAILED" : "CLOSED";
    this.log.warn({ connection_id: conn.id, dtls_state: dtls.state }, "DTLS transport ended; ending the connection");
    void this.end(CLOSE.normal, "DTLS-" + state, "dtls " + dtls.state);
  }

  /** A DTLS transport of the connection that has closed or failed, if any. */
  private endedDtls(conn: Connection): RTCDtlsTransport | undefined {
    return conn.peer.pc.dtlsTransports.find((t) => t.state === "closed" || t.state === "failed");
  }

  private bindDataChannel(conn: Connection, label: string, dc: RTCDataChannel): void {
    dc.onMessage.subscribe((data: string | Buffer) => {
      if (label === "signaling" || label === "stats") {
        let message: unknown;
        try {
          message = JSON.parse(typeof data === "string" ? data : data.toString("utf8"));
        } catch {
          return this.fail(CLOSE.badRequest, "INVALID-JSON");
        }
        this.dispatch(message, "datachannel");
      } else if (label.startsWith("#")) {
        this.sfu.relayMessage(conn, label, typeof data === "string" ? Buffer.from(data) : data);
      } else if (label === RPC_LABEL) {
        void this.onRpcMessage(conn, dc, typeof data === "string" ? Buffer.from(data) : data);
      }
    });
    dc.stateChanged.subscribe((state) => {
      // The SDK closes DataChannels when it hangs up over DataChannel signaling.
      if (state === "closed" && this.switched && (SYSTEM_DATA_CHANNELS as readonly string[]).includes(label)) {
        // werift closes the DataChannels first when DTLS ends (SCTP runs over it): name the cause.
        const dtls = this.endedDtls(conn);
        if (dtls) return this.endForDtls(conn, dtls);
        void this.end(CLOSE.normal, "DATA-CHANNEL-CLOSED", "data channel closed");
      }
    });
  }

  /**
   * A JSON-RPC request on the `rpc` label (signaling/rpc.ts): answered on the same label, in the
   * label's encoding. Never closes the session: a bad request gets a JSON-RPC error.
   */
  private async onRpcMessage(conn: Connection, dc: RTCDataChannel, data: Buffer): Promise<void> {
    const reply = (response: RpcResponse) => {
      if (this.state === "closed" || dc.readyState !== "open") return;
      const text = JSON.stringify(response);
      // The SDK decompresses a compressed label's messages before JSON.parse (dist/sora.js `M`).
      dc.send(conn.rpcCompress ? deflateSync(Buffer.from(text)) : text);
    };
    const plain = decodeMessage(data, { compress: conn.rpcCompress });
    if (!plain) return reply(rpcError(null, JSONRPC_ERROR.parseError, "Parse error"));
    const decision = decideRpc(plain.toString("utf8"), new Set(conn.rpcMethods), {
      channelId: conn.channel.channelId,
      connectionId: conn.id,
      simulcastRpcRids: conn.simulcastRpcRids,
    });
    if (decision.kind === "ignore") return;
    if (decision.kind === "reply") return reply(decision.response);
    const id = decision.id;
    if (this.rpcInFlight >= MAX_RPC_IN_FLIGHT) {
      if (id !== undefined) reply(rpcErrorFor(id, "TOO-MANY-REQUESTS", { in_flight: this.rpcInFlight }));
      return;
    }
    this.rpcInFlight++;
    try {
      const outcome = await this.sfu.callFromConnection(conn, decision.call);
      if (id === undefined) return; // a notification: nothing goes back
      reply(outcome.ok ? rpcResult(id, outcome.result) : rpcErrorFor(id, outcome.error_type, outcome.error_reason));
    } catch (err) {
      this.log.warn({ err, method: decision.call.method }, "rpc failed");
      if (id !== undefined) reply(rpcErrorFor(id, "INTERNAL-ERROR", undefined));
    } finally {
      this.rpcInFlight--;
    }
  }

  /** `switched` goes once the client can take it (signaling/switch-readiness.ts). */
  private switchWhenOpen(conn: Connection): void {
    this.switchWanted = true;
    for (const dc of conn.peer.dataChannels.values()) if (dc.readyState !== "open") dc.stateChanged.subscribe(() => this.switchIfReady(conn));
    this.switchIfReady(conn);
    if (this.switched) return;
    // Say what it waits for, so a client left on WebSocket signaling (and without its `#` labels)
    // can be explained from the log.
    const late = setTimeout(() => {
      if (this.switched || this.state === "closed") return;
      const labels = Object.fromEntries([...conn.peer.dataChannels].filter(([, dc]) => dc.readyState !== "open").map(([label, dc]) => [label, dc.readyState]));
      this.log.warn({ connection_id: conn.id, data_channels: labels, re_offer_outstanding: conn.isNegotiating }, "switched still waits 5 s after connecting");
    }, SWITCH_LATE_WARN_MS);
    late.unref();
  }

  /** Called when a DataChannel opens and when a re-answer is applied. */
  private switchIfReady(conn: Connection): void {
    if (!this.switchWanted || this.switched || this.state === "closed") return;
    const states = [...conn.peer.dataChannels.values()].map((dc) => dc.readyState);
    if (readyToSwitch(states, conn.isNegotiating)) this.doSwitch(conn);
  }

  private doSwitch(conn: Connection): void {
    if (this.switched) return;
    this.switched = true;
    this.sendWebSocket({ type: "switched", ignore_disconnect_websocket: conn.ignoreDisconnectWebSocket });
    // Stats move to the `stats` DataChannel (Sora: every 30 s there).
    this.startDataChannelStats(conn);
  }

  private startDataChannelStats(conn: Connection): void {
    this.statsTimer = setInterval(() => this.sendOnDataChannel(conn, "stats", { type: "req-stats" }), 30_000);
    this.statsTimer.unref();
  }

  // ---- outbound ------------------------------------------------------------------------

  sendSignaling(message: Record<string, unknown>): void {
    if (this.switched && this.conn) this.sendOnDataChannel(this.conn, "signaling", message);
    else this.sendWebSocket(message);
  }

  sendNotify(message: Record<string, unknown> | PreparedMessage): void {
    if (this.switched && this.conn) this.sendOnDataChannel(this.conn, "notify", message);
    else if (message instanceof PreparedMessage) this.sendWebSocketText(message.bytes, true);
    else this.sendWebSocketText(JSON.stringify(message), true);
  }

  sendPush(message: Record<string, unknown>): void {
    if (this.switched && this.conn) this.sendOnDataChannel(this.conn, "push", message);
    else this.sendWebSocketText(JSON.stringify(message), true);
  }

  private sendOnDataChannel(conn: Connection, label: string, message: Record<string, unknown> | PreparedMessage): void {
    const dc = conn.dataChannel(label);
    const text = message instanceof PreparedMessage ? message.text : JSON.stringify(message);
    if (dc?.readyState === "open") {
      try {
        dc.send(text);
        return;
      } catch (err) {
        // Larger than the peer's SCTP max-message-size (its SDP's a=max-message-size, 64 KiB when
        // absent, RFC 8841 §6.1; Chrome 256 KiB): werift refuses it before sending anything. The
        // SDKs read notify/push/re-offer on the WebSocket too (sora-js-sdk's onmessage keeps them).
        const sent = this.sendWebSocketText(text);
        this.log.warn({ label, bytes: Buffer.byteLength(text), err: (err as Error).message, via_websocket: sent }, "message too large for the DataChannel");
        return;
      }
    }
    this.sendWebSocketText(text);
  }

  private sendWebSocket(message: Record<string, unknown>): void {
    this.sendWebSocketText(JSON.stringify(message));
  }

  /** `deferrable`: may wait up to NOTIFY_COALESCE_MS for other messages to this client (notify, push). */
  private sendWebSocketText(text: string | Buffer, deferrable = false): boolean {
    if (!this.ws || this.ws.readyState !== this.ws.OPEN) return false;
    if (deferrable) this.coalescer?.beforeDeferrable();
    // A Buffer is a PreparedMessage's UTF-8, shared by many sockets: sent as a text frame, uncopied.
    this.ws.send(text, { binary: false });
    if (!deferrable) this.coalescer?.afterUrgent();
    return true;
  }

  private startPing(): void {
    this.pingTimer = setInterval(() => {
      if (!this.ws || this.ws.readyState !== this.ws.OPEN) return;
      // After the switch a C++ client may answer on the stats DataChannel instead of pong.
      if (this.awaitingPong && !this.switched && Date.now() - this.lastPongAt > this.config.pongTimeoutMs) {
        void this.end(CLOSE.timeout, "PONG-TIMEOUT", "no pong");
        return;
      }
      this.awaitingPong = true;
      this.sendWebSocket({ type: "ping", stats: true });
    }, this.config.pingIntervalMs);
    this.pingTimer.unref();
  }

  // ---- teardown ------------------------------------------------------------------------

  private onWebSocketClose(): void {
    this.ws = null;
    this.coalescer?.flush();
    if (this.state === "closed") return;
    if (this.switched && this.conn?.ignoreDisconnectWebSocket) {
      this.log.debug("websocket closed after switch; session continues on DataChannels");
      return;
    }
    void this.end(CLOSE.normal, "WEBSOCKET-CLOSED", "websocket closed");
  }

  private armStageTimer(reason: string): void {
    this.clearStageTimer();
    this.stageTimer = setTimeout(() => this.fail(CLOSE.timeout, reason), this.config.signalingTimeoutMs);
    this.stageTimer.unref();
  }

  /** Auth webhook `connection_lifetime`: Sora ends the connection normally with LIFETIME-EXPIRED. */
  private armLifetime(seconds: number): void {
    this.lifetimeTimer = setTimeout(() => void this.end(CLOSE.normal, "LIFETIME-EXPIRED", "connection lifetime expired"), seconds * 1000);
    this.lifetimeTimer.unref();
  }

  private clearStageTimer(): void {
    if (this.stageTimer) clearTimeout(this.stageTimer);
    this.stageTimer = undefined;
  }

  /** Protocol error or refusal: close with a code and an UPPER-KEBAB reason. */
  fail(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.log.info({ code, reason }, "closing signaling");
    void this.end(code, reason, reason);
  }

  /** Ends the session: WebSocket closed with code/reason, DataChannels told via `close`, connection removed. */
  async end(code: number, reason: string, logReason: string): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    this.clearStageTimer();
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.lifetimeTimer) clearTimeout(this.lifetimeTimer);
    if (this.statsTimer) clearInterval(this.statsTimer);
    const conn = this.conn;
    // A WebSocket the client is already closing (the SDK closes it after `switched`) carries no reason.
    const viaDataChannel = conn && this.switched && (!this.ws || this.ws.readyState !== this.ws.OPEN);
    if (viaDataChannel) {
      this.sendOnDataChannel(conn, "signaling", { type: "close", code, reason });
      // Sora closes the DataChannels after the `close` message; let it reach the client first.
      await conn.dataChannelsFlushed(CLOSE_MESSAGE_FLUSH_MS);
    }
    if (this.ws) {
      this.coalescer?.flush();
      try {
        this.ws.close(code, reason);
      } catch {
        this.ws.terminate();
      }
    }
    if (conn) await this.sfu.leave(conn, logReason);
  }
}
