import { z } from "zod";
import type { AudioStreaming } from "../egress/audio-streamer.js";
import type { Logger } from "../logger.js";
import type { Channel } from "../sfu/channel.js";
import type { Sfu } from "../sfu/sfu.js";

// What the session webhook may answer to session.created. Sora lets it turn on audio streaming
// for the session (`audio_streaming: true`), the way to stream every session without calling
// StartAudioStreaming, and set `spotlight_number` for a spotlight session. The answer arrives
// after the session's first connection was admitted (session webhooks never delay signaling), so
// it is applied to the live session: connections already there are streamed from then on, focus
// slots are added or dropped (their senders unfocused). Recording settings are ignored.

const sessionCreatedAnswer = z.looseObject({
  audio_streaming: z.boolean().optional(),
  // As the connect's spotlight_number (1–8).
  spotlight_number: z.number().int().min(1).max(8).optional(),
});

export function applySessionCreatedAnswer(sfu: Sfu, audioStreaming: AudioStreaming, channel: Channel, answer: unknown, log: Logger): void {
  if (answer === undefined) return; // an empty 2xx body: nothing asked
  const parsed = sessionCreatedAnswer.safeParse(answer);
  const context = { channel_id: channel.channelId, session_id: channel.sessionId };
  if (!parsed.success) {
    log.warn({ ...context, issues: parsed.error.issues.slice(0, 3) }, "session webhook answer ignored: not an object with the expected types");
    return;
  }
  if (sfu.channels.get(channel.channelId) !== channel) return; // the session ended while the webhook ran
  const { spotlight_number: spotlightNumber, audio_streaming: streamAudio } = parsed.data;
  if (spotlightNumber !== undefined && channel.setSpotlightNumber(spotlightNumber)) {
    log.info({ ...context, spotlight_number: spotlightNumber }, "spotlight_number set by the session webhook");
  }
  if (streamAudio !== true) return;
  const outcome = audioStreaming.start(channel.channelId);
  if (!outcome.ok) {
    log.warn({ ...context, error_type: outcome.error_type, error_reason: outcome.error_reason }, "session webhook asked for audio streaming; not started");
    return;
  }
  log.info(context, "audio streaming started by the session webhook");
  sfu.sessionUpdated(channel);
}
