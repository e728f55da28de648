import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import { AudioStreaming } from "./audio-streamer.js";
import type { PacketSource } from "./packet-source.js";
import { RtpForwarding } from "./rtp-forwarder.js";

// The node's egress features, owned by MediaNode beside webhooks and TURN: RTP forwarding
// (StartForwardingRtp) and audio streaming (StartAudioStreaming). Both read packets through a
// PacketSource (the Sfu) and register their own lifecycle listeners on it; the SFU itself knows
// nothing of them. The edge link commands them (control/node-control.ts), the session webhook's
// answer may start audio streaming, /metrics counts their legs and streams.
export class Egress {
  readonly rtpForwarding: RtpForwarding;
  readonly audioStreaming: AudioStreaming;

  constructor(source: PacketSource, config: NodeConfig, log: Logger) {
    this.rtpForwarding = new RtpForwarding(source, log);
    this.audioStreaming = new AudioStreaming(source, config, log);
  }
}
