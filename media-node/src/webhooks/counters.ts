import { BucketHistogram } from "../metrics/bucket-histogram.js";

// Webhook counters, named as in Sora's GetStatsReport (reported to the edge by NodeControl).
// A webhook "succeeds" on a 2xx whose body, if any, is valid JSON (auth: and a valid answer).

export interface WebhookCounters {
  total_auth_webhook_allowed: number;
  total_auth_webhook_denied: number;
  total_successful_auth_webhook: number;
  total_failed_auth_webhook: number;
  total_successful_session_webhook: number;
  total_failed_session_webhook: number;
  total_successful_event_webhook: number;
  total_failed_event_webhook: number;
}

/** How long webhook requests took (seconds, every attempt, whatever the outcome), per kind; read by /metrics. */
export type WebhookDurations = Record<"auth" | "session" | "event", BucketHistogram>;

/** Upper bounds (seconds) up to the longest sensible webhook timeout. */
export const WEBHOOK_DURATION_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function newWebhookDurations(): WebhookDurations {
  return {
    auth: new BucketHistogram(WEBHOOK_DURATION_BOUNDS),
    session: new BucketHistogram(WEBHOOK_DURATION_BOUNDS),
    event: new BucketHistogram(WEBHOOK_DURATION_BOUNDS),
  };
}

export function newWebhookCounters(): WebhookCounters {
  return {
    total_auth_webhook_allowed: 0,
    total_auth_webhook_denied: 0,
    total_successful_auth_webhook: 0,
    total_failed_auth_webhook: 0,
    total_successful_session_webhook: 0,
    total_failed_session_webhook: 0,
    total_successful_event_webhook: 0,
    total_failed_event_webhook: 0,
  };
}
