import { z } from "zod";
import { SIGNALING_CLOSE } from "../../../shared/close-codes.js";
import { ridOrNoneSchema, ridSchema } from "../../../shared/control-protocol.js";
import { boundedJson } from "../../../shared/json-limits.js";
import { newSoraId } from "../../../shared/ids.js";
import { PRODUCT_NAME, SORA_COMPAT_VERSION } from "../../../shared/version.js";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { Channel } from "../sfu/channel.js";
import { Refusal, type Authorization } from "../sfu/sfu.js";
import { connectMessage, type ConnectMessage } from "../signaling/messages.js";
import type { BucketHistogram } from "../metrics/bucket-histogram.js";
import type { WebhookCounters } from "./counters.js";
import { postJson, type WebhookFailure } from "./http.js";

// Sora's auth webhook: asked on every connect that passed admission, before the offer. Its
// answer refuses the connect or allows it, possibly rewriting it (client_id, media, simulcast,
// DataChannels...) before the Connection is built. No retries: the client is waiting.

/** WebSocket close codes of auth refusals (Sora's own are undocumented; see README). */
export const AUTH_CLOSE = {
  /** The webhook answered `allowed: false`; the reason is the webhook's `reason` when it gave one. */
  denied: SIGNALING_CLOSE.refused,
  /** The webhook could not be asked or answered nonsense: a server-side failure, retrying may help. */
  failed: SIGNALING_CLOSE.unavailable,
} as const;

export const AUTH_DENIED_REASON = "AUTH-WEBHOOK-DENIED";

const FAILURE_REASONS: Record<WebhookFailure | "invalid-response", string> = {
  timeout: "AUTH-WEBHOOK-TIMEOUT",
  unreachable: "AUTH-WEBHOOK-UNREACHABLE",
  "bad-status": "AUTH-WEBHOOK-BAD-STATUS",
  "invalid-json": "AUTH-WEBHOOK-INVALID-RESPONSE",
  "invalid-response": "AUTH-WEBHOOK-INVALID-RESPONSE",
};

const rid = ridSchema;
const ridOrNone = ridOrNoneSchema;
const params = z.record(z.string(), z.unknown());
/** `simulcast_encodings` / `spotlight_encodings`: passed to the offer as they are, like Sora; each names its rid. */
const encodings = z.array(z.object({ rid }).loose()).min(1).max(3);

/** The answer; unknown keys are ignored (Sora has more overrides than this node applies). */
const authResponse = z
  .object({
    allowed: z.boolean(),
    reason: z.string().optional(),
    // Free JSON within shared/json-limits.ts, like a client's: it reaches notifies and the edge link.
    metadata: boundedJson.optional(),
    event_metadata: boundedJson.optional(),
    authz_metadata: boundedJson.optional(),
    signaling_notify: z.boolean().optional(),
    signaling_notify_metadata: boundedJson.optional(),
    client_id: z.string().min(1).max(255).optional(),
    bundle_id: z.string().min(1).max(255).optional(),
    audio: z.union([z.boolean(), params]).optional(),
    audio_codec_type: z.string().optional(),
    audio_bit_rate: z.number().int().optional(),
    audio_opus_params: params.optional(),
    video: z.union([z.boolean(), params]).optional(),
    video_codec_type: z.string().optional(),
    video_bit_rate: z.number().int().optional(),
    video_vp9_params: params.optional(),
    video_av1_params: params.optional(),
    video_h264_params: params.optional(),
    simulcast: z.boolean().optional(),
    simulcast_rid: rid.optional(),
    simulcast_request_rid: ridOrNone.optional(),
    simulcast_encodings: encodings.optional(),
    spotlight: z.boolean().optional(),
    spotlight_encodings: encodings.optional(),
    spotlight_number: z.number().int().optional(),
    spotlight_focus_rid: ridOrNone.optional(),
    spotlight_unfocus_rid: ridOrNone.optional(),
    data_channel_signaling: z.boolean().optional(),
    ignore_disconnect_websocket: z.boolean().optional(),
    data_channels: z.array(z.unknown()).optional(),
    audio_streaming_language_code: z.string().optional(),
    connection_lifetime: z.number().int().min(1).optional(),
    /** Sora 2025.2 DataChannel RPC: the methods this connection may call (copied to offer `rpc_methods`). */
    rpc_methods: z.array(z.string().max(255)).max(64).optional(),
    /** The rids RPC RequestSimulcastRid may ask (sora-js-sdk e2e rpc grants ["none","r0","r1","r2"]); the notify's `rpc_rids`. */
    simulcast_rpc_rids: z.array(ridOrNone).max(4).optional(),
  })
  .loose();
