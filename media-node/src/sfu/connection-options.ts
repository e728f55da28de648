import type { RidOrNone } from "../../../shared/control-protocol.js";
import type { VideoCodecName } from "../config.js";
import type { ForwardingFilter } from "./forwarding-filter.js";
import type { OpusFormat } from "./opus-format.js";

// What a new Connection is asked to be, in the SFU's own terms. Signaling builds it from the
// (auth-webhook-rewritten) `connect` message (signaling/connection-options.ts): the SFU never
// reads wire fields, so a relay leg or a test can create a connection without a connect message.

export type Role = "sendrecv" | "sendonly" | "recvonly";

/** One DataChannel the client asked for (connect `data_channels`). */
export interface DataChannelOption {
  label: string;
  direction: "sendonly" | "recvonly" | "sendrecv";
  compress: boolean;
  ordered?: boolean;
  maxPacketLifeTime?: number;
  maxRetransmits?: number;
  protocol?: string;
  /** The entry's `header` as given (echoed in the offer; `sender_connection_id` prefixes messages). */
  header?: { type: string }[];
}

export interface ConnectionOptions {
  role: Role;
  channelId: string;
  /** Unset: the connection id. */
  clientId?: string;
  /** Unset: the connection id (and no bundle exclusion). */
  bundleId?: string;
  metadata?: unknown;
  signalingNotifyMetadata?: unknown;
  audio: boolean;
  video: boolean;
  /** Unset: the node's default (also for codecs the node does not forward). */
  videoCodec?: VideoCodecName;
  /** Video budget (kbps) that scales the simulcast encodings down. */
  videoBitRateKbps?: number;
  /** Opus fmtp of this sender's upstream m-line. */
  opusFormat: OpusFormat;
  /** Publishes simulcast (a spotlight channel makes every sender simulcast anyway). */
  simulcast: boolean;
  /** The layer this receiver asks of simulcast senders when no request covers the pair. */
  simulcastRid?: RidOrNone;
  /** Settings of the channel when this connection creates it. */
  spotlight: boolean;
  spotlightNumber?: number;
  spotlightFocusRid?: RidOrNone;
  spotlightUnfocusRid?: RidOrNone;
  dataChannelSignaling: boolean;
  ignoreDisconnectWebSocket: boolean;
  dataChannels: DataChannelOption[];
  forwardingFilters: ForwardingFilter[];
  /** Audio streaming language (required for the connection to be streamed). */
  audioStreamingLanguageCode?: string;
  /** The SDK's self-description (offer `config` differs for the iOS SDK). */
  soraClient?: string;
}
