import { z } from "zod";

// Limits of free JSON: the values a client or an API caller chooses the shape of (signaling
// notify metadata, connect `metadata`, a metadata item's `value`, GenerateCrashLog `info`).
// Everything that carries them (the edge's Durable Object RPC, JSON.stringify on the node, the
// control link, notifies and pushes over DataChannels) recurses or has a frame limit, so one
// depth and one size bound is checked where they enter (API schemas, the node's `connect`, the
// auth webhook's answer) and every later hop can rely on it. docs/ARCHITECTURE.md "Limits"
// lists where each limit is enforced.
//
// Sora documents neither value (its docs show metadata a few levels deep); these are chosen so
// that a metadata value always fits, with room, in the smallest frame on its way:
//   - a push carrying it over a DataChannel (Chrome's SCTP max-message-size is 256 KiB),
//   - a control-link command carrying it twice (set_notify_metadata + its push, 1 MiB frames),
//   - one Durable Object storage value per connection.

/** Containers on the deepest path: `1` is 0, `{}` is 1, `{"a":[{}]}` is 3. */
export const MAX_JSON_DEPTH = 32;
/** UTF-8 bytes of the value's JSON text. */
export const MAX_METADATA_BYTES = 64 * 1024;

export type JsonLimitProblem = { kind: "depth"; limit: number } | { kind: "size"; limit: number; bytes: number };

/**
 * Depth of a parsed JSON value, stopping as soon as it exceeds `limit` (iterative: a hostile
 * value 100 000 levels deep costs no stack). Returns limit + 1 when it is deeper than `limit`.
 */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    const here = depth + 1;
    if (here > limit) return limit + 1;
    if (here > max) max = here;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const child of children) if (typeof child === "object" && child !== null) stack.push([child, here]);
  }
  return max;
}

/** UTF-8 length of a string without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4; // a surrogate pair is one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Bytes of `value` as JSON text (callers check the depth first: JSON.stringify recurses). */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : utf8Length(text);
}

/** Why `value` is outside the free-JSON limits, or undefined when it is within them. */
export function jsonLimitProblem(value: unknown, maxBytes = MAX_METADATA_BYTES, maxDepth = MAX_JSON_DEPTH): JsonLimitProblem | undefined {
  if (jsonDepth(value, maxDepth) > maxDepth) return { kind: "depth", limit: maxDepth };
  const bytes = jsonBytes(value);
  if (bytes > maxBytes) return { kind: "size", limit: maxBytes, bytes };
  return undefined;
}

export function describeJsonLimitProblem(problem: JsonLimitProblem): string {
  return problem.kind === "depth"
    ? `nested deeper than ${problem.limit} levels`
    : `${problem.bytes} bytes as JSON, more than the limit of ${problem.limit}`;
}

/** Adds a zod issue when the value is outside the limits (for `.superRefine`). */
export function checkJsonLimits(value: unknown, ctx: z.RefinementCtx, maxBytes = MAX_METADATA_BYTES): void {
  const problem = jsonLimitProblem(value, maxBytes);
  if (problem) ctx.addIssue({ code: "custom", message: `free JSON ${describeJsonLimitProblem(problem)}`, params: { json_limit: problem.kind } });
}

/** Any JSON value within the free-JSON limits (absent allowed where the caller adds `.optional()`). */
export const boundedJson = z.unknown().superRefine((value, ctx) => checkJsonLimits(value, ctx));
