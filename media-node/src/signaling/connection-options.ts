import type { ConnectionOptions, DataChannelOption } from "../sfu/connection-options.js";
import { senderOpusFormat } from "../sfu/opus-format.js";
import type { ConnectMessage } from "./messages.js";

// Turns a validated `connect` message (after the auth webhook's rewrite) into the SFU's
// ConnectionOptions (pure). Field meanings follow Sora's connect documentation and
// sora-js-sdk's ConnectionOptions (dist/sora.js createSignalingMessage).

export function connectionOptions(connect: ConnectMessage): ConnectionOptions {
  const audio = typeof connect.audio === "object" ? connect.audio : undefined;
  const video = typeof connect.video === "object" ? connect.video : undefined;
  const simulcastObjectRid = typeof connect.simulcast === "object" ? (connect.simulcast as { rid?: "r0" | "r1" | "r2" }).rid : undefined;
  const options: ConnectionOptions = {
    role: connect.role,
    channelId: connect.channel_id,
    audio: connect.audio !== false,
    video: connect.video !== false,
    opusFormat: senderOpusFormat(audio?.opus_params, audio?.bit_rate),
    simulcast: connect.simulcast !== undefined && connect.simulcast !== false,
    spotlight: connect.spotlight === true,
    dataChannelSignaling: connect.data_channel_signaling === true,
    ignoreDisconnectWebSocket: connect.ignore_disconnect_websocket === true,
    dataChannels: (connect.data_channels ?? []).map(dataChannelOption),
    forwardingFilters: [...(connect.forwarding_filter ? [connect.forwarding_filter] : []), ...(connect.forwarding_filters ?? [])],
  };
  if (connect.client_id !== undefined) options.clientId = connect.client_id;
  if (connect.bundle_id !== undefined) options.bundleId = connect.bundle_id;
  if (connect.metadata !== undefined) options.metadata = connect.metadata;
  if (connect.signaling_notify_metadata !== undefined) options.signalingNotifyMetadata = connect.signaling_notify_metadata;
  // H.265 is accepted on the wire but not forwarded: the node's default codec is offered instead.
  if (video?.codec_type !== undefined && video.codec_type !== "H265") options.videoCodec = video.codec_type;
  if (video?.bit_rate !== undefined) options.videoBitRateKbps = video.bit_rate;
  const simulcastRid = connect.simulcast_request_rid ?? connect.simulcast_rid ?? simulcastObjectRid;
  if (simulcastRid !== undefined) options.simulcastRid = simulcastRid;
  if (connect.spotlight_number !== undefined) options.spotlightNumber = connect.spotlight_number;
  if (connect.spotlight_focus_rid !== undefined) options.spotlightFocusRid = connect.spotlight_focus_rid;
  if (connect.spotlight_unfocus_rid !== undefined) options.spotlightUnfocusRid = connect.spotlight_unfocus_rid;
  if (connect.audio_streaming_language_code !== undefined) options.audioStreamingLanguageCode = connect.audio_streaming_language_code;
  if (connect.sora_client !== undefined) options.soraClient = connect.sora_client;
  return options;
}

function dataChannelOption(d: NonNullable<ConnectMessage["data_channels"]>[number]): DataChannelOption {
  const option: DataChannelOption = { label: d.label, direction: d.direction, compress: d.compress === true };
  if (d.ordered !== undefined) option.ordered = d.ordered;
  if (d.max_packet_life_time !== undefined) option.maxPacketLifeTime = d.max_packet_life_time;
  if (d.max_retransmits !== undefined) option.maxRetransmits = d.max_retransmits;
  if (d.protocol !== undefined) option.protocol = d.protocol;
  if (d.header !== undefined) option.header = d.header;
  return option;
}
