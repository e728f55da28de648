import { createPrivateKey, createPublicKey, createSign, diffieHellman, generateKeyPairSync, type KeyObject } from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import * as werift from "werift";
import { Connection, DtlsClient, RTCDtlsTransport, isDtls } from "werift";
import { rtcpCompoundCount, rtcpPacketValid, rtpHeaderCheck } from "../rtp/packet-validation.js";
import { filterDtlsDatagram, type DtlsRecordHeader } from "./dtls-record-filter.js";
import { packFlights, type RecordSender } from "./dtls-flight-packing.js";
import { transportCounters } from "./transport-counters.js";
import "./werift-caches.js";
import "./random-pool.js";
import "./ice-lite.js";
import { BoundedMemo } from "./bounded-memo.js";

// Process-wide fixes to werift 0.25.2, applied on import (media node and load clients).
//
// STUN default: Connection.applyStunTurnServersFromOptions() falls back to stun.l.google.com
// whenever no STUN server is configured, even with `iceServers: []`. Every PeerConnection then
// resolves and queries Google's STUN server while gathering and setLocalDescription waits for it
// (up to the 5 s stunGatherTimeout): offline, or under a burst of joins, offers stall for 5 s
// at a time; online, every server PC leaks a STUN query. Without a configured server, gather
// host candidates only.

interface ConnectionInternals {
  options: { stunServer?: unknown };
  stunServer?: unknown;
  applyStunTurnServersFromOptions?: () => void;
}

const proto = Connection.prototype as unknown as ConnectionInternals & { __noDefaultStun?: boolean };
if (typeof proto.applyStunTurnServersFromOptions === "function" && !proto.__noDefaultStun) {
  const original = proto.applyStunTurnServersFromOptions;
  proto.applyStunTurnServersFromOptions = function (this: ConnectionInternals) {
    original.call(this);
    if (!this.options.stunServer) this.stunServer = undefined;
  };
  proto.__noDefaultStun = true;
}

// DTLS-SRTP profile choice: werift offers/accepts [AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80]
// in that order, per transport, with no option to change it. The fast media path implements
// AES_CM_128_HMAC_SHA1_80 only (GCM would need a fresh node:crypto cipher per packet), so a
// process that uses it restricts every DTLS transport to that profile just before its handshake.

let srtpProfileOverride: number[] | undefined;

/** Restricts the DTLS-SRTP profiles of every later handshake in this process (undefined = werift's default). */
export function setSrtpProfiles(profiles: number[] | undefined): void {
  srtpProfileOverride = profiles;
}

// Early DTLS: the peer whose ICE reaches "connected" first may send its ClientHello before this
// side's ICE reports connected and werift starts the DTLS transport; werift drops such packets
// and the handshake then waits for the peer's retransmission (50 ms in libwebrtc, 500 ms in
// werift). DTLS packets arriving between setRemoteParams and start() are kept (a few) and handed
// to the DTLS transport the moment start() has created it.

const EARLY_DTLS_MAX_PACKETS = 16;

interface OnData {
  subscribe(listener: (buf: Buffer) => void): { unSubscribe: () => void };
  execute(buf: Buffer): void;
}

interface DtlsTransportInternals {
  start: () => Promise<void>;
  setRemoteParams: (params: unknown) => void;
  srtpProfiles: number[];
  state: string;
  role: string;
  dtls?: unknown;
  iceTransport: { connection: { onData: OnData } };
  __earlyDtls?: { packets: Buffer[]; unSubscribe: () => void } | null;
}

interface EarlyClient {
  connect: () => Promise<void>;
  __earlyConnect?: Promise<void>;
}

let dtlsClientImmediately = false;

/**
 * Start the DTLS handshake as soon as ICE connects when this side is the DTLS client, as
 * libwebrtc does (werift waits a fixed 100 ms first). For the load and test clients, whose
 * peer (the node) keeps early DTLS packets; the node itself keeps werift's wait.
 */
export function startDtlsClientImmediately(on: boolean): void {
  dtlsClientImmediately = on;
}

