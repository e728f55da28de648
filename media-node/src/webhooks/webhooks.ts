import type { NodeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { AudioStreaming } from "../egress/audio-streamer.js";
import type { Sfu } from "../sfu/sfu.js";
import { AuthWebhook } from "./auth-webhook.js";
import { newWebhookCounters, newWebhookDurations, type WebhookCounters, type WebhookDurations } from "./counters.js";
import { LifecycleWebhooks } from "./lifecycle-webhooks.js";
import { applySessionCreatedAnswer } from "./session-answer.js";

// The node's webhooks, wired onto the SFU: the auth webhook as its authorizer, session/event
// webhooks as a lifecycle listener. Only what has a URL configured is attached.

export class Webhooks {
  readonly counters: WebhookCounters = newWebhookCounters();
  readonly durations: WebhookDurations = newWebhookDurations();
  private readonly abort = new AbortController();
  private readonly lifecycle?: LifecycleWebhooks;

  constructor(sfu: Sfu, audioStreaming: AudioStreaming, config: NodeConfig, log: Logger) {
    const w = config.webhooks;
    const wlog = log.child({ component: "webhooks" });
    if (w.authUrl) {
      const auth = new AuthWebhook(w.authUrl, config, this.counters, wlog, this.abort.signal, this.durations.auth);
      sfu.authorizer = (connect, connectionId, channel) => auth.authorize(connect, connectionId, channel);
    }
    if (w.sessionUrl || w.eventUrl) {
      this.lifecycle = new LifecycleWebhooks({ session: w.sessionUrl, event: w.eventUrl }, config, this.counters, wlog, this.abort.signal, (channel, answer) =>
        applySessionCreatedAnswer(sfu, audioStreaming, channel, answer, wlog),
      this.durations,
      );
      sfu.listeners.push(this.lifecycle);
    }
  }

  static enabled(config: NodeConfig): boolean {
    const w = config.webhooks;
    return Boolean(w.authUrl || w.sessionUrl || w.eventUrl);
  }

  /**
   * After signaling has closed: lets the shutdown's own destroyed webhooks finish (bounded by
   * the timeout), stops periodic and retried ones, then aborts whatever is left.
   */
  async stop(): Promise<void> {
    await this.lifecycle?.stop();
    this.abort.abort();
  }
}
