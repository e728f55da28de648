import { z } from "zod";

// What each non-JS Sora SDK's decoder demands of the server's messages, transcribed from its
// public source (commits as in test/fixtures/sdk-connect/*.json). A message one of these rejects
// is one that SDK drops or crashes on, so the replay test runs every server message through the
// decoder of the SDK it is talking to. Only required fields and types are modelled; keys a
// decoder does not read are let through.
//
// - iOS (Sora/Signaling.swift, Swift JSONDecoder): `decode` = present, non-null, exact type;
//   `decodeIfPresent` = may be absent or null, else exact type (Int must be integral).
// - Android (Catalog.kt, Gson into Kotlin): non-null properties must be present (Gson leaves them
//   null and the SDK dereferences them); ice servers go to libwebrtc's IceServer builder, which
//   refuses a null username or password.
// - C++ SDK (src/sora_signaling.cpp, boost::json): `.at()` = present; `.as_string()` /
//   `.as_bool()` / `.as_array()` = exactly that JSON type (null included: it throws).
// - Momo (src/sora/sora_client.cpp): the C++ SDK's `config` handling, plus `.at()` on notify keys.

const int = z.number().int();

const iosEncoding = z.object({
  rid: z.string().nullish(),
  active: z.boolean().nullish(),
  maxBitrate: int.nullish(),
  maxFramerate: z.number().nullish(),
  scaleResolutionDownBy: z.number().nullish(),
  scaleResolutionDownTo: z.object({ maxWidth: int, maxHeight: int }).nullish(),
  scalabilityMode: z.string().nullish(),
});

/** SignalingOffer.init(from:) and SignalingOffer.Configuration.init(from:), ICEServerInfo, ICETransportPolicy. */
const iosOffer = z.object({
  sdp: z.string(),
  client_id: z.string(),
  connection_id: z.string(),
  channel_id: z.string().nullish(),
  bundle_id: z.string().nullish(),
  session_id: z.string().nullish(),
  version: z.string().nullish(),
  config: z
    .object({
      iceServers: z.array(z.object({ urls: z.array(z.string()), username: z.string().nullish(), credential: z.string().nullish() })),
      // ICETransportPolicy.init(from:) accepts "relay" and throws on anything else.
      iceTransportPolicy: z.literal("relay"),
    })
    .nullish(),
  encodings: z.array(iosEncoding).nullish(),
  mid: z.record(z.string(), z.string()).nullish(),
  simulcast: z.boolean().nullish(),
  simulcast_multicodec: z.boolean().nullish(),
  spotlight: z.boolean().nullish(),
  audio: z.boolean().nullish(),
  audio_codec_type: z.string().nullish(),
  audio_bit_rate: int.nullish(),
  video: z.boolean().nullish(),
  video_codec_type: z.string().nullish(),
  video_bit_rate: int.nullish(),
  rpc_methods: z.array(z.string()).nullish(),
});

/** SignalingNotify.init(from:). */
const iosNotify = z.object({
  event_type: z.string(),
  timestamp: z.string().nullish(),
  role: z.enum(["sendonly", "recvonly", "sendrecv"]).nullish(),
  session_id: z.string().nullish(),
  client_id: z.string().nullish(),
  bundle_id: z.string().nullish(),
  connection_id: z.string().nullish(),
  spotlight_number: int.nullish(),
  audio: z.boolean().nullish(),
  video: z.boolean().nullish(),
  minutes: int.nullish(),
  channel_connections: int.nullish(),
  channel_sendonly_connections: int.nullish(),
  channel_recvonly_connections: int.nullish(),
  channel_sendrecv_connections: int.nullish(),
  spotlight_id: z.string().nullish(),
  fixed: z.boolean().nullish(),
  unstable_level: int.nullish(),
  turn_transport_type: z.string().nullish(),
  kind: z.string().nullish(),
  destination_connection_id: z.string().nullish(),
  source_connection_id: z.string().nullish(),
  recv_connection_id: z.string().nullish(),
  send_connection_id: z.string().nullish(),
  stream_id: z.string().nullish(),
  failed_connection_id: z.string().nullish(),
  current_state: z.string().nullish(),
  previous_state: z.string().nullish(),
});

/** OfferMessage, OfferConfig, IceServer, Encoding (Catalog.kt); PeerNetworkConfig.gatherIceServerSetting. */
const androidOffer = z.object({
  sdp: z.string(),
  client_id: z.string(),
  connection_id: z.string(),
  config: z
    .object({
      iceServers: z.array(z.object({ urls: z.array(z.string()), username: z.string(), credential: z.string() })),
      iceTransportPolicy: z.string().nullish(),
    })
    .nullish(),
  encodings: z
    .array(
      z.object({
        rid: z.string().nullish(),
        active: z.boolean().nullish(),
        maxBitrate: int.nullish(),
        maxFramerate: z.number().nullish(),
        scaleResolutionDownBy: z.number().nullish(),
        scalabilityMode: z.string().nullish(),
      }),
    )
    .nullish(),
  mid: z.record(z.string(), z.string()).nullish(),
  data_channels: z.array(z.record(z.string(), z.unknown())).nullish(),
  simulcast: z.boolean().nullish(),
  spotlight: z.boolean().nullish(),
  audio: z.boolean().nullish(),
  audio_bit_rate: int.nullish(),
  video: z.boolean().nullish(),
  video_bit_rate: int.nullish(),
});