const dtlsProto = RTCDtlsTransport.prototype as unknown as DtlsTransportInternals & { __patched?: boolean };
if (!dtlsProto.__patched) {
  const start = dtlsProto.start;
  const clientProto = DtlsClient.prototype as unknown as EarlyClient;
  const connect = clientProto.connect;
  const setRemoteParams = dtlsProto.setRemoteParams;
  dtlsProto.setRemoteParams = function (this: DtlsTransportInternals, params: unknown) {
    setRemoteParams.call(this, params);
    if (this.__earlyDtls !== undefined || this.state !== "new") return;
    const packets: Buffer[] = [];
    const { unSubscribe } = this.iceTransport.connection.onData.subscribe((buf) => {
      if (isDtls(buf) && packets.length < EARLY_DTLS_MAX_PACKETS) packets.push(Buffer.from(buf));
    });
    this.__earlyDtls = { packets, unSubscribe };
  };
  dtlsProto.start = function (this: DtlsTransportInternals) {
    if (srtpProfileOverride) this.srtpProfiles = [...srtpProfileOverride];
    const early = this.__earlyDtls;
    this.__earlyDtls = null;
    early?.unSubscribe();
    // The original creates the DTLS socket (subscribed to ICE data) before its first await.
    const started = start.call(this);
    if (this.dtls) {
      packFlights((this.dtls as unknown as { transport: RecordSender }).transport);
      guardDtlsSocket(this as unknown as DtlsTransportLike, this.dtls as unknown as DtlsSocketInternals);
      if (early) for (const packet of early.packets) this.iceTransport.connection.onData.execute(packet);
      if (dtlsClientImmediately && this.role === "client") {
        const client = this.dtls as unknown as EarlyClient;
        client.__earlyConnect = connect.call(client);
        client.__earlyConnect.catch(() => undefined); // werift's own connect() after its wait reports failures
      }
    }
    return started;
  };
  // werift calls connect() itself after its 100 ms wait: that call joins the one started early
  // instead of sending a second ClientHello.
  clientProto.connect = function (this: EarlyClient) {
    const early = this.__earlyConnect;
    if (early) {
      this.__earlyConnect = undefined;
      return early;
    }
    return connect.call(this);
  };
  dtlsProto.__patched = true;
}

// X25519 in DTLS: werift's ECDHE uses tweetnacl (pure JS, ≈ 1 ms per key pair and per shared
// secret, two of each per handshake side), the biggest single cost of a join on the node. The
// same tweetnacl instance werift imports gets node:crypto's X25519 (OpenSSL) for those two calls;
// results are identical (RFC 7748), `test/node/werift-patches.test.ts` compares them.

interface Nacl {
  box: { keyPair: () => { publicKey: Uint8Array; secretKey: Uint8Array } };
  scalarMult: ((n: Uint8Array, p: Uint8Array) => Uint8Array) & { __native?: boolean; __js?: (n: Uint8Array, p: Uint8Array) => Uint8Array };
}

/** Loads a module the way werift does (from werift's own location), so patches reach its instance. */
const requireFromWerift = createRequire(fileURLToPath(import.meta.resolve("werift")));

/** The tweetnacl module werift itself loads. */
export const weriftNacl = requireFromWerift("tweetnacl") as Nacl;

/** A fresh Uint8Array that owns its buffer: werift reads key pairs through `.buffer`. */
function ownBytes(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length);
  out.set(src);
  return out;
}

if (!weriftNacl.scalarMult.__native) {
  const jsScalarMult = weriftNacl.scalarMult;
  const native = (n: Uint8Array, p: Uint8Array): Uint8Array => {
    if (n.length !== 32 || p.length !== 32) return jsScalarMult(n, p);
    // JWK, not DER: OpenSSL 3 decodes a PKCS#8 key in ≈ 380 µs, a raw JWK one in ≈ 30 µs. Node
    // requires `x` to be a string but derives the key from `d` alone (the tests compare results).
    const privateKey = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: Buffer.from(n).toString("base64url"), x: "" }, format: "jwk" });
    const publicKey = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(p).toString("base64url") }, format: "jwk" });
    return ownBytes(diffieHellman({ privateKey, publicKey }));
  };
  weriftNacl.scalarMult = Object.assign(native, jsScalarMult, { __native: true, __js: jsScalarMult });
  weriftNacl.box.keyPair = () => {
    const jwk = generateKeyPairSync("x25519").privateKey.export({ format: "jwk" });
    return { publicKey: ownBytes(Buffer.from(jwk.x!, "base64url")), secretKey: ownBytes(Buffer.from(jwk.d!, "base64url")) };
  };
}

// ECDSA in DTLS: werift signs its ServerKeyExchange through @fidm/x509's PrivateKey.sign, which
// hands node:crypto the key's PEM text every time; OpenSSL 3 decodes it in ≈ 600 µs of the
// ≈ 650 µs a signature costs. The key is werift's process-wide certificate key, so the parsed
// KeyObject is kept per PEM (a few at most).

