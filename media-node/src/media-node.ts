import { defaultConfig, type NodeConfig } from "./config.js";
import { rootLogger, type Logger } from "./logger.js";
import { SignalingServer } from "./signaling/signaling-server.js";
import { Sfu } from "./sfu/sfu.js";

// One media node = one process = one cluster member. Wires the SFU to its signaling listener.

export class MediaNode {
  readonly config: NodeConfig;
  readonly sfu: Sfu;
  readonly signaling: SignalingServer;
  readonly log: Logger;
  port = 0;

  constructor(config: Partial<NodeConfig> = {}, log: Logger = rootLogger) {
    this.config = defaultConfig(config);
    this.log = log.child({ node: this.config.nodeName });
    this.sfu = new Sfu(this.config, this.log);
    this.signaling = new SignalingServer(this.config, this.sfu, this.log);
  }

  async start(): Promise<void> {
    this.port = await this.signaling.listen();
    this.log.info({ signaling_url: `ws://${this.config.host}:${this.port}/signaling` }, "media node listening");
  }

  async stop(): Promise<void> {
    await this.signaling.close();
  }
}
