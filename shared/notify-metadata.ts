import { ApiError, isRecord } from "./api/errors.js";
import { describeJsonLimitProblem, jsonLimitProblem } from "./json-limits.js";

// The four signaling-notify-metadata changes as pure functions: the new metadata, what the API
// answers (Sora: "after", except DeleteSignalingNotifyMetadata which answers "before") and the
// push the channel's clients get with `push: true`. The push action is the API name without
// "SignalingNotify" (PutSignalingNotifyMetadataItem → PutMetadataItem), as Sora sends it.

export type MetadataChange =
  | { action: "PutMetadata"; metadata: Record<string, unknown> }
  | { action: "DeleteMetadata" }
  | { action: "PutMetadataItem"; key: string; value: unknown }
  | { action: "DeleteMetadataItem"; key: string };

export interface MetadataOutcome {
  /** Undefined = the connection has no metadata any more. */
  after: unknown;
  answer: unknown;
  push: Record<string, unknown>;
}

export function applyMetadataChange(connectionId: string, before: unknown, change: MetadataChange): MetadataOutcome {
  const outcome = outcomeOf(connectionId, before, change);
  // Items add up: each `value` is within the limits, the object they build must be too (it
  // travels whole in notifies, the node command and the hello snapshot).
  const problem = outcome.after === undefined ? undefined : jsonLimitProblem(outcome.after);
  if (problem) {
    throw new ApiError("METADATA-TOO-LARGE", { connection_id: connectionId, limit: problem.kind, detail: `the metadata would be ${describeJsonLimitProblem(problem)}` });
  }
  return outcome;
}

function outcomeOf(connectionId: string, before: unknown, change: MetadataChange): MetadataOutcome {
  const push = { type: "signaling_notify_metadata_ext", action: change.action, connection_id: connectionId };
  switch (change.action) {
    case "PutMetadata":
      return { after: change.metadata, answer: change.metadata, push: { ...push, metadata: change.metadata } };
    case "DeleteMetadata":
      return { after: undefined, answer: before ?? {}, push };
    case "PutMetadataItem": {
      const after = { ...asObject(before, connectionId), [change.key]: change.value };
      return { after, answer: after, push: { ...push, key: change.key, value: change.value } };
    }
    case "DeleteMetadataItem": {
      const { [change.key]: _removed, ...after } = asObject(before, connectionId);
      return { after, answer: after, push: { ...push, key: change.key } };
    }
  }
}

function asObject(metadata: unknown, connectionId: string): Record<string, unknown> {
  if (metadata === undefined || metadata === null) return {};
  if (!isRecord(metadata)) throw new ApiError("METADATA-NOT-OBJECT", { connection_id: connectionId });
  return metadata;
}