interface FidmPrivateKey {
  oid: string;
  toPEM(): string;
  sign(data: Buffer, hashAlgorithm: string): Buffer;
}

/** The @fidm/x509 module werift itself loads. */
export const weriftFidm = requireFromWerift("@fidm/x509") as {
  PrivateKey: {
    fromPEM(pem: Buffer): FidmPrivateKey;
    prototype: FidmPrivateKey & { __cachedKey?: boolean };
    _signers: Record<string, unknown>;
  };
};
const fidm = weriftFidm;
const signingKeys = new BoundedMemo<string, KeyObject>(8);

if (!fidm.PrivateKey.prototype.__cachedKey) {
  const sign = fidm.PrivateKey.prototype.sign;
  fidm.PrivateKey.prototype.sign = function (this: FidmPrivateKey, data: Buffer, hashAlgorithm: string): Buffer {
    // Ed25519/Ed448 keys have their own signers in @fidm/x509: leave those alone.
    if (fidm.PrivateKey._signers[this.oid] != null) return sign.call(this, data, hashAlgorithm);
    const pem = String(this.toPEM());
    return createSign(hashAlgorithm).update(data).sign(signingKeys.get(pem, () => createPrivateKey(pem)));
  };
  fidm.PrivateKey.prototype.__cachedKey = true;
}

// ---- Hostile traffic (docs/ARCHITECTURE.md, "Hostile input") ----------------------------------

// ICE: werift's StunProtocol hands every datagram that does not parse as STUN to the DTLS and
// SRTP layers, from whatever address it came (ice.ts: onDataReceived carries no address). Here a
// non-STUN datagram is accepted only from the remote address, on the socket it arrived on, of
// - the nominated (selected) pair, or
// - a valid pair (RFC 8445 §7.2.5.3.2: our integrity-protected check to that address succeeded — on an ICE-lite connection,
//   ice-lite.ts: the peer's signed check from there was answered —,
//   so the peer proved its ICE password from there). The controlling peer's selected pair need
//   not be werift's nominated one: Chrome on a host with two addresses nominates one pair and may
//   then send from another valid pair (seen in the browser tests: 192.0.2.2 vs 127.0.0.1);
//   libwebrtc likewise takes data on any connection it has validated;
// - before nomination, any pair of the check list (an early ClientHello is kept);
// anything else is dropped and counted. STUN is left to werift (checks from new addresses are
// answered per ICE). TCP candidates (not used by the node) and TURN-client protocols (load
// clients) are not filtered.

const PAIR_SUCCEEDED = 3; // werift's CandidatePairState.SUCCEEDED

interface IcePairLike {
  protocol: unknown;
  remoteAddr: [string, number];
  state?: number;
}

interface IceConnectionInternals {
  nominated?: IcePairLike;
  checkList: IcePairLike[];
  ensureProtocol(protocol: unknown): void;
}

interface StunProtocolInternals {
  datagramReceived(data: Buffer, addr: [string, number]): void;
  __iceConnection?: IceConnectionInternals;
}

/** RFC 7983 §7 demultiplexing plus the RFC 5389 magic cookie: what werift will try to parse as STUN. */
export function isStunShaped(data: Buffer): boolean {
  return data.length >= 20 && data[0]! < 4 && data.readUInt32BE(4) === 0x2112a442;
}

/** Whether `connection` takes application data (DTLS, SRTP, SRTCP) arriving from `addr` on `protocol`. */
export function acceptsDataFrom(connection: IceConnectionInternals, protocol: unknown, addr: [string, number]): boolean {
  const nominated = connection.nominated;
  if (nominated !== undefined && nominated.protocol === protocol && sameAddress(nominated.remoteAddr, addr)) return true;
  for (const pair of connection.checkList) {
    if (pair.protocol === protocol && sameAddress(pair.remoteAddr, addr) && (nominated === undefined || pair.state === PAIR_SUCCEEDED)) return true;
  }
  return false;
}

function sameAddress(a: [string, number], b: [string, number]): boolean {
  return a[1] === b[1] && a[0] === b[0];
}

