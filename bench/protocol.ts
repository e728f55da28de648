// Messages between bench/run.ts and its client processes (bench/client-worker.ts).

export interface ClientSpec {
  id: string;
  channelId: string;
  role: "sendrecv" | "sendonly" | "recvonly";
  /** Start this long after the join request (join storms). */
  delayMs?: number;
  publish?: { videoPps: number; videoSize: number; audioPps: number; audioSize: number };
  /** Relay scenarios: index of the node (in the join request's `urls`) this client connects to. */
  node?: number;
}

/**
 * Our media node, the raw UDP relay baseline, or Janus's VideoRoom (fan-out scenarios only).
 * Relay scenarios: `sora` is the cluster (3 node processes), `single` the same clients on one node.
 */
export type ServerMode = "sora" | "single" | "raw" | "janus";

export type WorkerRequest =
  | { type: "join"; mode: ServerMode; url?: string; /** Relay scenarios: one signaling URL per node. */ urls?: string[]; relayPort?: number; janusRoom?: number; janusIceAddress?: string; clients: ClientSpec[] }
  | { type: "start-media" }
  | { type: "snapshot" }
  | { type: "stop" };

export interface WorkerSnapshot {
  /** Cumulative packets received over all streams. */
  received: number;
  /** Cumulative packets expected from sequence numbers (highest - first + 1, per stream). */
  expected: number;
  streams: number;
  reordered: number;
  /** Cumulative packets sent by this process's publishers. */
  sent: number;
  /** Worker clock (ms) and cumulative process CPU (µs) at the snapshot. */
  timeMs: number;
  cpuUs: number;
  /** One-way delay histogram since the previous snapshot. */
  latency: number[];
  bucketMs: number;
  /**
   * Relay scenarios: the same delay histogram split by path, for packets whose publisher is on the
   * subscriber's node (`local`) and on another node (`relayed`, one relay hop).
   */
  latencyLocal?: number[];
  latencyRelayed?: number[];
}

/** ms from the client's connect() to: the offer, the answer sent, ICE connected, DTLS/PC connected. */
export interface ConnectPhases {
  offer?: number;
  answer?: number;
  ice?: number;
  connected?: number;
}

export type WorkerReply =
  | { type: "ready" }
  | { type: "joined"; id: string; connectMs: number; error?: string; phases?: ConnectPhases }
  | ({ type: "snapshot" } & WorkerSnapshot);
