import { Connection, RTCDtlsTransport } from "werift";

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

const dtlsProto = RTCDtlsTransport.prototype as unknown as { start: () => Promise<void>; __srtpOverride?: boolean; srtpProfiles: number[] };
if (!dtlsProto.__srtpOverride) {
  const start = dtlsProto.start;
  dtlsProto.start = function (this: { srtpProfiles: number[] }) {
    if (srtpProfileOverride) this.srtpProfiles = [...srtpProfileOverride];
    return start.call(this);
  };
  dtlsProto.__srtpOverride = true;
}