/** NotificationMessage (event_type and timestamp are non-null String). */
const androidNotify = z.object({
  event_type: z.string(),
  timestamp: z.string(),
  role: z.string().nullish(),
  connection_id: z.string().nullish(),
  client_id: z.string().nullish(),
  minutes: int.nullish(),
  channel_connections: int.nullish(),
  channel_sendrecv_connections: int.nullish(),
  channel_sendonly_connections: int.nullish(),
  channel_recvonly_connections: int.nullish(),
  spotlight_id: z.string().nullish(),
  fixed: z.boolean().nullish(),
});

/** CreatePeerConnection(m.at("config")): iceServers[] each with username, credential, urls[] (all `.at()`). */
const cppConfig = z.object({
  iceServers: z.array(z.object({ username: z.string(), credential: z.string(), urls: z.array(z.string()) })),
});

/** SoraSignaling::OnRead, type == "offer". */
const cppOffer = z.object({
  type: z.literal("offer"),
  sdp: z.string(),
  mid: z.object({ audio: z.string().optional(), video: z.string().optional() }).optional(),
  multistream: z.boolean().optional(),
  simulcast: z.boolean().optional(),
  spotlight: z.boolean().optional(),
  data_channels: z.array(z.object({ label: z.string(), compress: z.boolean() })).optional(),
  connection_id: z.string(),
  config: cppConfig,
  encodings: z
    .array(
      z.object({
        rid: z.string(),
        maxBitrate: int.optional(),
        minBitrate: int.optional(),
        scaleResolutionDownBy: z.number().optional(),
        maxFramerate: z.number().optional(),
        active: z.boolean().optional(),
        adaptivePtime: z.boolean().optional(),
        scalabilityMode: z.string().optional(),
        scaleResolutionDownTo: z.object({ maxWidth: int, maxHeight: int }).optional(),
      }),
    )
    .optional(),
});

/** SoraClient::OnRead, type == "offer" (momo's own copy of the C++ signaling). */
const momoOffer = z.object({
  type: z.literal("offer"),
  data_channels: z.array(z.object({ compress: z.boolean(), label: z.string() })).optional(),
  config: cppConfig,
  sdp: z.string(),
});

const present = z.custom<unknown>((v) => v !== undefined, "required (read with .at())");

/** SoraClient::OnRead, type == "notify": `.at()` on these keys (a missing one throws). */
const momoNotify = z.looseObject({ event_type: z.string() }).superRefine((m, ctx) => {
  const need =
    m.event_type === "connection.created" || m.event_type === "connection.destroyed"
      ? ["client_id", "connection_id"]
      : m.event_type === "spotlight.changed"
        ? ["client_id", "connection_id", "spotlight_id"]
        : [];
  for (const key of need) {
    if (!present.safeParse((m as Record<string, unknown>)[key]).success) {
      ctx.addIssue({ code: "custom", path: [key], message: "momo reads it with .at()" });
    }
  }
});

const anyNotify = z.object({ type: z.literal("notify"), event_type: z.string() });

export interface SdkDecoder {
  offer: z.ZodType;
  notify: z.ZodType;
  /** The `switched` message (DataChannel signaling). */
  switched: z.ZodType;
  ping: z.ZodType;
}

/** Per fixture name (test/fixtures/sdk-connect/<name>.json). */
export const SDK_DECODERS: Record<"ios" | "android" | "cpp-python" | "momo", SdkDecoder> = {
  ios: {
    offer: iosOffer,
    notify: iosNotify,
    // SignalingSwitched.init(from:): `decode(Bool.self, forKey: .ignore_disconnect_websocket)`.
    switched: z.object({ ignore_disconnect_websocket: z.boolean() }),
    ping: z.object({ stats: z.boolean().nullish() }),
  },
  android: {
    offer: androidOffer,
    notify: androidNotify,
    switched: z.object({ ignore_disconnect_websocket: z.boolean().nullish() }),
    ping: z.object({ stats: z.boolean().nullish() }),
  },
  "cpp-python": {
    offer: cppOffer,
    // The C++ SDK hands notify text to the application as is.
    notify: anyNotify,
    switched: z.object({ ignore_disconnect_websocket: z.boolean().optional() }),
    ping: z.object({ stats: z.boolean().optional() }),
  },
  momo: {
    offer: momoOffer,
    notify: momoNotify,
    switched: z.object({ ignore_disconnect_websocket: z.boolean().optional() }),
    ping: z.object({ stats: z.boolean().optional() }),
  },
};
