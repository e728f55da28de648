// WebSocket close codes of Sora signaling, as both the media node (media-node/src/signaling) and
// the edge's signaling redirect (edge/src/signaling-redirect.ts) send them. 1000 ends a session
// normally (sora-js-sdk treats any other code as abnormal); the 4000 range (application, RFC 6455
// §7.4.2) echoes the HTTP status of the cause. Sora's own codes are undocumented: these are our
// choice (README: signaling errors and the auth webhook table).

export const SIGNALING_CLOSE = {
  normal: 1000,
  /** Malformed or out-of-order signaling, a connect that is not allowed as given. */
  badRequest: 4400,
  /** Refused by the node's mode or by the auth webhook (`allowed: false`). */
  refused: 4403,
  /** No connect / answer in time. */
  timeout: 4408,
  /** Over a per-session bound (candidates). */
  tooMany: 4429,
  internal: 4500,
  /** Nothing can serve it now (no media node; auth webhook unreachable or nonsense): retrying may help. */
  unavailable: 4503,
} as const;

export type SignalingCloseCode = (typeof SIGNALING_CLOSE)[keyof typeof SIGNALING_CLOSE];
