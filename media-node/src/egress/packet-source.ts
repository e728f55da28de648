import type { Channel } from "../sfu/channel.js";
import type { SfuEvents } from "../sfu/sfu.js";

// What egress (RTP forwarding, audio streaming) needs of the SFU, and nothing more: the live
// channels (their connections' publications carry the packets, through Publication.addTap) and
// the lifecycle events that start and end what egress does. The Sfu is one; a test can hand
// egress a plain object instead of a whole node.
export interface PacketSource {
  readonly channels: ReadonlyMap<string, Channel>;
  /** Lifecycle listeners; egress registers its own once, at construction. */
  readonly listeners: SfuEvents[];
}
