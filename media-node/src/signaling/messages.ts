import { z } from "zod";
import { ridOrNoneSchema, ridSchema } from "../../../shared/control-protocol.js";
import { boundedJson } from "../../../shared/json-limits.js";
import { forwardingFilterSchema } from "../sfu/forwarding-filter.js";
import { opusParamsSchema } from "../sfu/opus-format.js";

// Client → server signaling messages, as sora-js-sdk (dist/sora.js), sora-cpp-sdk and the
// mobile SDKs send them. Unknown keys are kept (SDKs add fields over time); known keys are typed.

const rid = ridSchema;
const ridOrNone = ridOrNoneSchema;
const shortString = z.string().min(1).max(255);

const audioSettings = z.union([
  z.boolean(),
  z
    .object({
      codec_type: z.string().optional(),
      bit_rate: z.number().int().min(6).max(510).optional(),
      opus_params: opusParamsSchema.optional(),
    })
    .passthrough(),
]);

const videoSettings = z.union([
  z.boolean(),
  z
    .object({
      codec_type: z.enum(["VP8", "VP9", "H264", "H265", "AV1"]).optional(),
      bit_rate: z.number().int().min(1).max(30000).optional(),
      vp9_params: z.record(z.string(), z.unknown()).optional(),
      av1_params: z.record(z.string(), z.unknown()).optional(),
      h264_params: z.record(z.string(), z.unknown()).optional(),
      h265_params: z.record(z.string(), z.unknown()).optional(),
    })
    .passthrough(),
]);

const dataChannelSpec = z
  .object({
    label: z.string().min(1).max(255),
    direction: z.enum(["sendonly", "recvonly", "sendrecv"]),
    compress: z.boolean().optional(),
    ordered: z.boolean().optional(),
    max_packet_life_time: z.number().int().min(0).optional(),
    max_retransmits: z.number().int().min(0).optional(),
    protocol: z.string().optional(),
    header: z.array(z.object({ type: z.string() }).passthrough()).optional(),
  })
  .passthrough();

export const connectMessage = z
  .object({
    type: z.literal("connect"),
    role: z.enum(["sendrecv", "sendonly", "recvonly"]),
    channel_id: shortString,
    client_id: shortString.optional(),
    bundle_id: shortString.optional(),
    // Free JSON: shared/json-limits.ts (it travels in notifies, the auth webhook and the edge link).
    metadata: boundedJson.optional(),
    signaling_notify_metadata: boundedJson.optional(),
    sdp: z.string().max(256 * 1024).optional(),
    multistream: z.boolean().optional(),
    audio: audioSettings.optional(),
    video: videoSettings.optional(),
    simulcast: z.union([z.boolean(), z.object({ rid: rid.optional() }).passthrough()]).optional(),
    simulcast_rid: rid.optional(),
    simulcast_request_rid: ridOrNone.optional(),
    spotlight: z.boolean().optional(),
    spotlight_number: z.number().int().min(1).max(8).optional(),
    spotlight_focus_rid: ridOrNone.optional(),
    spotlight_unfocus_rid: ridOrNone.optional(),
    data_channel_signaling: z.boolean().optional(),
    ignore_disconnect_websocket: z.boolean().optional(),
    data_channels: z.array(dataChannelSpec).max(64).optional(),
    audio_streaming_language_code: z.string().max(64).optional(),
    forwarding_filters: z.array(forwardingFilterSchema).max(100).optional(),
    forwarding_filter: forwardingFilterSchema.optional(),
    redirect: z.boolean().optional(),
    sora_client: z.string().max(1024).optional(),
    environment: z.string().max(4096).optional(),
    libwebrtc: z.string().max(1024).optional(),
  })
  .passthrough();
export type ConnectMessage = z.infer<typeof connectMessage>;

const sdpMessage = <T extends string>(type: T) =>
  z.object({ type: z.literal(type), sdp: z.string().min(1).max(1024 * 1024) }).passthrough();

export const answerMessage = sdpMessage("answer");
export const reAnswerMessage = sdpMessage("re-answer");
export const updateMessage = sdpMessage("update");

export const candidateMessage = z
  .object({
    type: z.literal("candidate"),
    candidate: z.string().max(2048),
    sdpMid: z.string().nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).nullable().optional(),
    usernameFragment: z.string().nullable().optional(),
  })
  .passthrough();

export const pongMessage = z
  .object({ type: z.literal("pong"), stats: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]).optional() })
  .passthrough();

export const statsMessage = z.object({ type: z.literal("stats"), reports: z.array(z.unknown()) }).passthrough();

export const disconnectMessage = z.object({ type: z.literal("disconnect"), reason: z.string().max(256).optional() }).passthrough();

/** Messages valid after `connect`, on the WebSocket or the `signaling` DataChannel. */
export const sessionMessage = z.discriminatedUnion("type", [
  answerMessage,
  reAnswerMessage,
  updateMessage,
  candidateMessage,
  pongMessage,
  statsMessage,
  disconnectMessage,
]);
export type SessionMessage = z.infer<typeof sessionMessage>;

export const MAX_SIGNALING_MESSAGE_BYTES = 1024 * 1024;
