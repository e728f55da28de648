import { createSocket, type Socket } from "node:dgram";
import { isIP } from "node:net";
import * as werift from "werift";
import { Candidate, Connection, RTCPeerConnection, candidateFoundation, candidatePriority } from "werift";
import { acceptsDataFrom } from "./werift-patches.js";
import type { MuxEntry, UdpMux } from "./udp-mux.js";

// Where a media node's ICE connections put their host candidate (infra/node/README.md):
// - `mux`: every connection on the node's one shared UDP socket (udp-mux.ts), demultiplexed by
//   local ufrag / remote address; the candidate carries `announcedAddress` and the mux's port;
// - otherwise one socket per connection bound to `bindAddress`, on a port of `portRange` (or an
//   ephemeral one), its candidate carrying `announcedAddress` (1:1 NAT: bind the private
//   address, announce the public one, like mediasoup's `announcedAddress` / LiveKit's `node_ip`).
// werift 0.25 gathers a socket per interface address (plus `iceAdditionalHostAddresses`), each
// advertising that address, and picks range ports by bind-and-close probing (racy under
// concurrent joins); a PeerConnection given a plan with useIceSocketPlan() gathers exactly one
// host candidate as above instead.
// PeerConnections without a plan (load/test clients, warm-up) keep werift's gathering.

export interface IceSocketPlan {
  /** The node's shared ICE socket; when set, bindAddress/portRange are the mux's business. */
  mux?: UdpMux;
  /** Address a per-connection socket binds (0.0.0.0 or the private address). */
  bindAddress: string;
  /** Address placed in the host candidate. */
  announcedAddress: string;
  /** Per-connection sockets take a free port of [min, max] (inclusive). */
  portRange?: [number, number];
}

interface StunProtocolInternals {
  transport: unknown;
  localIp?: string;
  localCandidate?: unknown;
  transactions: Record<string, unknown>;
  datagramReceived(data: Buffer, addr: [string, number]): void;
  close(): Promise<void>;
}

