import { createHmac, timingSafeEqual } from "node:crypto";
import { Connection } from "werift";
import { transportCounters } from "./transport-counters.js";

// ICE-lite (RFC 8445 §2.5) on the node's offering PeerConnections, as mediasoup and Janus's lite
// mode do for a server with a reachable address: the node advertises `a=ice-lite`, is always the
// controlled agent, answers the client's connectivity checks and sends none of its own — no
// check scheduling loop, no check retransmissions, no consent checks (werift's lite paths:
// Connection.connect waits for a USE-CANDIDATE check, checkIncoming nominates that pair,
// queryConsent does nothing). Only the offering side may be lite: two lite agents cannot connect,
// so the answering (pulling) side of a cluster relay leg stays full ICE (sfu/peer.ts).
//
// What werift's lite mode leaves open, done here:
// - Authentication. werift does not check the MESSAGE-INTEGRITY of incoming requests; a full
//   agent only validates a pair by its own integrity-checked check, a lite agent nominates on the
//   peer's request alone. A request to a lite connection must carry a MESSAGE-INTEGRITY made with
//   the local password of its USERNAME's ufrag (RFC 8445 §7.3, RFC 5389 §10.1.2), else it is
//   dropped unanswered (`ice_unauthenticated_requests`).
// - Valid pairs. werift's lite agent leaves every pair but the nominated one "waiting"; a pair
//   whose authenticated request was answered is marked succeeded, so the data filter
//   (werift-patches.ts acceptsDataFrom) takes media from any pair the client validated (Chrome on
//   a two-address host nominates one pair and may send from another).
// - Re-nomination. werift keeps the first nominated pair; a later signed USE-CANDIDATE on another
//   pair (the client selected it, e.g. after a network change) moves the nominated pair there.
// - Liveness. A full agent ends a vanished peer when its consent checks go unanswered (RFC 7675,
//   30 s). A lite agent sends none; instead the client, the controlling agent, sends consent
//   checks every 4–6 s (RFC 7675 §5.1; Chrome, Firefox, werift), and a lite connection that has
//   received no authenticated request for `silenceTimeoutMs` is set "failed" — the same state
//   werift's consent expiry sets, so the PeerConnection fails and signaling/session.ts ends the
//   connection (PEER-CONNECTION-FAILED). 30 s by default: RFC 7675's consent lifetime, so a client
//   is dropped no sooner than a full agent would have dropped it (5–7 missed consent checks
//   rather than one or two lost to a burst of loss or a busy tab). One sweep timer per process.

export const DEFAULT_ICE_SILENCE_TIMEOUT_MS = 30_000;

const settings = { silenceTimeoutMs: DEFAULT_ICE_SILENCE_TIMEOUT_MS };

/**
 * Process-wide (one sweep for every lite connection of the process), like the fast path
 * (configureFastPath): the media node sets it from its config. Whether a PeerConnection is lite
 * is per Peer (sfu/peer.ts, config iceLite).
 */
export function configureIceSilenceTimeout(ms: number): void {
  settings.silenceTimeoutMs = ms;
}

/** Whether a lite connection last heard from its client at `lastHeardAt` has been silent too long at `now`. */
export function clientSilent(lastHeardAt: number, now: number, silenceTimeoutMs: number): boolean {
  return now - lastHeardAt > silenceTimeoutMs;
}

/** How often the sweep looks: a quarter of the timeout, between 250 ms and 5 s (a connection fails at most that late). */
export function sweepIntervalMs(silenceTimeoutMs: number): number {
  return Math.min(5_000, Math.max(250, Math.floor(silenceTimeoutMs / 4)));
}

const STUN_HEADER_BYTES = 20;
const STUN_ATTR_MESSAGE_INTEGRITY = 0x0008;
const MESSAGE_INTEGRITY_BYTES = 20;

/**
 * Whether the STUN message `data` carries a MESSAGE-INTEGRITY attribute that is the HMAC-SHA1,
 * under `key`, of the message up to that attribute with the header length covering it (RFC 5389
 * §15.4). Reads within the buffer and the message length only; false for anything malformed.
 */
export function stunIntegrityValid(data: Buffer, key: Buffer): boolean {
  if (data.length < STUN_HEADER_BYTES) return false;
  const end = Math.min(data.length, STUN_HEADER_BYTES + data.readUInt16BE(2));
  let pos = STUN_HEADER_BYTES;
  while (pos + 4 <= end) {
    const type = data.readUInt16BE(pos);
    const length = data.readUInt16BE(pos + 2);
    if (pos + 4 + length > end) return false;
    if (type === STUN_ATTR_MESSAGE_INTEGRITY) {
      if (length !== MESSAGE_INTEGRITY_BYTES) return false;
      const hmac = createHmac("sha1", key);
      const header = Buffer.from(data.subarray(0, 4));
      header.writeUInt16BE(pos - STUN_HEADER_BYTES + 4 + MESSAGE_INTEGRITY_BYTES, 2);
      hmac.update(header).update(data.subarray(4, pos));
      return timingSafeEqual(hmac.digest(), data.subarray(pos + 4, pos + 4 + MESSAGE_INTEGRITY_BYTES));
    }
    pos += 4 + ((length + 3) & ~3);
  }
  return false;
}

