import { createPrivateKey, createPublicKey, createSign, diffieHellman, generateKeyPairSync, type KeyObject } from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Connection, DtlsClient, RTCDtlsTransport, isDtls } from "werift";

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
const SIGNING_KEYS_MAX = 8;
const signingKeys = new Map<string, KeyObject>();

if (!fidm.PrivateKey.prototype.__cachedKey) {
  const sign = fidm.PrivateKey.prototype.sign;
  fidm.PrivateKey.prototype.sign = function (this: FidmPrivateKey, data: Buffer, hashAlgorithm: string): Buffer {
    // Ed25519/Ed448 keys have their own signers in @fidm/x509: leave those alone.
    if (fidm.PrivateKey._signers[this.oid] != null) return sign.call(this, data, hashAlgorithm);
    const pem = String(this.toPEM());
    let key = signingKeys.get(pem);
    if (!key) {
      key = createPrivateKey(pem);
      if (signingKeys.size >= SIGNING_KEYS_MAX) signingKeys.delete(signingKeys.keys().next().value!);
      signingKeys.set(pem, key);
    }
    return createSign(hashAlgorithm).update(data).sign(key);
  };
  fidm.PrivateKey.prototype.__cachedKey = true;
}
