import type { Socket } from "node:dgram";
import type { RTCDtlsTransport } from "werift";
import { rtpHeaderCheck, rtpPaddingValid } from "../rtp/packet-validation.js";
import { absSendTime } from "../rtp/rtp-header.js";
import { SRTP_AUTH_TAG_LENGTH, SRTP_REPLAYED, SrtpContext } from "../rtp/srtp.js";
import { datagramSocketFd, nativeFastPath, RTP_ROW_FD, RTP_ROW_MAX_MID, RTP_ROW_WORDS, sockaddrIn, writeRtpRow, type NativeFastPath } from "./native-fastpath.js";
import { transportCounters } from "./transport-counters.js";

// Fast media I/O under a werift PeerConnection. werift keeps ICE (connectivity checks, consent),
// DTLS (handshake, keys), SCTP and RTCP; RTP itself bypasses werift's per-packet chain (double
// header parse, clones, async sends with a DNS-lookup tick, an async iterator per Event):
// - outgoing: header written straight into a slab buffer, SRTP-protected in place by our
//   context, handed to the ICE pair's UDP socket;
// - incoming: the nominated pair's UdpTransport.onData is wrapped; SRTP packets of SSRCs a
//   handler has claimed are authenticated/decrypted in place and given to it as a Buffer view;
//   everything else (STUN, DTLS, RTCP, unclaimed SSRCs) goes to werift unchanged. Only datagrams
//   from the nominated pair's remote address are taken; others go to werift, whose StunProtocol
//   drops non-STUN data from foreign addresses (werift-patches.ts). A decrypted packet whose
//   header or padding is malformed is dropped and counted before anything parses it.
// Only AES_CM_128_HMAC_SHA1_80 is handled; the media node restricts DTLS-SRTP to it when the
// fast path is on (see preferFastSrtpProfile). With any other profile `of()` returns undefined
// and callers keep werift's path.

export const SRTP_PROFILE_AES128_CM_HMAC_SHA1_80 = 1;

/** Handler for claimed incoming RTP: buf[0, length) is the decrypted packet, header `headerLength` bytes. */
export type RtpSink = (buf: Buffer, length: number, headerLength: number) => void;

interface SrtpKeys {
  localMasterKey: Buffer;
  localMasterSalt: Buffer;
  remoteMasterKey: Buffer;
  remoteMasterSalt: Buffer;
}

interface NominatedPair {
  protocol: { transport: { socket: Socket; closed: boolean; onData: (data: Buffer, addr: [string, number]) => void } };
  remoteAddr: [string, number];
}

interface IceConnectionLike {
  nominated?: NominatedPair;
  state: string;
}

const SLAB_BYTES = 256 * 1024;
const SLAB_COUNT = 16;

/**
 * Send buffers carved out of a ring of slabs (4 MiB). dgram hands a datagram to the kernel
 * synchronously unless the socket is congested; only then does libuv keep a reference until the
 * send completes. A region is reused after 4 MiB of further sends (≈150 ms at 25 k pps), far
 * longer than such a stall, and reusing warm memory avoids fresh pages and GC of a new buffer per
 * packet.
 */
class SendSlab {
  private readonly slabs = Array.from({ length: SLAB_COUNT }, () => Buffer.allocUnsafeSlow(SLAB_BYTES));
  private index = 0;
  private slab = this.slabs[0]!;
  private offset = 0;

  take(bytes: number): Buffer {
    if (this.offset + bytes > SLAB_BYTES) {
      this.index = (this.index + 1) % SLAB_COUNT;
      this.slab = this.slabs[this.index]!;
      this.offset = 0;
    }
    const b = this.slab.subarray(this.offset, this.offset + bytes);
    this.offset = (this.offset + bytes + 7) & ~7; // 8-byte aligned starts keep the word-wise XOR path
    return b;
  }
}

const slab = new SendSlab();
const transports = new WeakMap<RTCDtlsTransport, FastTransport | null>();

