import { defaultConfig, type NodeConfig } from "./config.js";
import { rootLogger, type Logger } from "./logger.js";
import { NodeControl } from "./control/node-control.js";
import { SignalingServer } from "./signaling/signaling-server.js";
import { Sfu } from "./sfu/sfu.js";

// One media node = one process = one cluster member. Wires the SFU to its signaling listener.

export class MediaNode {
  readonly config: NodeConfig;
  readonly sfu: Sfu;
  readonly signaling: SignalingServer;
  readonly log: Logger;
  readonly control?: NodeControl;
  port = 0;

  private readonly derivedIdentity: boolean;

  constructor(config: Partial<NodeConfig> = {}, log: Logger = rootLogger) {
    this.config = defaultConfig(config);
    // With port 0 (tests) the name and URL can only be known once the listener is bound.
    this.derivedIdentity = config.port === 0 && !config.nodeName && !config.externalSignalingUrl;
    this.log = log.child({ node: this.config.nodeName });
    this.sfu = new Sfu(this.config, this.log);
    this.signaling = new SignalingServer(this.config, this.sfu, this.log);
    if (this.config.edgeUrl) {
      const control = new NodeControl(this.sfu, this.config, this.log);
      this.control = control;
      this.sfu.placement = (channelId) => control.place(channelId);
    }
  }

  async start(): Promise<void> {
    this.port = await this.signaling.listen();
    if (this.derivedIdentity) {
      this.config.nodeName = `node-${this.port}@${this.config.host}`;
      this.config.externalSignalingUrl = `ws://${this.config.host}:${this.port}/signaling`;
    }
    this.log.info({ signaling_url: `ws://${this.config.host}:${this.port}/signaling` }, "media node listening");
    this.control?.start();
  }

  async stop(): Promise<void> {
    await this.signaling.close();
    await this.control?.stop();
  }
}
