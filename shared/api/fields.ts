import { z } from "zod";
import { nodeModeSchema, ridOrNoneSchema, ridSchema } from "../control-protocol.js";
import { checkJsonLimits, MAX_JSON_DEPTH, MAX_METADATA_BYTES } from "../json-limits.js";

// The keys that recur across API calls, with their ranges, so every target validates a
// `channel_id` (or a port, a bitrate...) the same way.

/** Sora ids and names: non-empty, at most 255 characters. */
const name = (what: string) => z.string().min(1, `${what} must not be empty`).max(255, `${what} is at most 255 characters`);

export const channelId = name("channel_id").describe("Channel id.");
export const connectionId = name("connection_id").describe("Connection id (26 characters in Sora's format).");
export const nodeName = name("node_name").describe("Media node name, e.g. `node-01@192.0.2.5`.");
export const rid = ridSchema.describe("Simulcast layer: `r0` (lowest) … `r2` (highest).");
export const ridOrNone = ridOrNoneSchema.describe("`none` (no video of that sender) or a simulcast layer `r0` (lowest) … `r2` (highest).");
export const mode = nodeModeSchema.describe("`normal`, `block_new_session` or `block_new_connection`.");
/** ListClusterNodes also reports `initial` (Sora's state of a node not yet serving). */
export const reportedMode = z.enum([...nodeModeSchema.options, "initial"]);
export const push = z.boolean().optional().describe("Also push the change to every client of the channel.");
/** kbps, Sora's range. */
export const bitRate = z.number().int().min(1).max(30000).describe("Upstream video bitrate in kbps, 1–30000.");
export const port = z.number().int().min(1).max(65535);
export const ipAddress = z.union([z.ipv4(), z.ipv6()]).describe("IPv4 or IPv6 address.");
/** Free JSON stays within shared/json-limits.ts: the Durable Object RPC and the node link rely on it. */
const limits = `at most ${MAX_JSON_DEPTH} levels deep and ${MAX_METADATA_BYTES / 1024} KiB as JSON`;
/** Any JSON object (signaling notify metadata, crash log info). */
export const jsonObject = z
  .record(z.string(), z.unknown())
  .superRefine((v, ctx) => checkJsonLimits(v, ctx))
  .describe(`JSON object, ${limits}.`);
/** Any JSON value (a metadata item). `z.unknown()` would accept a missing key, so require presence. */
export const jsonValue = z
  .unknown()
  .refine((v) => v !== undefined, "value is required")
  .superRefine((v, ctx) => checkJsonLimits(v, ctx))
  .describe(`JSON value, ${limits}.`);

export const channelKey = { channel_id: channelId };
export const connectionKey = { channel_id: channelId, connection_id: connectionId };
export const streamPair = { channel_id: channelId, recv_connection_id: connectionId, send_connection_id: connectionId };