interface ConnectionInternals {
  options: { useIpv4?: boolean; useIpv6?: boolean };
  localUsername: string;
  localPassword: string;
  userHistory: Record<string, string>;
  generation: number;
  protocols: StunProtocolInternals[];
  nominated?: never;
  checkList: never[];
  ensureProtocol(protocol: unknown): void;
  pairLocalProtocol(protocol: unknown): void;
  appendLocalCandidate(candidate: unknown): void;
  getCandidatePromises(addresses: string[], timeout?: number): Promise<unknown>[];
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** The plan of a node configured with udpPort / udpPortRange / announcedAddress (bind: iceAddresses[0] or 0.0.0.0). */
export function iceSocketPlan(
  config: { iceAddresses: string[]; udpPortRange?: [number, number]; announcedAddress?: string },
  mux?: UdpMux,
): IceSocketPlan {
  const bindAddress = config.iceAddresses[0] ?? "0.0.0.0";
  const announcedAddress = mux?.announcedAddress ?? config.announcedAddress ?? bindAddress;
  if (announcedAddress === "0.0.0.0") throw new Error("ICE sockets bound on 0.0.0.0 need an announced address (--announced-ip / announced_address)");
  return { ...(mux ? { mux } : {}), bindAddress, announcedAddress, ...(config.udpPortRange ? { portRange: config.udpPortRange } : {}) };
}

const StunProtocol = (werift as unknown as { StunProtocol: new () => StunProtocolInternals }).StunProtocol;

const peerPlans = new WeakMap<object, IceSocketPlan>();
const connectionPlans = new WeakMap<object, IceSocketPlan>();
const connectionEntries = new WeakMap<object, MuxEntry>();

/** Gives `pc`'s ICE transports (created from now on) this socket plan. Call right after construction. */
export function useIceSocketPlan(pc: RTCPeerConnection, plan: IceSocketPlan): void {
  peerPlans.set(pc, plan);
}

/** Sets a local ufrag the mux routes by, keeping werift's password lookup (userHistory) in step. */
function takeUfrag(connection: ConnectionInternals, ufrag: string): void {
  delete connection.userHistory[connection.localUsername];
  connection.localUsername = ufrag;
  connection.userHistory[ufrag] = connection.localPassword;
}

const pcProto = RTCPeerConnection.prototype as unknown as {
  createDtlsTransport: (...args: unknown[]) => { iceTransport: { connection: ConnectionInternals } };
  __iceSocketPlans?: boolean;
};
if (!pcProto.__iceSocketPlans) {
  const createDtlsTransport = pcProto.createDtlsTransport;
  pcProto.createDtlsTransport = function (this: object, ...args: unknown[]) {
    const dtls = createDtlsTransport.apply(this, args);
    const plan = peerPlans.get(this);
    if (plan) {
      const connection = dtls.iceTransport.connection;
      connectionPlans.set(connection, plan);
      // The planned candidate needs no interface addresses: without these werift's
      // gatherCandidates skips os.networkInterfaces() (≈ 0.1–0.5 ms per join) and hands
      // getCandidatePromises (below) an empty list it would ignore anyway.
      connection.options.useIpv4 = false;
      connection.options.useIpv6 = false;
      // The ufrag goes into the offer (createOffer), before gathering: reserve it now.
      if (plan.mux) {
        const entry = plan.mux.reserve();
        connectionEntries.set(connection, entry);
        takeUfrag(connection, entry.ufrag);
      }
    }
    return dtls;
  };
  pcProto.__iceSocketPlans = true;
}

const connectionProto = Connection.prototype as unknown as ConnectionInternals & { __iceSocketPlans?: boolean };
if (!connectionProto.__iceSocketPlans) {
  const getCandidatePromises = connectionProto.getCandidatePromises;
  connectionProto.getCandidatePromises = function (this: ConnectionInternals, addresses: string[], timeout?: number) {
    const plan = connectionPlans.get(this);
    if (!plan) return getCandidatePromises.call(this, addresses, timeout);
    if (this.protocols.some((p) => p.localCandidate !== undefined)) return [];
    return [gatherPlanned(this, plan)];
  };
  const restart = connectionProto.restart;
  connectionProto.restart = function (this: ConnectionInternals) {
    const result = restart.call(this);
    const entry = connectionEntries.get(this);
    const plan = connectionPlans.get(this);
    if (entry && plan?.mux && !entry.closed) {
      takeUfrag(this, plan.mux.addUfrag(entry));
      for (const protocol of this.protocols) {
        const candidate = protocol.localCandidate as { ufrag?: string } | undefined;
        if (candidate) candidate.ufrag = this.localUsername;
      }
    }
    return result;
  };
  const close = connectionProto.close;
  connectionProto.close = function (this: ConnectionInternals) {
    // A connection closed before it gathered has no protocol to release its entry.
    connectionEntries.get(this)?.close();
    return close.call(this);
  };
  connectionProto.__iceSocketPlans = true;
}

/** The one host candidate of a planned connection (werift's getCandidatePromises, one protocol). */
async function gatherPlanned(connection: ConnectionInternals, plan: IceSocketPlan): Promise<unknown> {
  const protocol = new StunProtocol();
  connection.ensureProtocol(protocol);
  const entry = connectionEntries.get(connection);
  let transport: MuxEntry | DedicatedSocket;
  if (entry) {
    if (entry.closed) return undefined;
    transport = entry;
    entry.owner = {
      acceptsData: (addr) => acceptsDataFrom(connection as never, protocol, addr),
      hasTransaction: (id) => protocol.transactions[id] !== undefined,
    };
  } else {
    transport = await DedicatedSocket.bind(plan.bindAddress, plan.portRange);
    if ((connection as unknown as { state: string }).state === "closed") {
      await transport.close(); // closed while binding: werift no longer knows this protocol
      return undefined;
    }
  }
  transport.onData = (data, addr) => protocol.datagramReceived(data, addr);
  protocol.transport = transport;
  protocol.localIp = plan.announcedAddress;
  connection.protocols.push(protocol);
  const address = plan.announcedAddress;
  const candidate = new Candidate(
    candidateFoundation("host", "udp", address),
    1,
    "udp",
    candidatePriority("host", { transport: "udp" } as never),
    address,
    transport.port,
    "host",
    undefined,
    undefined,
    undefined,
    connection.generation,
    connection.localUsername,
  );
  protocol.localCandidate = candidate;
  connection.pairLocalProtocol(protocol);
  connection.appendLocalCandidate(candidate);
  return candidate;
}

let nextRangeOffset = 0;

/** A connection's own UDP socket (no mux): werift's UdpTransport shape, bound without werift's racy findPort. */
class DedicatedSocket {
  readonly type = "udp";
  readonly addressFamily = 4;
  closed = false;
  onData: (data: Buffer, addr: [string, number]) => void = () => undefined;

  private constructor(readonly socket: Socket) {
    socket.on("message", (data, rinfo) => {
      try {
        this.onData(data, [rinfo.address, rinfo.port]);
      } catch {
        // as werift's UdpTransport: a listener's fault stays with its connection
      }
    });
    socket.on("error", () => undefined);
  }

  /** Binds a free port of `range` (tried from a rotating start so concurrent joins spread), else an ephemeral one. */
  static async bind(address: string, range?: [number, number]): Promise<DedicatedSocket> {
    if (!range) return new DedicatedSocket(await bindUdp(address, 0));
    const [min, max] = range;
    const size = max - min + 1;
    const start = nextRangeOffset++ % size;
    for (let i = 0; i < size; i++) {
      try {
        return new DedicatedSocket(await bindUdp(address, min + ((start + i) % size)));
      } catch {
        // taken: next port
      }
    }
    throw new Error(`no free UDP port in ${min}-${max}`);
  }

  get address(): { address: string; port: number; family: string } {
    return this.socket.address();
  }

  get port(): number {
    return this.socket.address().port;
  }

  send = (data: Buffer, addr: [string, number]): Promise<void> => {
    if (this.closed) return Promise.resolve();
    if (isIP(addr[0]) === 0) return Promise.reject(new Error(`not an IP address: ${addr[0]}`));
    return new Promise((resolve, reject) => this.socket.send(data, addr[1], addr[0], (err) => (err ? reject(err) : resolve())));
  };

  close = (): Promise<void> => {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  };
}

function bindUdp(address: string, port: number): Promise<Socket> {
  const socket = createSocket("udp4");
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once("error", fail);
    socket.bind({ address, port }, () => {
      socket.off("error", fail);
      resolve(socket);
    });
  });
}
