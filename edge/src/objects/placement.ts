import type { NodeLoad, NodeMode } from "../../../shared/control-protocol.js";

// Placement rules, pure: which node takes a new session. Sora's older cluster model places a
// channel on the node with the lowest connections / licensed max connections, ties going to the
// node the client reached (reference/sora-signaling.md §cluster); `max_connections` is a hard cap.
// The table holds connected nodes only; ClusterObject builds it, NodeObjects and the Worker cache it.

/** One connected node as placement sees it. */
export interface PlacementEntry {
  node_name: string;
  signaling_url: string;
  member: boolean;
  mode: NodeMode;
  /** Undefined: the node reported no load yet (counts as idle, uncapped). */
  load: NodeLoad | undefined;
}

/** Capacity assumed for a node without `max_connections`, so that loads compare as ratios. */
export const UNCAPPED_CAPACITY = 10_000;

/** Sora's refusal when every node is at its `max_connections` (reason unsourced; see docs/edge.md). */
export const CLUSTER_FULL = "MAX-CONNECTIONS-EXCEEDED";

export function hasRoom(entry: PlacementEntry): boolean {
  const load = entry.load;
  return !load || load.max_connections === null || load.connections < load.max_connections;
}

export function loadScore(entry: PlacementEntry): number {
  const load = entry.load;
  if (!load) return 0;
  return load.connections / (load.max_connections ?? UNCAPPED_CAPACITY);
}

/**
 * The node for a new session: the connected member in `normal` mode with room and the lowest
 * load score; ties go to `preferred` (the node the client reached), then by name.
 */
export function leastLoaded(table: readonly PlacementEntry[], preferred?: string): PlacementEntry | undefined {
  let best: PlacementEntry | undefined;
  for (const entry of table) {
    if (!entry.member || entry.mode !== "normal" || !hasRoom(entry)) continue;
    if (!best || better(entry, best, preferred)) best = entry;
  }
  return best;
}

function better(a: PlacementEntry, b: PlacementEntry, preferred: string | undefined): boolean {
  const sa = loadScore(a);
  const sb = loadScore(b);
  if (sa !== sb) return sa < sb;
  if (a.node_name === preferred) return true;
  if (b.node_name === preferred) return false;
  return a.node_name < b.node_name;
}

/**
 * `GET /signaling` without a live owner: the least loaded member in normal mode; failing that,
 * any connected node with room (members and normal mode first), whose own mode then answers the
 * client. Undefined when no connected node has room.
 */
export function signalingTarget(table: readonly PlacementEntry[]): PlacementEntry | undefined {
  const best = leastLoaded(table);
  if (best) return best;
  const rank = (e: PlacementEntry) => [e.member ? 0 : 1, e.mode === "normal" ? 0 : 1, loadScore(e)] as const;
  return table
    .filter(hasRoom)
    .map((e) => ({ e, r: rank(e) }))
    .sort((x, y) => x.r[0] - y.r[0] || x.r[1] - y.r[1] || x.r[2] - y.r[2] || x.e.node_name.localeCompare(y.e.node_name))[0]?.e;
}

export type PlaceDecision =
  | { kind: "owner"; node_name: string }
  | { kind: "redirect"; entry: PlacementEntry }
  | { kind: "refuse"; reason: string };

/**
 * A node asks where a new session of a channel belongs (no live owner elsewhere): the least
 * loaded member, the asking node on a tie; the asking node itself when no member qualifies but it
 * has room (its own mode then decides, as before load-aware placement); refused when none has room.
 */
export function placeNewSession(table: readonly PlacementEntry[], asking: string): PlaceDecision {
  const best = leastLoaded(table, asking);
  if (best) return best.node_name === asking ? { kind: "owner", node_name: asking } : { kind: "redirect", entry: best };
  const self = table.find((e) => e.node_name === asking);
  if (!self || hasRoom(self)) return { kind: "owner", node_name: asking };
  const other = signalingTarget(table);
  return other ? { kind: "redirect", entry: other } : { kind: "refuse", reason: CLUSTER_FULL };
}

// ---------------------------------------------------------------------------------------------
// A channel that spans nodes (cluster relay, docs/relay.md)

export type ChannelPlaceDecision =
  | { kind: "serve"; node_name: string }
  | { kind: "redirect"; entry: PlacementEntry }
  | { kind: "refuse"; reason: string };

/** A node already serving the channel may take one more of its clients: room, and not blocking new connections. */
/**
 * The table with `full` nodes shown at their cap: a node that said it is full when it asked
 * (`place` with `full`) is not chosen on a load report older than that.
 */
export function withFullNodes(table: readonly PlacementEntry[], full: ReadonlySet<string>): PlacementEntry[] {
  if (full.size === 0) return [...table];
  return table.map((e) => {
    if (!full.has(e.node_name)) return e;
    const cap = e.load?.max_connections ?? 1;
    const load = e.load ?? { connections: 0, max_connections: cap, forwarded_packets_per_second: 0, cpu_percent: 0, event_loop_delay_p99_ms: 0 };
    return { ...e, load: { ...load, connections: Math.max(load.connections, cap), max_connections: cap } };
  });
}

function canTakeClient(entry: PlacementEntry): boolean {
  return hasRoom(entry) && entry.mode !== "block_new_connection";
}

/** The least loaded of `entries` (already filtered), ties to `preferred`, then by name. */
function lowest(entries: readonly PlacementEntry[], preferred: string | undefined): PlacementEntry | undefined {
  let best: PlacementEntry | undefined;
  for (const entry of entries) if (!best || better(entry, best, preferred)) best = entry;
  return best;
}

/**
 * Where a client of a channel that is live on `serving` (its serving nodes, at least one of them
 * connected) goes, when it reached `asking` (undefined: `GET /signaling` at the edge):
 * - affinity on: the least loaded serving node with room (ties to `asking`); when none has room,
 *   the least loaded member in normal mode with room — the channel spans one more node;
 * - affinity off: `asking` itself when it has room (and, when it does not serve the channel yet,
 *   is a member in normal mode); else as with affinity on;
 * - refused when no node qualifies.
 * Without an asking node (`GET /signaling`) and affinity off: the least loaded member, else a
 * serving node with room.
 * `asking` missing from the table (a table older than its link) counts as having room.
 */
export function placeInChannel(
  table: readonly PlacementEntry[],
  asking: string | undefined,
  serving: readonly string[],
  affinity: boolean,
): ChannelPlaceDecision {
  const servingSet = new Set(serving);
  const self = asking === undefined ? undefined : table.find((e) => e.node_name === asking);
  const selfUnknown = asking !== undefined && !self;
  if (!affinity && asking !== undefined) {
    const selfServes = servingSet.has(asking);
    if (selfUnknown || (self && (selfServes ? canTakeClient(self) : self.member && self.mode === "normal" && hasRoom(self)))) {
      return { kind: "serve", node_name: asking };
    }
  }
  if (affinity && selfUnknown && servingSet.has(asking)) return { kind: "serve", node_name: asking };
  const fromServing = lowest(
    table.filter((e) => servingSet.has(e.node_name) && canTakeClient(e)),
    asking,
  );
  // Affinity off and no asking node (`GET /signaling`): any least loaded member will do.
  const chosen = !affinity && asking === undefined ? (leastLoaded(table) ?? fromServing) : (fromServing ?? leastLoaded(table, asking));
  if (!chosen) return selfUnknown ? { kind: "serve", node_name: asking } : { kind: "refuse", reason: CLUSTER_FULL };
  return chosen.node_name === asking ? { kind: "serve", node_name: asking } : { kind: "redirect", entry: chosen };
}
