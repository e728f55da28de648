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
