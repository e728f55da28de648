// Per-stream numbers from two getStats() snapshots of one RTCPeerConnection (W3C webrtc-stats:
// inbound-rtp, outbound-rtp, remote-inbound-rtp, transport, candidate-pair). Pure, unit-tested in
// test/node/devtools.test.ts; the page samples once a second.

/** One RTCStats dictionary as getStats() yields it. */
export interface StatsEntry {
  id: string;
  type: string;
  timestamp: number;
  [key: string]: unknown;
}

export interface StreamRow {
  /** The inbound/outbound-rtp stats id (stable for the life of the stream). */
  id: string;
  direction: "in" | "out";
  kind: "audio" | "video";
  /** Inbound: the receiving track's id (the page maps it to the sender's stream). */
  trackIdentifier?: string;
  /** Outbound simulcast layer. */
  rid?: string;
  bitrateKbps: number | null;
  fps: number | null;
  width?: number;
  height?: number;
  /** Inbound: share of packets lost since the last sample; outbound: the receiver's fractionLost (RTCP RR). */
  lossPercent: number | null;
  rttMs: number | null;
  framesDecoded?: number;
  framesEncoded?: number;
  packets: number;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

export function streamRows(current: Iterable<StatsEntry>, previous: ReadonlyMap<string, StatsEntry> = new Map()): StreamRow[] {
  const entries = [...current];
  const byId = new Map(entries.map((e) => [e.id, e]));
  const remoteInbound = new Map<string, StatsEntry>();
  for (const e of entries) if (e.type === "remote-inbound-rtp" && typeof e.localId === "string") remoteInbound.set(e.localId, e);
  const pairRtt = selectedPairRttMs(entries, byId);

  const rows: StreamRow[] = [];
  for (const e of entries) {
    if (e.type !== "inbound-rtp" && e.type !== "outbound-rtp") continue;
    const kind = e.kind === "audio" ? "audio" : "video";
    const inbound = e.type === "inbound-rtp";
    const prev = previous.get(e.id);
    const dtMs = prev ? e.timestamp - prev.timestamp : 0;
    const bytesKey = inbound ? "bytesReceived" : "bytesSent";
    const framesKey = inbound ? "framesDecoded" : "framesEncoded";
    const packets = num(inbound ? e.packetsReceived : e.packetsSent) ?? 0;
    const row: StreamRow = {
      id: e.id,
      direction: inbound ? "in" : "out",
      kind,
      bitrateKbps: rate(num(e[bytesKey]), num(prev?.[bytesKey]), dtMs, 8),
      fps: kind === "video" ? (num(e.framesPerSecond) ?? rate(num(e[framesKey]), num(prev?.[framesKey]), dtMs, 1000)) : null,
      lossPercent: null,
      rttMs: null,
      packets,
    };
    if (kind === "video") {
      const width = num(e.frameWidth);
      const height = num(e.frameHeight);
      if (width !== undefined) row.width = width;
      if (height !== undefined) row.height = height;
    }
    if (inbound) {
      if (typeof e.trackIdentifier === "string") row.trackIdentifier = e.trackIdentifier;
      if (kind === "video") row.framesDecoded = num(e.framesDecoded) ?? 0;
      row.lossPercent = lossPercent(e, prev);
      row.rttMs = pairRtt;
    } else {
      if (typeof e.rid === "string") row.rid = e.rid;
      if (kind === "video") row.framesEncoded = num(e.framesEncoded) ?? 0;
      const remote = remoteInbound.get(e.id);
      const fraction = num(remote?.fractionLost);
      row.lossPercent = fraction === undefined ? null : fraction * 100;
      const rtt = num(remote?.roundTripTime);
      row.rttMs = rtt === undefined ? pairRtt : rtt * 1000;
    }
    rows.push(row);
  }
  // Stable order for the page: audio before video, simulcast layers r0 → r2.
  return rows.sort((a, b) => (a.kind === b.kind ? (a.rid ?? "").localeCompare(b.rid ?? "") : a.kind === "audio" ? -1 : 1));
}

/** (now - before) per second, scaled: bytes → kbps with scale 8 (bits per ms = kbps), frames → fps with 1000. */
function rate(now: number | undefined, before: number | undefined, dtMs: number, scale: number): number | null {
  if (now === undefined || before === undefined || dtMs <= 0 || now < before) return null;
  return ((now - before) * scale) / dtMs;
}

function lossPercent(e: StatsEntry, prev: StatsEntry | undefined): number | null {
  const lost = num(e.packetsLost);
  const received = num(e.packetsReceived);
  if (lost === undefined || received === undefined) return null;
  const dLost = Math.max(0, lost - (num(prev?.packetsLost) ?? 0));
  const dReceived = Math.max(0, received - (num(prev?.packetsReceived) ?? 0));
  const total = dLost + dReceived;
  return total === 0 ? null : (dLost / total) * 100;
}

function selectedPairRttMs(entries: StatsEntry[], byId: Map<string, StatsEntry>): number | null {
  for (const t of entries) {
    if (t.type !== "transport" || typeof t.selectedCandidatePairId !== "string") continue;
    const rtt = num(byId.get(t.selectedCandidatePairId)?.currentRoundTripTime);
    if (rtt !== undefined) return rtt * 1000;
  }
  for (const p of entries) {
    if (p.type === "candidate-pair" && p.nominated === true && p.state === "succeeded") {
      const rtt = num(p.currentRoundTripTime);
      if (rtt !== undefined) return rtt * 1000;
    }
  }
  return null;
}

/** A bounded series for the charts; a missing value counts as 0 once the series has started. */
export function pushSample(series: readonly number[], value: number | null, max = 60): number[] {
  if (value === null && series.length === 0) return [];
  const next = [...series, value ?? 0];
  return next.length > max ? next.slice(next.length - max) : next;
}