/** Node-wide counters, read by /metrics. */
export const fastCounters = { rtpSent: 0, rtpReceived: 0, srtpAuthFailures: 0, srtpReplays: 0, sendDrops: 0 };

/** Rows per batch before it is sent at once (a fan-out to more subscribers spans batches). */
const ROW_CAPACITY = 1024;

/**
 * Batched sends (native addon). Packets are queued during one event-loop callback (one incoming
 * packet fans out to every subscriber in it) and handed to the kernel together by a microtask,
 * one sendmmsg per socket, instead of one dgram.send (JS argument checks, a libuv request, one
 * sendmsg) each. Two kinds of entries:
 * - rows (queueRtp, the subscribers' legs): the packet is described, not built: its header
 *   fields, ROC, destination and payload go into a row of an Int32Array, and the addon builds,
 *   protects and sends every row in one call at the flush (no per-packet buffer, header write,
 *   payload copy or N-API crossing in JS);
 * - prebuilt SRTP datagrams (queue, FastTransport.sendRtp), slab regions referenced until the flush.
 */
class SendBatch {
  private scheduled = false;
  /** Sockets with packets in this batch and the descriptor each had then (a socket may repeat). */
  private readonly sockets: Socket[] = [];
  private readonly socketFds: number[] = [];
  /** The queued buffers, referenced until the flush (the addon holds only their addresses). */
  private readonly buffers: Buffer[] = [];
  private readonly rowWords = new Int32Array(ROW_CAPACITY * RTP_ROW_WORDS);
  private readonly rowBytes = new Uint8Array(this.rowWords.buffer);
  private rowCount = 0;
  /**
   * Per row: its SRTP key handle; the payloads the rows copy (a fan-out's rows share one). Fixed
   * length, written by index (truncating them after each batch would regrow them in the next);
   * entries past this batch's are stale and never referenced by a row.
   */
  private readonly keys: object[] = new Array<object>(ROW_CAPACITY);
  private readonly payloads: Uint8Array[] = new Array<Uint8Array>(ROW_CAPACITY);
  private payloadCount = 0;
  private lastPayload?: Uint8Array;
  private rowDrops = 0;
  /** The rows' abs-send-time, taken at the batch's first row. */
  private ast = 0;
  private queueDrops = 0;
  private readonly flush = (): void => {
    this.scheduled = false;
    const sockets = this.sockets;
    for (let i = 0; i < sockets.length; i++) {
      // Closed since (or rebound): its number may already name another descriptor, even a TCP one.
      if (datagramSocketFd(sockets[i]!) !== this.socketFds[i]) this.discard(this.socketFds[i]!);
    }
    sockets.length = 0;
    this.socketFds.length = 0;
    if (this.buffers.length > 0) {
      this.queueDrops = this.native.flushSends();
      this.buffers.length = 0;
    }
    this.sendRows();
    fastCounters.sendDrops = this.queueDrops + this.rowDrops;
  };

  constructor(private readonly native: NativeFastPath) {}