type AuthResponse = z.infer<typeof authResponse>;

/** Fields copied as they are onto the connect (then validated with the connect schema). */
const DIRECT_OVERRIDES = [
  "client_id",
  "bundle_id",
  "signaling_notify_metadata",
  "simulcast",
  "simulcast_rid",
  "simulcast_request_rid",
  "spotlight",
  "spotlight_number",
  "spotlight_focus_rid",
  "spotlight_unfocus_rid",
  "data_channel_signaling",
  "ignore_disconnect_websocket",
  "data_channels",
  "audio_streaming_language_code",
  "forwarding_filter",
  "forwarding_filters",
] as const;

/** The overrides this node applies (README "Configuration" lists them); the rest are ignored. */
export const APPLIED_OVERRIDES = [
  ...DIRECT_OVERRIDES,
  "audio",
  "audio_codec_type",
  "audio_bit_rate",
  "audio_opus_params",
  "video",
  "video_codec_type",
  "video_bit_rate",
  "video_vp9_params",
  "video_av1_params",
  "video_h264_params",
  "metadata",
  "event_metadata",
  "authz_metadata",
  "signaling_notify",
  "connection_lifetime",
  "simulcast_encodings",
  "spotlight_encodings",
  "rpc_methods",
  "simulcast_rpc_rids",
] as const;

export class AuthWebhook {
  constructor(
    private readonly url: string,
    private readonly config: NodeConfig,
    private readonly counters: WebhookCounters,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
    private readonly durations?: BucketHistogram,
  ) {}

  /** Sfu.authorizer: resolves with the (rewritten) connect, or throws Refusal. */
  async authorize(connect: ConnectMessage, connectionId: string, channel: Channel | undefined): Promise<Authorization> {
    const body = authRequestBody(connect, connectionId, channel, this.config);
    const started = performance.now();
    const result = await postJson(this.url, body, {
      timeoutMs: this.config.webhooks.timeoutMs,
      headers: { "sora-connection-id": connectionId },
      signal: this.signal,
    });
    this.durations?.observe((performance.now() - started) / 1000);
    const log = this.log.child({ connection_id: connectionId, channel_id: connect.channel_id });
    if (!result.ok) return this.failed(log, result.failure, { status: result.status, error: result.error });
    const parsed = authResponse.safeParse(result.body);
    if (!parsed.success) return this.failed(log, "invalid-response", { issues: parsed.error.issues.slice(0, 3) });
    const answer = parsed.data;
    if (!answer.allowed) {
      this.counters.total_successful_auth_webhook++;
      this.counters.total_auth_webhook_denied++;
      log.info({ reason: answer.reason }, "auth webhook denied");
      throw new Refusal(closeReason(answer.reason), AUTH_CLOSE.denied);
    }
    const rewritten = connectMessage.safeParse(applyOverrides(connect, answer));
    if (!rewritten.success) return this.failed(log, "invalid-response", { issues: rewritten.error.issues.slice(0, 3) });
    this.counters.total_successful_auth_webhook++;
    this.counters.total_auth_webhook_allowed++;
    const auth: Authorization = { connect: rewritten.data };
    if ("metadata" in answer) auth.authnMetadata = answer.metadata;
    if ("event_metadata" in answer) auth.eventMetadata = answer.event_metadata;
    if ("authz_metadata" in answer) auth.authzMetadata = answer.authz_metadata;
    if (answer.signaling_notify !== undefined) auth.signalingNotify = answer.signaling_notify;
    if (answer.connection_lifetime !== undefined) auth.lifetimeSec = answer.connection_lifetime;
    if (answer.simulcast_encodings) auth.simulcastEncodings = answer.simulcast_encodings;
    if (answer.spotlight_encodings) auth.spotlightEncodings = answer.spotlight_encodings;
    if (answer.rpc_methods) auth.rpcMethods = answer.rpc_methods;
    if (answer.simulcast_rpc_rids) auth.simulcastRpcRids = answer.simulcast_rpc_rids;
    return auth;
  }

