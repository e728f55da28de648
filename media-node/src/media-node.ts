import { defaultConfig, type NodeConfig, type NodeConfigInput } from "./config.js";
import { rootLogger, type Logger } from "./logger.js";
import { NodeControl } from "./control/node-control.js";
import { Egress } from "./egress/egress.js";
import { NodeRelay } from "./relay/node-relay.js";
import { NodeMetrics } from "./metrics/prometheus.js";
import { SignalingServer } from "./signaling/signaling-server.js";
import { Sfu } from "./sfu/sfu.js";
import { iceSocketPlan } from "./transport/ice-sockets.js";
import { configureFastPath } from "./transport/rtp-egress.js";
import { configureIceSilenceTimeout } from "./transport/ice-lite.js";
import { UdpMux } from "./transport/udp-mux.js";
import { warmUpPeerConnections } from "./transport/warm-up.js";
import { TurnService } from "./turn/turn-service.js";
import { Webhooks } from "./webhooks/webhooks.js";

// One media node = one process = one cluster member. Wires the SFU to its signaling listener.

export class MediaNode {
  readonly config: NodeConfig;
  readonly sfu: Sfu;
  readonly signaling: SignalingServer;
  readonly log: Logger;
  /** Cluster relay: set_channel_nodes, /relay pulls, relay links (docs/relay.md). */
  readonly relay: NodeRelay;
  /** RTP forwarding and audio streaming (StartForwardingRtp, StartAudioStreaming), reading the SFU's packets. */
  readonly egress: Egress;
  readonly control?: NodeControl;
  /** Auth/session/event webhooks, when a URL is configured. */
  readonly webhooks?: Webhooks;
  /** coturn beside the node and TURN credentials in offers, when turn is configured. */
  readonly turn?: TurnService;
  port = 0;
  /** The node's shared ICE socket when `udpPort` is configured (closed by stop()). */
  udpMux?: UdpMux;

  private readonly derivedIdentity: boolean;
  /** How long the start-up PeerConnection warm-up took (ms; -1 = did not complete). */
  warmUpMs = 0;
  /** Aborts a warm-up still running when the node is stopped. */
  private readonly stopping = new AbortController();

  constructor(config: NodeConfigInput = {}, log: Logger = rootLogger) {
    this.config = defaultConfig(config);
    configureFastPath(this.config.fastPath);
    configureIceSilenceTimeout(this.config.iceSilenceTimeoutMs);
    // With port 0 (tests) the name and URL can only be known once the listener is bound.
    this.derivedIdentity = config.port === 0 && !config.nodeName && !config.externalSignalingUrl;
    this.log = log.child({ node: this.config.nodeName });
    this.sfu = new Sfu(this.config, this.log);
    this.relay = new NodeRelay(this.sfu, this.config, this.log);
    const egress = new Egress(this.sfu, this.config, this.log);
    this.egress = egress;
    this.sfu.audioStreamingOn = (channelId) => egress.audioStreaming.isStreaming(channelId);
    if (Webhooks.enabled(this.config)) this.webhooks = new Webhooks(this.sfu, egress.audioStreaming, this.config, this.log);
    if (this.config.turn) this.turn = new TurnService(this.sfu, this.config.turn, this.log);
    const metrics = new NodeMetrics({ sfu: this.sfu, egress, webhooks: this.webhooks, turn: this.turn?.counters });
    this.signaling = new SignalingServer(this.config, this.sfu, this.log, metrics);
    if (this.config.edgeUrl) {
      const control = new NodeControl(this.sfu, this.config, this.log, egress, { webhooks: this.webhooks?.counters, turn: this.turn?.counters });
      this.control = control;
      this.sfu.placement = (channelId, full) => control.place(channelId, full);
    }
  }

  async start(): Promise<void> {
    // TURN first: offers name it, so it must answer before the first client arrives.
    await this.turn?.start();
    await this.openIceSockets();
    this.port = await this.signaling.listen();
    if (this.derivedIdentity) {
      this.config.nodeName = `node-${this.port}@${this.config.host}`;
      this.config.externalSignalingUrl = `ws://${this.config.host}:${this.port}/signaling`;
    }
    this.log.info({ signaling_url: `ws://${this.config.host}:${this.port}/signaling` }, "media node listening");
    // Before the edge can send clients here: the first client then connects as fast as the next.
    const warmUpMs = await warmUpPeerConnections(this.config.iceAddresses[0] ?? "127.0.0.1", this.config.iceLite, this.stopping.signal);
    this.warmUpMs = warmUpMs;
    if (this.stopping.signal.aborted) return; // stopped while warming up: do not link to the edge
    if (warmUpMs < 0) this.log.warn("peer connection warm-up did not complete; the first client may connect slower");
    else this.log.debug({ ms: Math.round(warmUpMs) }, "peer connections warmed up");
    this.control?.start();
  }

  /** Shared ICE port / port range / announced address: bound before the first client can arrive. */
  private async openIceSockets(): Promise<void> {
    const c = this.config;
    if (c.udpPort === undefined && c.udpPortRange === undefined && c.announcedAddress === undefined) return;
    const bindAddress = c.iceAddresses[0] ?? "0.0.0.0";
    if (c.udpPort !== undefined) {
      this.udpMux = await UdpMux.bind({ bindAddress, port: c.udpPort, ...(c.announcedAddress ? { announcedAddress: c.announcedAddress } : {}) });
    }
    this.sfu.iceSockets = iceSocketPlan(c, this.udpMux);
    this.log.info(
      { ice_udp_port: this.udpMux?.port, ice_udp_port_range: c.udpPortRange, ice_bind: bindAddress, ice_announced: this.sfu.iceSockets.announcedAddress },
      "ICE sockets",
    );
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.signaling.close();
    await this.udpMux?.close();
    await this.webhooks?.stop();
    await this.turn?.stop();
    await this.control?.stop();
  }
}
