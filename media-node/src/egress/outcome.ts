// What an egress operation answers: the result the API caller gets (through the edge's command
// ack) or a Sora-style error type. Shaped like the control link's CommandOutcome so NodeControl
// can pass it through unchanged.

export type EgressOutcome<T> = { ok: true; result: T } | { ok: false; error_type: EgressErrorType; error_reason: Record<string, unknown> };

export type EgressErrorType =
  | "CHANNEL-NOT-FOUND"
  | "CONNECTION-NOT-FOUND"
  | "ALREADY-STARTED"
  | "NOT-STARTED"
  | "NOT-A-SENDER"
  | "INVALID-COMMAND"
  | "FEATURE-NOT-AVAILABLE";

export const succeed = <T>(result: T): EgressOutcome<T> => ({ ok: true, result });

export const refuse = <T = never>(error_type: EgressErrorType, error_reason: Record<string, unknown>): EgressOutcome<T> => ({
  ok: false,
  error_type,
  error_reason,
});