  private failed(log: Logger, failure: WebhookFailure | "invalid-response", detail: Record<string, unknown>): never {
    this.counters.total_failed_auth_webhook++;
    log.warn({ failure, ...detail }, "auth webhook failed; connect refused");
    throw new Refusal(FAILURE_REASONS[failure], AUTH_CLOSE.failed);
  }
}

/** A WebSocket close reason is at most 123 bytes of UTF-8; cut on a character boundary. */
export function closeReason(reason: string | undefined): string {
  if (!reason) return AUTH_DENIED_REASON;
  let out = "";
  for (const ch of reason) {
    if (Buffer.byteLength(out + ch) > 123) break;
    out += ch;
  }
  return out;
}

/** The auth webhook's body, derived from `connect` the way Sora's is (not a copy of it). */
export function authRequestBody(connect: ConnectMessage, connectionId: string, channel: Channel | undefined, config: NodeConfig): Record<string, unknown> {
  const audioObj = typeof connect.audio === "object" ? connect.audio : undefined;
  const videoObj = typeof connect.video === "object" ? connect.video : undefined;
  const audio = connect.audio !== false;
  const video = connect.video !== false;
  const counters = channel?.counters() ?? {
    channel_connections: 0,
    channel_sendrecv_connections: 0,
    channel_sendonly_connections: 0,
    channel_recvonly_connections: 0,
  };
  const body: Record<string, unknown> = {
    timestamp: new Date().toISOString(),
    id: newSoraId(),
    version: SORA_COMPAT_VERSION,
    label: PRODUCT_NAME,
    node_name: config.nodeName,
    role: connect.role,
    channel_id: connect.channel_id,
    client_id: connect.client_id ?? connectionId,
    bundle_id: connect.bundle_id ?? connectionId,
    connection_id: connectionId,
    multistream: true,
    simulcast: connect.simulcast !== undefined && connect.simulcast !== false,
    spotlight: connect.spotlight === true,
    audio,
    video,
    data_channel_signaling: connect.data_channel_signaling === true,
    ignore_disconnect_websocket: connect.ignore_disconnect_websocket === true,
    e2ee: false,
    whip: false,
    redirect: connect.redirect === true,
    ...counters,
    sora_client: soraClient(connect),
  };
  if (connect.simulcast_rid !== undefined) body.simulcast_rid = connect.simulcast_rid;
  if (connect.simulcast_request_rid !== undefined) body.simulcast_request_rid = connect.simulcast_request_rid;
  if (connect.spotlight_number !== undefined) body.spotlight_number = connect.spotlight_number;
  if (connect.spotlight_focus_rid !== undefined) body.spotlight_focus_rid = connect.spotlight_focus_rid;
  if (connect.spotlight_unfocus_rid !== undefined) body.spotlight_unfocus_rid = connect.spotlight_unfocus_rid;
  if (audio) {
    body.audio_codec_type = audioObj?.codec_type ?? "OPUS";
    if (audioObj?.bit_rate !== undefined) body.audio_bit_rate = audioObj.bit_rate;
    if (audioObj?.opus_params !== undefined) body.audio_opus_params = audioObj.opus_params;
  }
  if (video) {
    body.video_codec_type = videoObj?.codec_type ?? config.defaultVideoCodec;
    if (videoObj?.bit_rate !== undefined) body.video_bit_rate = videoObj.bit_rate;
    if (videoObj?.vp9_params !== undefined) body.video_vp9_params = videoObj.vp9_params;
    if (videoObj?.av1_params !== undefined) body.video_av1_params = videoObj.av1_params;
    if (videoObj?.h264_params !== undefined) body.video_h264_params = videoObj.h264_params;
    if (videoObj?.h265_params !== undefined) body.video_h265_params = videoObj.h265_params;
  }
  if (connect.data_channels !== undefined) body.data_channels = connect.data_channels;
  // Present only when the client sent them (null-valued members kept as they are).
  if ("metadata" in connect) body.metadata = connect.metadata;
  if ("signaling_notify_metadata" in connect) body.signaling_notify_metadata = connect.signaling_notify_metadata;
  if (connect.audio_streaming_language_code !== undefined) body.audio_streaming_language_code = connect.audio_streaming_language_code;
  if (connect.forwarding_filters !== undefined) body.forwarding_filters = connect.forwarding_filters;
  if (connect.forwarding_filter !== undefined) body.forwarding_filter = connect.forwarding_filter;
  return body;
}

