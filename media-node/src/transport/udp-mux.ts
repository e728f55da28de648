import { randomBytes } from "node:crypto";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIP } from "node:net";
import { transportCounters } from "./transport-counters.js";

// All ICE traffic of a node on one UDP socket (one port), as mediasoup's WebRtcServer and
// LiveKit's single-port mode do: a firewall needs one media rule instead of an ephemeral range.
// The node owns one UdpMux; each ICE connection reserves an entry under its local ufrag and
// releases it when it closes (ice-sockets.ts wires werift to it). A datagram is routed
// - STUN with a USERNAME (requests; RFC 8445 §7.2.2: "<receiver ufrag>:<sender ufrag>") by its
//   first part, the local ufrag;
// - STUN without one (responses to our checks) to the entry at its source address whose check
//   it answers (transaction id);
// - everything else (DTLS, SRTP, SRTCP) to the entry at its source address, an address learned
//   when that entry sent to it (its checks and responses go to the peer's candidates and to
//   peer-reflexive sources); the entry's own filter (werift-patches.ts) then takes data only from
//   validated pairs;
// anything else is dropped and counted (transportCounters.udpMuxDropped).

/** What the ICE connection behind an entry answers for routing (set by ice-sockets.ts). */
export interface MuxEntryOwner {
  /** Whether non-STUN data from `addr` belongs to this connection (a validated pair, see acceptsDataFrom). */
  acceptsData(addr: [string, number]): boolean;
  /** Whether this connection has a STUN transaction `transactionIdHex` in flight. */
  hasTransaction(transactionIdHex: string): boolean;
}

/** Remote addresses one entry may have learned (its peer's candidates plus peer-reflexive ones). */
const MAX_ADDRESSES_PER_ENTRY = 32;
/** Local ufrags one entry keeps after ICE restarts (werift still answers checks for old ones). */
const MAX_UFRAGS_PER_ENTRY = 4;

const STUN_HEADER_BYTES = 20;
const STUN_ATTR_USERNAME = 0x0006;
const MAGIC_COOKIE = 0x2112a442;

/**
 * The receiver's ufrag of a STUN message's USERNAME ("<receiver>:<sender>", RFC 8445 §7.2.2),
 * or undefined when the message has no USERNAME. Reads within the buffer and the message length only.
 */