const iceConnectionProto = Connection.prototype as unknown as IceConnectionInternals & { __sourceFiltered?: boolean };
const stunProtocolProto = (werift as unknown as { StunProtocol: { prototype: StunProtocolInternals } }).StunProtocol.prototype;
if (!iceConnectionProto.__sourceFiltered) {
  const ensureProtocol = iceConnectionProto.ensureProtocol;
  iceConnectionProto.ensureProtocol = function (this: IceConnectionInternals, protocol: unknown) {
    (protocol as StunProtocolInternals).__iceConnection = this;
    return ensureProtocol.call(this, protocol);
  };
  const datagramReceived = stunProtocolProto.datagramReceived;
  stunProtocolProto.datagramReceived = function (this: StunProtocolInternals, data: Buffer, addr: [string, number]) {
    const connection = this.__iceConnection;
    if (connection !== undefined && !isStunShaped(data) && !acceptsDataFrom(connection, this, addr)) {
      transportCounters.iceForeignDatagrams++;
      return;
    }
    datagramReceived.call(this, data, addr);
  };
  iceConnectionProto.__sourceFiltered = true;
}

// DTLS: records reach werift's DtlsSocket through filterDtlsDatagram (dtls-record-filter.ts).
// Authenticated alerts end the transport the way werift's own events do: close_notify → "closed",
// a fatal alert → "failed" (werift itself ignored fatal alerts: parsePlainText threw inside a
// try/catch). The media node watches the transport state and ends the connection visibly.

interface DtlsSocketInternals {
  connected: boolean;
  transport: { socket: { onData: (buf: Buffer) => void } };
  cipher: { decryptPacket(pkt: unknown): Buffer };
  onClose: { execute(): void };
}

interface DtlsTransportLike {
  setState(state: string): void;
}

const ALERT_CLOSE_NOTIFY = 0;
const ALERT_LEVEL_FATAL = 2;

function guardDtlsSocket(transport: DtlsTransportLike, socket: DtlsSocketInternals): void {
  const deliver = socket.transport.socket.onData;
  const ctx = {
    connected: false,
    authenticate(header: DtlsRecordHeader, fragment: Buffer): Buffer | undefined {
      try {
        return socket.cipher.decryptPacket({
          recordLayerHeader: {
            contentType: header.contentType,
            protocolVersion: { major: header.versionMajor, minor: header.versionMinor },
            epoch: header.epoch,
            sequenceNumber: header.sequenceNumber,
            contentLen: fragment.length,
          },
          fragment,
        });
      } catch {
        return undefined;
      }
    },
    onAlert(level: number, description: number): void {
      if (level === ALERT_LEVEL_FATAL) {
        transportCounters.dtlsAlertsReceived++;
        transport.setState("failed");
      } else if (description === ALERT_CLOSE_NOTIFY) {
        transportCounters.dtlsAlertsReceived++;
        socket.onClose.execute();
      }
    },
    onDrop(): void {
      transportCounters.dtlsRecordsDropped++;
    },
  };
  socket.transport.socket.onData = (buf: Buffer) => {
    ctx.connected = socket.connected;
    const passed = filterDtlsDatagram(buf, ctx);
    if (passed !== undefined) deliver(passed);
  };
}

// RTP: werift's RtpHeader.deSerialize reads CSRCs and the extension block without bounds (a
// length past the end walks phantom elements, each appended by copying the whole array). Headers
// that fail rtpHeaderCheck throw before werift parses them; every caller already drops packets
// whose parse throws (RTCDtlsTransport: "dropping malformed SRTP packet"). werift also ends the
// header where an RFC 8285 id-15 element stops the element parse, leaving the rest of the
// extension block in the payload: the payload starts where the block ends (found by the fuzz test).

const rtpHeaderClass = werift.RtpHeader as unknown as { deSerialize(buf: Buffer): { payloadOffset: number }; __checked?: boolean };
if (!rtpHeaderClass.__checked) {
  const deSerialize = rtpHeaderClass.deSerialize;
  rtpHeaderClass.deSerialize = function (buf: Buffer) {
    const headerLength = rtpHeaderCheck(buf, buf.length);
    if (headerLength < 0) {
      transportCounters.rtpMalformed++;
      throw new RangeError("malformed RTP header");
    }
    const header = deSerialize.call(this, buf);
    header.payloadOffset = headerLength;
    return header;
  };
  rtpHeaderClass.__checked = true;
}

// RTCP: werift's RtcpPacketConverter hands each packet's parser the rest of the compound instead
// of its own `length` words (a NACK or REMB then reads the packets after it as FCI / SSRCs), and
// the parsers trust their counts. A compound whose lengths do not add up is dropped whole; each
// packet is parsed from exactly its own bytes, and one too short for its type is dropped.

