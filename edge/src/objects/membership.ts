import type { Hello, NodeMode } from "../../../shared/control-protocol.js";
import type { NodeRecord } from "./cluster-store.js";

// Cluster membership rules, as pure functions over the stored records and the set of nodes with a
// live link. Sora keeps a Raft-like quorum among members; the edge is our single store, so
// "quorum" here means a majority of members currently linked (same operator-facing rule:
// joins and purges need most of the cluster up).

export function hasMajority(members: readonly NodeRecord[], connected: ReadonlySet<string>): boolean {
  if (members.length === 0) return true;
  const up = members.filter((m) => connected.has(m.node_name)).length;
  return up * 2 > members.length;
}

/**
 * The record of a node that just said hello: identity from the hello, membership per the rules
 * - a member reconnecting rejoins (epoch + 1), whatever its auto_join;
 * - with auto_join, the first node ever forms a one-node cluster (epoch 1), and a newcomer
 *   joins (epoch 1) when a majority of members is linked;
 * - otherwise it is only known.
 * The stored mode wins over the node's (ChangeMode outlives restarts); a new node keeps its own.
 */
export function admit(
  stored: NodeRecord | undefined,
  hello: Hello,
  members: readonly NodeRecord[],
  connected: ReadonlySet<string>,
  now: number,
): NodeRecord {
  let member = false;
  let epoch = stored?.epoch ?? 0;
  if (stored?.member) {
    member = true;
    epoch += 1;
  } else if (hello.auto_join && (members.length === 0 || hasMajority(members, connected))) {
    member = true;
    epoch = 1;
  }
  return {
    node_name: hello.node_name,
    member,
    epoch,
    external_signaling_url: hello.external_signaling_url,
    external_api_url: hello.external_api_url,
    version: hello.version,
    license_max_nodes: hello.license.license_max_nodes,
    license_max_connections: hello.license.license_max_connections,
    license_serial_code: hello.license.license_serial_code,
    license_type: hello.license.license_type,
    mode: stored?.mode ?? hello.mode,
    last_seen: now,
  };
}

const RESTRICTIVENESS: Record<NodeMode, number> = { normal: 0, block_new_session: 1, block_new_connection: 2 };

/** GetMode over several nodes: the most restrictive one (what a new client may meet). */
export function mostRestrictive(modes: readonly NodeMode[]): NodeMode {
  return modes.reduce<NodeMode>((a, b) => (RESTRICTIVENESS[b] > RESTRICTIVENESS[a] ? b : a), "normal");
}