  private schedule(socket: Socket, fd: number): void {
    const n = this.sockets.length;
    if (n === 0 || this.sockets[n - 1] !== socket) {
      this.sockets.push(socket);
      this.socketFds.push(fd);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private discard(fd: number): void {
    this.native.discardSends(fd);
    const w = this.rowWords;
    for (let r = 0; r < this.rowCount; r++) if (w[r * RTP_ROW_WORDS + RTP_ROW_FD] === fd) w[r * RTP_ROW_WORDS + RTP_ROW_FD] = -1;
  }

  private sendRows(): void {
    if (this.rowCount === 0) return;
    this.rowDrops = this.native.sendRtpRows(this.rowWords, this.rowCount, this.keys, this.payloads);
    this.rowCount = 0;
    this.payloadCount = 0;
    this.lastPayload = undefined;
  }

  queue(socket: Socket, fd: number, buf: Buffer, length: number, sockaddr: Buffer): void {
    this.schedule(socket, fd);
    this.buffers.push(buf);
    this.native.queueSend(fd, buf, length, sockaddr);
  }

  /** Queues one RTP packet to be built by the addon (see the class comment); `addr`: the 4 address bytes. */
  queueRtp(
    socket: Socket,
    fd: number,
    addr: Uint8Array,
    port: number,
    key: object,
    roc: number,
    payloadType: number,
    marker: boolean,
    sequenceNumber: number,
    timestamp: number,
    ssrc: number,
    midId: number,
    mid: Uint8Array,
    absSendTimeId: number,
    payload: Uint8Array,
    vp8: number,
  ): void {
    if (this.rowCount === ROW_CAPACITY) this.flush();
    this.schedule(socket, fd);
    // One abs-send-time for the batch: its packets leave together, within the same millisecond or so.
    if (this.rowCount === 0) this.ast = absSendTime(Date.now());
    const r = this.rowCount++;
    this.keys[r] = key;
    if (payload !== this.lastPayload) {
      this.payloads[this.payloadCount++] = payload;
      this.lastPayload = payload;
    }
    writeRtpRow(this.rowWords, this.rowBytes, r, r, fd, this.payloadCount - 1, addr, port, roc, payloadType, marker, sequenceNumber, timestamp, ssrc, midId, mid, absSendTimeId, this.ast, vp8);
  }
}

const nativeSends = nativeFastPath();
const batch = nativeSends !== undefined ? new SendBatch(nativeSends) : undefined;

/** The OS descriptor of a bound IPv4 dgram socket, or -1 where there is none (then dgram sends). */
function socketFd(socket: Socket): number {
  if ((socket as unknown as { type?: string }).type !== "udp4") return -1; // the queue carries IPv4 addresses only
  return datagramSocketFd(socket);
}

export class FastTransport {
  private readonly outbound: SrtpContext;
  private readonly inbound: SrtpContext;
  private readonly sinks = new Map<number, RtpSink>();
  private defaultSink?: RtpSink;
  private peekBytes = 0;
  private tappedTransport?: NominatedPair["protocol"]["transport"];
  /** Batched-send target of the pair last sent on (fd -1: send through dgram). */
  private sendPair?: NominatedPair;
  private sendFd = -1;
  private sendAddr?: Buffer;
  /** The pair's IPv4 address bytes and port, for rows (queueRtp). */
  private sendIp?: Uint8Array;
  private sendPort = 0;
  private weriftOnData?: (data: Buffer, addr: [string, number]) => void;

  private constructor(
    private readonly dtls: RTCDtlsTransport,
    keys: SrtpKeys,
  ) {
    this.outbound = new SrtpContext(keys.localMasterKey, keys.localMasterSalt);
    this.inbound = new SrtpContext(keys.remoteMasterKey, keys.remoteMasterSalt);
  }

  /**
   * The fast transport of a connected DTLS transport, or undefined when it cannot be used
   * (not connected yet, another SRTP profile, no UDP pair). Cached per transport.
   */
  static of(dtls: RTCDtlsTransport): FastTransport | undefined {
    const cached = transports.get(dtls);
    if (cached !== undefined) return cached ?? undefined;
    if (dtls.state !== "connected" || !dtls.srtpStarted) return undefined;
    const config = (dtls.srtp as unknown as { config?: { profile: number; keys: SrtpKeys } } | undefined)?.config;
    const pair = (dtls.iceTransport.connection as unknown as IceConnectionLike).nominated;
    const usable = config !== undefined && config.profile === SRTP_PROFILE_AES128_CM_HMAC_SHA1_80 && pair?.protocol?.transport?.socket !== undefined;
    const fast = usable ? new FastTransport(dtls, config.keys) : null;
    transports.set(dtls, fast);
    return fast ?? undefined;
  }

  /**
   * Raises the kernel receive buffer of a DTLS transport's nominated ICE pair's UDP socket (a relay
   * leg's socket carries many streams; the 208 KiB default overflows when the node's loop stalls
   * briefly). False when there is no nominated UDP pair yet.
   */
  static setReceiveBufferSize(dtls: RTCDtlsTransport, bytes: number): boolean {
    const socket = (dtls.iceTransport.connection as unknown as IceConnectionLike).nominated?.protocol?.transport?.socket;
    if (socket === undefined) return false;
    try {
      if (socket.getRecvBufferSize() < bytes) socket.setRecvBufferSize(bytes);
      return true;
    } catch {
      return false; // a closed socket
    }
  }

  private pair(): NominatedPair | undefined {
    const connection = this.dtls.iceTransport.connection as unknown as IceConnectionLike;
    if (connection.state === "closed" || connection.state === "failed" || this.dtls.state !== "connected") return undefined;
    return connection.nominated;
  }

  /** A buffer for one outgoing packet of up to `maxRtpBytes` (room for the SRTP tag included). */
  allocate(maxRtpBytes: number): Buffer {
    return slab.take(maxRtpBytes + SRTP_AUTH_TAG_LENGTH);
  }

  /** Protects buf[0, length) (header `headerLength` bytes, buffer from allocate()) and sends it. */
  sendRtp(buf: Buffer, headerLength: number, length: number): boolean {
    const pair = this.pair();
    if (pair === undefined) return false;
    const transport = pair.protocol.transport;
    if (transport.closed) return false;
    const n = this.outbound.protectRtp(buf, headerLength, length);
    if (n < 0) return false;
    if (pair !== this.sendPair) this.choosePath(pair);
    if (this.sendFd >= 0) batch!.queue(transport.socket, this.sendFd, buf, n, this.sendAddr!);
    else {
      const remote = pair.remoteAddr;
      transport.socket.send(n === buf.length ? buf : buf.subarray(0, n), remote[1], remote[0]);
    }
    fastCounters.rtpSent++;
    return true;
  }

  /** Batched native sends when the addon is there, the socket has a descriptor and the peer is IPv4; dgram otherwise. */
  private choosePath(pair: NominatedPair): void {
    this.sendPair = pair;
    this.sendFd = -1;
    this.sendAddr = undefined;
    this.sendIp = undefined;
    if (batch === undefined) return;
    const remote = pair.remoteAddr; // a getter building a new array: read once per pair
    const sockaddr = sockaddrIn(remote[0], remote[1]);
    const fd = socketFd(pair.protocol.transport.socket);
    if (sockaddr === undefined || fd < 0) return;
    this.sendFd = fd;
    this.sendAddr = sockaddr;
    this.sendIp = sockaddr.subarray(4, 8);
    this.sendPort = remote[1];
  }

  /**
   * Queues one RTP packet for the addon to build, protect and send at the batch's flush
   * (SendBatch.queueRtp): header fields as rtp/rtp-header.ts writeRtpHeader takes them (the
   * abs-send-time is the batch's),
   * `payload` copied (never changed), `vp8` the munger's packed rewrite (vp8Bits) or 0. False
   * when this transport cannot take it that way (not connected, no addon, a dgram-only pair, a
   * MID longer than a row holds): nothing was queued, the caller builds the packet itself.
   */
  queueRtp(
    payloadType: number,
    marker: boolean,
    sequenceNumber: number,
    timestamp: number,
    ssrc: number,
    midId: number,
    mid: Uint8Array,
    absSendTimeId: number,
    payload: Uint8Array,
    vp8: number,
  ): boolean {
    const key = this.outbound.nativeKey;
    if (key === undefined || mid.length > RTP_ROW_MAX_MID) return false;
    const pair = this.pair();
    if (pair === undefined) return false;
    const transport = pair.protocol.transport;
    if (transport.closed) return false;
    if (pair !== this.sendPair) this.choosePath(pair);
    if (this.sendFd < 0) return false;
    ssrc >>>= 0;
    const roc = this.outbound.outboundRoc(ssrc, sequenceNumber);
    batch!.queueRtp(transport.socket, this.sendFd, this.sendIp!, this.sendPort, key, roc, payloadType, marker, sequenceNumber, timestamp, ssrc, midId, mid, absSendTimeId, payload, vp8);
    fastCounters.rtpSent++;
    return true;
  }

  /**
   * Takes over incoming RTP of `ssrc`: from now on its packets are decrypted here and given to
   * `sink` instead of werift. `rolloverCounter` continues werift's SRTP state for the SSRC.
   */
  claim(ssrc: number, sink: RtpSink): boolean {
    if (!this.tap()) return false;
    ssrc >>>= 0;
    const state = (this.dtls.srtp as unknown as { remoteContext?: { srtpSSRCStates?: Record<number, { rolloverCounter: number; lastSequenceNumber: number }> } })
      .remoteContext?.srtpSSRCStates?.[ssrc];
    if (state) this.inbound.setRolloverCounter(ssrc, state.rolloverCounter, state.lastSequenceNumber);
    this.sinks.set(ssrc, sink);
    return true;
  }

  /**
   * Load-test receivers: every RTP packet of unclaimed SSRCs goes to `sink` WITHOUT
   * authentication, only its first `peekBytes` payload bytes decrypted (enough for a timestamp).
   */
  claimAll(sink: RtpSink, peekBytes: number): boolean {
    if (!this.tap()) return false;
    this.defaultSink = sink;
    this.peekBytes = peekBytes;
    return true;
  }

  release(ssrc: number): void {
    this.sinks.delete(ssrc >>> 0);
  }

  private tap(): boolean {
    if (this.tappedTransport) return true;
    const pair = this.pair();
    const transport = pair?.protocol.transport;
    if (!transport) return false;
    const werift = transport.onData;
    this.tappedTransport = transport;
    this.weriftOnData = werift;
    const sinks = this.sinks;
    const inbound = this.inbound;
    const connection = this.dtls.iceTransport.connection as unknown as IceConnectionLike;
    let remotePair: NominatedPair | undefined;
    let remote: [string, number] = ["", 0];
    transport.onData = (data: Buffer, addr: [string, number]) => {
      if (connection.nominated !== remotePair) {
        remotePair = connection.nominated;
        remote = remotePair ? remotePair.remoteAddr : ["", 0]; // a getter building a new array: read once per pair
      }
      if (addr[1] !== remote[1] || addr[0] !== remote[0]) return werift(data, addr);
      const b0 = data[0]!;
      const pt = data[1]! & 0x7f;
      // RTP (RFC 7983: 128..191), not RTCP (RFC 5761: PT 64..95 with the marker bit).
      if (b0 >= 128 && b0 <= 191 && data.length >= 12 && !(pt >= 64 && pt <= 95)) {
        const sink = sinks.get(data.readUInt32BE(8));
        if (sink !== undefined) {
          // The header is in the clear: check it before spending an HMAC on the packet.
          const headerLength = rtpHeaderCheck(data, data.length - SRTP_AUTH_TAG_LENGTH);
          if (headerLength < 0) {
            transportCounters.rtpMalformed++;
            return;
          }
          const length = inbound.unprotectRtp(data, data.length);
          if (length < 0) {
            if (length === SRTP_REPLAYED) fastCounters.srtpReplays++;
            else fastCounters.srtpAuthFailures++;
            return;
          }
          if (!rtpPaddingValid(data, length, headerLength)) {
            transportCounters.rtpMalformed++;
            return;
          }
          fastCounters.rtpReceived++;
          sink(data, length, headerLength);
          return;
        }
        const all = this.defaultSink;
        if (all !== undefined) {
          const length = data.length - SRTP_AUTH_TAG_LENGTH;
          const headerLength = rtpHeaderCheck(data, length);
          if (headerLength < 0) return;
          inbound.peekPayload(data, headerLength, Math.min(this.peekBytes, length - headerLength));
          all(data, length, headerLength);
          return;
        }
      }
      werift(data, addr);
    };
    return true;
  }

  /** Gives incoming traffic back to werift (connection teardown). */
  close(): void {
    this.sinks.clear();
    this.defaultSink = undefined;
    if (this.tappedTransport && this.weriftOnData) this.tappedTransport.onData = this.weriftOnData;
    this.tappedTransport = undefined;
  }
}