const rtcpConverter = werift.RtcpPacketConverter as unknown as { deSerialize(data: Buffer): unknown[]; __checked?: boolean };
if (!rtcpConverter.__checked) {
  const deSerialize = rtcpConverter.deSerialize;
  rtcpConverter.deSerialize = function (data: Buffer) {
    const count = rtcpCompoundCount(data, data.length);
    if (count < 0) {
      transportCounters.rtcpMalformed++;
      return [];
    }
    const packets: unknown[] = [];
    let pos = 0;
    for (let i = 0; i < count; i++) {
      const len = 4 + data.readUInt16BE(pos + 2) * 4;
      if (rtcpPacketValid(data, pos, len)) {
        for (const packet of deSerialize.call(this, data.subarray(pos, pos + len))) packets.push(packet);
      } else {
        transportCounters.rtcpMalformed++;
      }
      pos += len;
    }
    return packets;
  };
  rtcpConverter.__checked = true;
}

// RTCP routing: werift's RtpRouter.routeRtcp hands PLI (and any payload-specific feedback but
// REMB) to the owner of its *sender* SSRC before its media SSRC, so the PLI of a client that also
// sends reaches the receiver of that client's own upload and is lost; FIR goes by the header's
// media SSRC, which RFC 5104 §4.3.1.2 sets to 0; REMB only to its first SSRC. Feedback is routed
// by the media it is about (RFC 4585 §6.1): PLI and other PSFB by media SSRC, FIR by each FCI
// entry's SSRC, REMB by every listed SSRC, RTPFB (NACK, TWCC) by media source SSRC; sender and
// receiver reports go to the owner of their SSRC and of each report block's SSRC.

interface RtcpRecipient {
  handleRtcpPacket(packet: unknown): void;
}

interface RouterInternals {
  ssrcTable: Record<number, RtcpRecipient | undefined>;
  routeRtcp: (packet: unknown) => void;
  __byMediaSsrc?: boolean;
}

interface RoutedRtcp {
  type: number;
  ssrc?: number;
  reports?: { ssrc: number }[];
  feedback?: { count?: number; mediaSsrc?: number; mediaSourceSsrc?: number; fir?: { ssrc: number }[]; ssrcFeedbacks?: number[] };
}

/** The recipients of one parsed RTCP packet in a router's SSRC table (each once). */
export function rtcpRecipients(ssrcTable: Record<number, RtcpRecipient | undefined>, packet: RoutedRtcp): RtcpRecipient[] {
  const out: RtcpRecipient[] = [];
  const add = (ssrc: number | undefined) => {
    const r = ssrc === undefined ? undefined : ssrcTable[ssrc];
    if (r !== undefined && !out.includes(r)) out.push(r);
  };
  const fb = packet.feedback;
  switch (packet.type) {
    case 200: // SR
      add(packet.ssrc);
      for (const report of packet.reports ?? []) add(report.ssrc);
      break;
    case 201: // RR
      for (const report of packet.reports ?? []) add(report.ssrc);
      break;
    case 205: // RTPFB
      add(fb?.mediaSourceSsrc);
      break;
    case 206: // PSFB
      if (fb?.count === 4) for (const entry of fb.fir ?? []) add(entry.ssrc);
      else if (fb?.count === 15) for (const ssrc of fb.ssrcFeedbacks ?? []) add(ssrc);
      else add(fb?.mediaSsrc);
      break;
  }
  return out;
}

const peerConnectionProto = werift.RTCPeerConnection.prototype as unknown as {
  createDtlsTransport: (...args: unknown[]) => unknown;
  __rtcpByMediaSsrc?: boolean;
};
if (!peerConnectionProto.__rtcpByMediaSsrc) {
  const createDtlsTransport = peerConnectionProto.createDtlsTransport;
  peerConnectionProto.createDtlsTransport = function (this: { router: RouterInternals }, ...args: unknown[]) {
    // werift subscribes `(rtcp) => this.router.routeRtcp(rtcp)`, looked up per packet.
    const router = this.router;
    if (!router.__byMediaSsrc) {
      router.routeRtcp = (packet: unknown) => {
        for (const recipient of rtcpRecipients(router.ssrcTable, packet as RoutedRtcp)) recipient.handleRtcpPacket(packet);
      };
      router.__byMediaSsrc = true;
    }
    return createDtlsTransport.apply(this, args);
  };
  peerConnectionProto.__rtcpByMediaSsrc = true;
}