// ---- werift hooks ------------------------------------------------------------------------------

const PAIR_SUCCEEDED = 3; // werift's CandidatePairState.SUCCEEDED

interface StunMessageLike {
  getAttributeValue(name: string): unknown;
}

interface LitePair {
  protocol: unknown;
  remoteAddr: [string, number];
  state: number;
  nominated: boolean;
  updateState(state: number): void;
}

interface LiteConnection {
  iceLite?: boolean;
  state: string;
  localPassword: string;
  userHistory: Record<string, string>;
  checkList: LitePair[];
  nominated?: LitePair;
  ensureProtocol(protocol: unknown): void;
  connect(): Promise<void>;
  checkIncoming(message: unknown, addr: [string, number], protocol: unknown): void;
  setState(state: string): void;
  /** performance.now() of the last authenticated request (lite connections). */
  __heardAt?: number;
}

interface RequestEvent {
  execute(message: StunMessageLike, addr: [string, number], data: Buffer): void;
}

interface ProtocolLike {
  onRequestReceived: RequestEvent;
  __liteGuarded?: boolean;
}

/** The local password a request is checked against: its USERNAME's first part's, as werift answers with. */
function passwordOf(connection: LiteConnection, message: StunMessageLike): string | undefined {
  const username = message.getAttributeValue("USERNAME");
  if (typeof username !== "string") return undefined;
  const colon = username.indexOf(":");
  const ufrag = colon < 0 ? username : username.slice(0, colon);
  return connection.userHistory[ufrag];
}

const watched = new Set<LiteConnection>();
let sweepTimer: NodeJS.Timeout | undefined;

function watch(connection: LiteConnection): void {
  connection.__heardAt = performance.now();
  watched.add(connection);
  if (sweepTimer === undefined) {
    sweepTimer = setInterval(sweep, sweepIntervalMs(settings.silenceTimeoutMs));
    sweepTimer.unref();
  }
}

function sweep(): void {
  const now = performance.now();
  for (const connection of watched) {
    if (connection.state === "closed" || connection.state === "failed") {
      watched.delete(connection);
    } else if (clientSilent(connection.__heardAt ?? now, now, settings.silenceTimeoutMs)) {
      watched.delete(connection);
      transportCounters.iceSilentConnections++;
      connection.setState("failed");
    }
  }
  if (watched.size === 0 && sweepTimer !== undefined) {
    clearInterval(sweepTimer);
    sweepTimer = undefined;
  }
}

/** Lite connections being watched for silence (tests). */
export function watchedLiteConnections(): number {
  return watched.size;
}

const connectionProto = Connection.prototype as unknown as LiteConnection & { __iceLite?: boolean };
if (!connectionProto.__iceLite) {
  const ensureProtocol = connectionProto.ensureProtocol;
  connectionProto.ensureProtocol = function (this: LiteConnection, protocol: unknown) {
    const result = ensureProtocol.call(this, protocol);
    const p = protocol as ProtocolLike;
    if (this.iceLite && !p.__liteGuarded) {
      p.__liteGuarded = true;
      const event = p.onRequestReceived;
      const execute = event.execute.bind(event);
      event.execute = (message, addr, data) => {
        const password = passwordOf(this, message);
        if (password === undefined || !stunIntegrityValid(data, Buffer.from(password, "utf8"))) {
          transportCounters.iceUnauthenticatedRequests++;
          return;
        }
        this.__heardAt = performance.now();
        execute(message, addr, data);
      };
    }
    return result;
  };
  const connect = connectionProto.connect;
  connectionProto.connect = function (this: LiteConnection) {
    // Watched from the start: a client that never completes ICE is failed after the same silence.
    if (this.iceLite) watch(this);
    return connect.call(this);
  };
  const checkIncoming = connectionProto.checkIncoming;
  connectionProto.checkIncoming = function (this: LiteConnection, message: unknown, addr: [string, number], protocol: unknown) {
    checkIncoming.call(this, message, addr, protocol);
    if (!this.iceLite) return;
    for (const pair of this.checkList) {
      if (pair.protocol === protocol && pair.remoteAddr[1] === addr[1] && pair.remoteAddr[0] === addr[0]) {
        if (pair.state !== PAIR_SUCCEEDED) pair.updateState(PAIR_SUCCEEDED);
        // The controlling client nominates again when it selects another pair (libwebrtc's
        // semi-aggressive nomination toward a lite peer puts USE-CANDIDATE on its selected pair
        // only; a network change moves it): follow it, as mediasoup does. werift keeps the first
        // nominated pair, and would go on sending to an address the client may have dropped.
        const nominated = this.nominated;
        if (nominated !== undefined && nominated !== pair && (message as { attributesKeys: string[] }).attributesKeys.includes("USE-CANDIDATE")) {
          pair.nominated = true;
          this.nominated = pair;
          transportCounters.iceLiteRenominations++;
        }
        break;
      }
    }
  };
  connectionProto.__iceLite = true;
}