export function stunUsernameLocalPart(data: Buffer): string | undefined {
  if (data.length < STUN_HEADER_BYTES || data[0]! >= 4 || data.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;
  const end = Math.min(data.length, STUN_HEADER_BYTES + data.readUInt16BE(2));
  let pos = STUN_HEADER_BYTES;
  while (pos + 4 <= end) {
    const type = data.readUInt16BE(pos);
    const length = data.readUInt16BE(pos + 2);
    if (pos + 4 + length > end) return undefined;
    if (type === STUN_ATTR_USERNAME) {
      const value = data.subarray(pos + 4, pos + 4 + length);
      const colon = value.indexOf(0x3a);
      return (colon < 0 ? value : value.subarray(0, colon)).toString("latin1");
    }
    pos += 4 + ((length + 3) & ~3); // attributes are padded to 4 bytes (RFC 5389 §15)
  }
  return undefined;
}

/**
 * One ICE connection's view of the shared socket. It has the shape of werift's UdpTransport
 * (`socket`, `onData`, `send`, `address`, `closed`, `close`), so werift's StunProtocol and the
 * fast path (fast-transport.ts: `transport.socket.send`, a wrapped `transport.onData`) use it
 * unchanged.
 */
export class MuxEntry {
  readonly type = "udp";
  closed = false;
  /** Set by the owner of the entry; called for every datagram routed here. */
  onData: (data: Buffer, addr: [string, number]) => void = () => undefined;
  owner?: MuxEntryOwner;
  /** Newest last. */
  readonly ufrags: string[] = [];
  /** Remote addresses routed here, as keys into the mux's address table. */
  readonly addresses: [string, number][] = [];

  constructor(private readonly mux: UdpMux) {}

  get socket(): Socket {
    return this.mux.socket;
  }

  get ufrag(): string {
    return this.ufrags[this.ufrags.length - 1]!;
  }

  /** What werift reads for its host candidate (StunProtocol.getExtraInfo). */
  get address(): { address: string; port: number; family: string } {
    return { address: this.mux.announcedAddress, port: this.mux.port, family: "IPv4" };
  }

  get port(): number {
    return this.mux.port;
  }

  get host(): string {
    return this.mux.announcedAddress;
  }

  readonly addressFamily = 4;

  send = (data: Buffer, addr: [string, number]): Promise<void> => {
    if (this.closed) return Promise.resolve();
    if (isIP(addr[0]) === 0) return Promise.reject(new Error(`udp mux: not an IP address: ${addr[0]}`));
    this.mux.learn(this, addr[0], addr[1]);
    return new Promise((resolve, reject) => this.mux.socket.send(data, addr[1], addr[0], (err) => (err ? reject(err) : resolve())));
  };

  close = (): Promise<void> => {
    this.mux.release(this);
    return Promise.resolve();
  };
}

export interface UdpMuxOptions {
  /** Address the socket binds (e.g. 0.0.0.0 or the private address behind 1:1 NAT). */
  bindAddress: string;
  /** 0 = any free port (tests). */
  port: number;
  /** Address put in host candidates; defaults to bindAddress. */
  announcedAddress?: string;
}

export class UdpMux {
  readonly socket: Socket;
  readonly announcedAddress: string;
  private readonly byUfrag = new Map<string, MuxEntry>();
  private readonly byAddress = new Map<string, Map<number, MuxEntry[]>>();
  private readonly entries = new Set<MuxEntry>();
  private closed = false;

  private constructor(socket: Socket, announcedAddress: string) {
    this.socket = socket;
    this.announcedAddress = announcedAddress;
    socket.on("message", (data, rinfo) => this.route(data, rinfo));
    // Send errors (ICMP unreachable etc.) surface here on some platforms: never fatal for the node.
    socket.on("error", () => undefined);
  }

  /** Binds the shared socket; rejects when the port is taken. */
  static async bind(options: UdpMuxOptions): Promise<UdpMux> {
    const announced = options.announcedAddress ?? options.bindAddress;
    if (announced === "0.0.0.0") throw new Error("udp mux bound on 0.0.0.0 needs an announced address");
    const socket = createSocket({ type: "udp4", recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ address: options.bindAddress, port: options.port }, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return new UdpMux(socket, announced);
  }

  private boundPort?: number;

  /** The bound port (kept: werift reads it for every candidate and STUN packet, and socket.address() is a syscall). */
  get port(): number {
    return (this.boundPort ??= this.socket.address().port);
  }

  /** Registered connections (tests check that closed connections leave none). */
  get size(): number {
    return this.entries.size;
  }

  /** Learned remote addresses over all entries. */
  get addressCount(): number {
    let n = 0;
    for (const ports of this.byAddress.values()) n += ports.size;
    return n;
  }

  /** A new entry under a fresh local ufrag unique on this mux. */
  reserve(): MuxEntry {
    if (this.closed) throw new Error("udp mux closed");
    const entry = new MuxEntry(this);
    this.entries.add(entry);
    this.addUfrag(entry);
    return entry;
  }

  /** Gives `entry` a new local ufrag (ICE restart), keeping a few old ones routable. */
  addUfrag(entry: MuxEntry): string {
    let ufrag: string;
    // 8 hex characters (RFC 8839 §5.4: 4..256 ice-chars): collisions are rare, and checked.
    do ufrag = randomBytes(4).toString("hex");
    while (this.byUfrag.has(ufrag));
    this.byUfrag.set(ufrag, entry);
    entry.ufrags.push(ufrag);
    if (entry.ufrags.length > MAX_UFRAGS_PER_ENTRY) this.byUfrag.delete(entry.ufrags.shift()!);
    return ufrag;
  }

  /** Routes datagrams from `ip:port` to `entry` (called when the entry sends there). */
  learn(entry: MuxEntry, ip: string, port: number): void {
    let ports = this.byAddress.get(ip);
    const list = ports?.get(port);
    if (list?.includes(entry)) return;
    if (entry.addresses.length >= MAX_ADDRESSES_PER_ENTRY) return;
    if (!ports) this.byAddress.set(ip, (ports = new Map()));
    if (list) list.push(entry);
    else ports.set(port, [entry]);
    entry.addresses.push([ip, port]);
  }

  release(entry: MuxEntry): void {
    if (!this.entries.delete(entry)) return;
    entry.closed = true;
    entry.onData = () => undefined;
    entry.owner = undefined;
    for (const ufrag of entry.ufrags) if (this.byUfrag.get(ufrag) === entry) this.byUfrag.delete(ufrag);
    for (const [ip, port] of entry.addresses) {
      const ports = this.byAddress.get(ip);
      const list = ports?.get(port);
      if (!ports || !list) continue;
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) ports.delete(port);
      if (ports.size === 0) this.byAddress.delete(ip);
    }
    entry.addresses.length = 0;
  }

  private route(data: Buffer, rinfo: RemoteInfo): void {
    const ip = rinfo.address;
    const port = rinfo.port;
    let entry: MuxEntry | undefined;
    const stun = data.length >= STUN_HEADER_BYTES && data[0]! < 4 && data.readUInt32BE(4) === MAGIC_COOKIE;
    if (stun) {
      const ufrag = stunUsernameLocalPart(data);
      if (ufrag !== undefined) entry = this.byUfrag.get(ufrag);
      else entry = this.byTransaction(ip, port, data);
    } else {
      const list = this.byAddress.get(ip)?.get(port);
      if (list !== undefined) entry = list.length === 1 ? list[0] : this.byData(list, ip, port);
    }
    if (entry === undefined) {
      transportCounters.udpMuxDropped++;
      return;
    }
    try {
      entry.onData(data, [ip, port]);
    } catch {
      // werift's UdpTransport swallows its listener's errors too: one connection's fault stays its own.
    }
  }

  private byTransaction(ip: string, port: number, data: Buffer): MuxEntry | undefined {
    const list = this.byAddress.get(ip)?.get(port);
    if (list === undefined) return undefined;
    const id = data.toString("hex", 8, 20);
    for (const entry of list) if (entry.owner?.hasTransaction(id)) return entry;
    return undefined;
  }

  private byData(list: MuxEntry[], ip: string, port: number): MuxEntry | undefined {
    const addr: [string, number] = [ip, port];
    for (const entry of list) if (entry.owner?.acceptsData(addr)) return entry;
    return undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of [...this.entries]) this.release(entry);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
