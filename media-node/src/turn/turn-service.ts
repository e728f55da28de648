import type { TurnConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { Connection } from "../sfu/connection.js";
import type { Sfu } from "../sfu/sfu.js";
import { Coturn } from "./coturn.js";
import { rtcConfiguration } from "./credentials.js";
import { relayTransportOf, selectedRemote } from "./relay-detection.js";

// TURN beside the node: coturn's lifetime (when the node runs it), per-connection credentials
// in the offer's `config`, and the TURN counters Sora reports.

export interface TurnCounters {
  total_turn_udp_connections: number;
  total_turn_tcp_connections: number;
}

/** The selected pair can still be settling when "connected" fires; look again once. */
const RECHECK_MS = 1_000;

export class TurnService {
  readonly counters: TurnCounters = { total_turn_udp_connections: 0, total_turn_tcp_connections: 0 };
  private readonly coturn?: Coturn;
  private readonly rechecks = new Set<NodeJS.Timeout>();

  constructor(
    private readonly sfu: Sfu,
    private readonly turn: TurnConfig,
    private readonly log: Logger,
  ) {
    // Relayed clients send to the node's host candidates: its ICE addresses, and the announced one.
    const peers = [...sfu.config.iceAddresses, ...(sfu.config.announcedAddress ? [sfu.config.announcedAddress] : [])];
    if (turn.spawn) this.coturn = new Coturn(turn, peers, log.child({ component: "coturn" }));
    sfu.rtcConfigFor = (conn) => rtcConfiguration(turn, conn.id);
    sfu.listeners.push({ connectionCreated: (conn) => this.countIfRelayed(conn, true) });
  }

  /** coturn's process id when the node runs it. */
  get coturnPid(): number | undefined {
    return this.coturn?.pid;
  }

  async start(): Promise<void> {
    await this.coturn?.start();
  }

  async stop(): Promise<void> {
    for (const t of this.rechecks) clearTimeout(t);
    this.rechecks.clear();
    await this.coturn?.stop();
  }

  private countIfRelayed(conn: Connection, mayRecheck: boolean): void {
    if (conn.closed) return;
    const transport = relayTransportOf(conn.peer.pc);
    if (transport) {
      if (transport === "udp") this.counters.total_turn_udp_connections++;
      else this.counters.total_turn_tcp_connections++;
      conn.log.info({ connection_id: conn.id, turn_transport_type: transport, remote: selectedRemote(conn.peer.pc) }, "connection relayed through TURN");
      return;
    }
    if (!mayRecheck) {
      conn.log.debug({ connection_id: conn.id, remote: selectedRemote(conn.peer.pc) }, "connection not relayed");
      return;
    }
    const timer = setTimeout(() => {
      this.rechecks.delete(timer);
      this.countIfRelayed(conn, false);
    }, RECHECK_MS);
    timer.unref();
    this.rechecks.add(timer);
  }
}
