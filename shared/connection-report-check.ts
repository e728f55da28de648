import { roleSchema, type NodeReport } from "./control-protocol.js";

// A check of the two reports a node sends thousands of times a second (`connection.created`,
// `connection.destroyed`) that the edge runs before zod. zod cannot compile its parsers in
// workerd (code generation from strings is not allowed there), and its interpreted parse of
// these two was ≈ 14 % of the edge's thread and a quarter of the garbage it allocated under the
// load test (docs/performance.md). This check accepts a report only when it is exactly one zod
// would accept and return unchanged (no unknown keys, every value of its type); anything else —
// every odd, hostile or malformed message — returns undefined and goes to nodeReportSchema,
// which stays the authority and gives the error. test/node/connection-report-check.test.ts holds
// it to that against the schema.

type ConnectionReport = Extract<NodeReport, { type: "connection.created" | "connection.destroyed" }>;

const ROLES: ReadonlySet<unknown> = new Set(roleSchema.options);
// The keys are listed, not taken from the schemas: a field added there makes the check send its
// reports to zod until it checks that field too (the test compares these with the schemas).
export const CREATED_KEYS: ReadonlySet<string> = new Set(["type", "seq", "channel_id", "session_id", "connection"]);
export const DESTROYED_KEYS: ReadonlySet<string> = new Set(["type", "seq", "channel_id", "session_id", "connection_id"]);
export const CONNECTION_KEYS: ReadonlySet<string> = new Set([
  "connection_id",
  "client_id",
  "bundle_id",
  "role",
  "simulcast",
  "spotlight",
  "audio",
  "video",
  "signaling_notify_metadata",
  "created_at",
]);

/** `raw` as a valid connection report when it is one exactly as zod would return it; otherwise undefined (ask zod). */
export function checkedConnectionReport(raw: unknown): ConnectionReport | undefined {
  if (!isRecord(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const created = r.type === "connection.created";
  if (!created && r.type !== "connection.destroyed") return undefined;
  if (!onlyKeys(r, created ? CREATED_KEYS : DESTROYED_KEYS) || !isSeq(r.seq) || typeof r.channel_id !== "string" || typeof r.session_id !== "string") return undefined;
  const valid = created ? isConnectionInfo(r.connection) : typeof r.connection_id === "string";
  return valid ? (raw as ConnectionReport) : undefined;
}

function isConnectionInfo(value: unknown): boolean {
  if (!isRecord(value)) return false;
  const c = value as Record<string, unknown>;
  return (
    onlyKeys(c, CONNECTION_KEYS) &&
    typeof c.connection_id === "string" &&
    typeof c.client_id === "string" &&
    typeof c.bundle_id === "string" &&
    ROLES.has(c.role) &&
    typeof c.simulcast === "boolean" &&
    typeof c.spotlight === "boolean" &&
    (c.audio === undefined || typeof c.audio === "boolean") &&
    (c.video === undefined || typeof c.video === "boolean") &&
    Number.isSafeInteger(c.created_at)
  );
}

/** A plain object (what JSON.parse makes): not an array, not null, no prototype tricks. */
function isRecord(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  return Object.getPrototypeOf(value) === Object.prototype;
}

function onlyKeys(record: Record<string, unknown>, allowed: ReadonlySet<string>): boolean {
  for (const key in record) if (!allowed.has(key)) return false;
  return true;
}

function isSeq(value: unknown): boolean {
  return value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0);
}
