import type { RTCPeerConnection } from "werift";

// Whether a connection's media goes through TURN, seen from the node: the remote candidate of
// the selected ICE pair is the client's relay candidate. The client→TURN transport is not in
// the candidate itself; libwebrtc (every Sora SDK) encodes it in the top byte of the relay
// candidate's priority (its type preference): TLS 0, TCP 1, UDP 2 (3 in current Chrome,
// measured), which is what we read. Other stacks may not follow it; they then count as TCP.

export type TurnTransport = "udp" | "tcp";

interface IceCandidateLike {
  type: string;
  host: string;
  port: number;
  priority: number;
}

/** werift's ICE agent (RTCIceTransport.connection): the nominated pair and the remote candidates. */
interface IceAgentLike {
  nominated?: { remoteCandidate: IceCandidateLike; remoteAddr: readonly [string, number] };
  remoteCandidates: IceCandidateLike[];
}

/** The selected pair's remote end as the node sees it (for logs). */
export function selectedRemote(pc: RTCPeerConnection): { type: string; address: string; priority: number } | undefined {
  const agent = pc.iceTransports[0]?.connection as unknown as IceAgentLike | undefined;
  const pair = agent?.nominated;
  if (!pair) return undefined;
  const [host, port] = pair.remoteAddr;
  const relay = agent!.remoteCandidates.find((c) => c.type === "relay" && c.host === host && c.port === port);
  return { type: relay?.type ?? pair.remoteCandidate.type, address: `${host}:${port}`, priority: (relay ?? pair.remoteCandidate).priority };
}

/** undefined = not relayed (or no pair selected yet). */
export function relayTransportOf(pc: RTCPeerConnection): TurnTransport | undefined {
  const agent = pc.iceTransports[0]?.connection as unknown as IceAgentLike | undefined;
  const pair = agent?.nominated;
  if (!agent || !pair) return undefined;
  let remote = pair.remoteCandidate;
  if (remote.type === "prflx") {
    // The check through TURN can arrive before the trickled relay candidate; match it by address.
    const [host, port] = pair.remoteAddr;
    remote = agent.remoteCandidates.find((c) => c.type === "relay" && c.host === host && c.port === port) ?? remote;
  }
  if (remote.type !== "relay") return undefined;
  return transportFromPriority(remote.priority);
}

export function transportFromPriority(priority: number): TurnTransport {
  return priority >>> 24 >= 2 ? "udp" : "tcp";
}