/** Sora splits the SDK's `sora_client` string ("Sora JavaScript SDK 2025.2.0 (abc1234)"). */
export function soraClient(connect: ConnectMessage): Record<string, string | null> {
  const raw = connect.sora_client ?? null;
  const m = raw ? /^(.*?)\s+(\d{4}\.\d+\.\d+\S*)(?:\s+\(([0-9a-f]+)\))?$/.exec(raw) : null;
  return {
    raw,
    type: m ? m[1]! : raw,
    version: m ? m[2]! : null,
    commit_short: m?.[3] ?? null,
    environment: connect.environment ?? null,
    libwebrtc: connect.libwebrtc ?? null,
  };
}

/** The connect as the auth webhook's answer rewrites it; validated again by the caller. */
export function applyOverrides(connect: ConnectMessage, answer: AuthResponse): Record<string, unknown> {
  const out: Record<string, unknown> = { ...connect };
  for (const key of DIRECT_OVERRIDES) if (answer[key] !== undefined) out[key] = answer[key];
  out.audio = mediaOverride(connect.audio, answer.audio, {
    codec_type: answer.audio_codec_type,
    bit_rate: answer.audio_bit_rate,
    opus_params: answer.audio_opus_params,
  });
  out.video = mediaOverride(connect.video, answer.video, {
    codec_type: answer.video_codec_type,
    bit_rate: answer.video_bit_rate,
    vp9_params: answer.video_vp9_params,
    av1_params: answer.video_av1_params,
    h264_params: answer.video_h264_params,
  });
  if (out.audio === undefined) delete out.audio;
  if (out.video === undefined) delete out.video;
  return out;
}

/** `audio`/`video`: false wins; an object merges over the client's; *_codec_type etc. refine an enabled medium. */
function mediaOverride(
  requested: ConnectMessage["audio"] | ConnectMessage["video"],
  override: boolean | Record<string, unknown> | undefined,
  fields: Record<string, unknown>,
): unknown {
  let value: unknown = requested;
  if (override === false) return false;
  if (override === true) value = requested === false || requested === undefined ? true : requested;
  else if (typeof override === "object") value = { ...(typeof requested === "object" ? requested : {}), ...override };
  if (value === false) return false;
  const set = Object.entries(fields).filter(([, v]) => v !== undefined);
  if (set.length === 0) return value;
  return { ...(typeof value === "object" && value !== null ? value : {}), ...Object.fromEntries(set) };
}
