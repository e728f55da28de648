// API error answers: every failure of the HTTP API is a 4xx (5xx only for an edge bug) whose body
// is `{"error_type": "UPPER-KEBAB", "error_reason": {...}}` (error_reason only where it helps), the
// shape Sora uses (`NODE-IS-ALIVE` with `error_reason.target_node` is the one Sora documents).
// This table is the single list: the edge answers only these, and docs/api.md prints it.

export const API_ERRORS = {
  // --- the request itself -------------------------------------------------------------------
  UNAUTHORIZED: { status: 401, description: "No or wrong `authorization: Bearer <API_TOKEN>` header." },
  "NOT-FOUND": {
    status: 404,
    description: "Path other than `/` (API), `/health`, `/openapi.json`, `/signaling`, `/node` or `/devtools/` (when the page is deployed).",
  },
  "METHOD-NOT-ALLOWED": { status: 405, description: "Method other than `POST` (or `OPTIONS` preflight) on `/`." },
  "PAYLOAD-TOO-LARGE": {
    status: 413,
    description: "Request body larger than the limit (1 MiB), or a command it needs would not fit the media node link's 1 MiB frame.",
  },
  "MISSING-TARGET-HEADER": { status: 400, description: "No `x-sora-target` header." },
  "UNKNOWN-TARGET": {
    status: 400,
    description: "`x-sora-target` names no API of this version (wrong name or wrong date); `error_reason.target`.",
  },
  "INVALID-JSON": { status: 400, description: "The body is not JSON, or not a JSON object." },
  "INVALID-REQUEST": {
    status: 400,
    description:
      "The body does not match the API's keys and types, or a free-JSON value (`metadata`, `value`, `info`) is over 64 KiB or 32 levels deep; `error_reason.issues` lists `{path, message}`.",
  },
  // --- state --------------------------------------------------------------------------------
  "CHANNEL-NOT-FOUND": { status: 400, description: "No live session in `channel_id`." },
  "CONNECTION-NOT-FOUND": { status: 400, description: "No such connection in the channel; `error_reason.connection_id`." },
  "SIMULCAST-NOT-ENABLED": { status: 400, description: "RequestRtpStream/ResetRtpStream on a channel or sender without simulcast." },
  "METADATA-NOT-OBJECT": {
    status: 400,
    description: "An item call on a connection whose signaling notify metadata is a JSON value other than an object.",
  },
  "METADATA-TOO-LARGE": {
    status: 400,
    description:
      "The connection's signaling notify metadata after an item call would exceed the free-JSON limits (64 KiB as JSON, 32 levels); `error_reason.limit`.",
  },
  "USER-AGENT-STATS-NOT-FOUND": { status: 400, description: "The connection has not sent any `getStats()` yet." },
  "ALREADY-STARTED": { status: 400, description: "Audio streaming or RTP forwarding is already running." },
  "NOT-STARTED": { status: 400, description: "Audio streaming or RTP forwarding is not running." },
  "FEATURE-NOT-AVAILABLE": { status: 400, description: "The feature is not configured on the media node (e.g. no audio streaming URL)." },
  "NOT-A-SENDER": { status: 400, description: "The connection (or, without one, the whole channel) publishes no media to forward, pin, ask a keyframe of or focus in a spotlight." },
  "INVALID-COMMAND": { status: 400, description: "The media node rejected the command's values (e.g. an address it cannot send to)." },
  "CLIENT-NOT-FOUND": { status: 400, description: "DisconnectClient/PushClient: no connection of the channel has that `client_id`." },
  "SPOTLIGHT-NOT-ENABLED": {
    status: 400,
    description: "A spotlight call (focus API, or a spotlight rid request over DataChannel RPC) on a channel whose session is not a spotlight session.",
  },
  "SPOTLIGHT-NO-ROOM": {
    status: 400,
    description: "FocusSpotlight(Fixed) when every focus slot holds a connection fixed by FocusSpotlightFixed (raise ChangeSpotlightNumber or unfocus one).",
  },
  // --- cluster ------------------------------------------------------------------------------
  "NODE-NOT-FOUND": { status: 400, description: "No node of that name has ever linked to this edge (or it was purged)." },
  "NODE-NOT-CONNECTED": { status: 400, description: "The node named must have a live control link for this call." },
  "NODE-IS-ALIVE": { status: 400, description: "PurgeClusterNode on a node with a live link; `error_reason.target_node`." },
  "NODE-UNREACHABLE": {
    status: 400,
    description: "A media node did not answer a command in time (or has no live link); `error_reason.node_name`.",
  },
  "NOT-CLUSTER-MEMBER": { status: 400, description: "JoinCluster's `contact_node_name` is not a cluster member." },
  "NO-QUORUM": { status: 400, description: "Fewer than a majority of the cluster's members are connected." },
  "NO-CLUSTER-MEMBER": { status: 400, description: "The cluster has no member yet (no node linked with auto_join, no InitCluster)." },
  "NO-CONNECTED-NODE": { status: 400, description: "The call needs at least one connected media node." },
  "NODE-COMMAND-FAILED": { status: 400, description: "The media node refused a command with an error type of its own." },
  // --- bugs -----------------------------------------------------------------------------------
  "INTERNAL-ERROR": { status: 500, description: "A bug in the edge; the request may be retried. Never caused by input." },
} as const satisfies Record<string, { status: number; description: string }>;

export type ApiErrorType = keyof typeof API_ERRORS;

export interface ApiErrorBody {
  error_type: string;
  error_reason?: Record<string, unknown>;
}

/** What a Durable Object API method returns: RPC keeps plain data, so errors travel as values. */
export type ApiResult<T> = { ok: true; answer: T } | { ok: false; status: number; body: ApiErrorBody };

/** Thrown inside the edge and turned into an `ApiResult` / HTTP answer at the boundary. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: ApiErrorBody;

  constructor(error_type: ApiErrorType, error_reason?: Record<string, unknown>) {
    super(error_type);
    this.status = API_ERRORS[error_type].status;
    this.body = error_reason === undefined ? { error_type } : { error_type, error_reason };
  }

  /**
   * A node's failed `ack`: its error_type is passed through with its status (the node speaks the
   * same vocabulary, shared/control-protocol.ts NODE_ERROR_TYPES); an unknown one is wrapped.
   */
  static fromNode(error_type: string | undefined, error_reason: unknown, node_name: string): ApiError {
    const reason = isRecord(error_reason) ? error_reason : error_reason === undefined ? {} : { detail: error_reason };
    // 413: the edge's own refusal to send a command over the link's frame limit (node-links.ts).
    if (error_type && error_type in API_ERRORS && [400, 413].includes(API_ERRORS[error_type as ApiErrorType].status)) {
      return new ApiError(error_type as ApiErrorType, { ...reason, node_name });
    }
    return new ApiError("NODE-COMMAND-FAILED", { ...reason, node_name, node_error_type: error_type ?? null });
  }
}

export function apiErrorBody(error_type: ApiErrorType, error_reason?: Record<string, unknown>): ApiErrorBody {
  return new ApiError(error_type, error_reason).body;
}

/** Runs an API handler and folds an `ApiError` into the result; anything else is a bug (500). */
export async function toApiResult<T>(handler: () => Promise<T>): Promise<ApiResult<T>> {
  try {
    return { ok: true, answer: await handler() };
  } catch (err) {
    if (err instanceof ApiError) return { ok: false, status: err.status, body: err.body };
    console.error("API handler failed", err);
    return { ok: false, status: 500, body: { error_type: "INTERNAL-ERROR" } };
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
