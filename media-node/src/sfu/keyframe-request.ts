// RequestKeyFrame (Sora 2024.2.0): the server asks the sender for a keyframe with a PLI every
// second, at most 5 times, until one arrives (dev-doc API_CONNECTION; sora-python-sdk
// tests/test_key_frame_request.py expects keyFramesEncoded ≥ 0.7 × pliCount, so no flooding).
// This is the schedule alone, per simulcast layer; Publication sends the PLIs and reports keyframes.

export const KEY_FRAME_REQUEST_INTERVAL_MS = 1_000;
export const KEY_FRAME_REQUEST_MAX_PLIS = 5;

export class KeyFrameRequest {
  private plisSent = 0;
  private nextAtMs = 0;
  private done = true;

  /** A new API request: the first PLI is due now (a request during a chase restarts it). */
  start(nowMs: number): void {
    this.plisSent = 0;
    this.nextAtMs = nowMs;
    this.done = false;
  }

  get pending(): boolean {
    return !this.done;
  }

  /** A keyframe arrived on the layer: nothing more to ask. */
  keyFrameReceived(): void {
    this.done = true;
  }

  /** Whether a PLI should go out now; counts it when so. Ends the chase after the last PLI's interval. */
  takePli(nowMs: number): boolean {
    if (this.done || nowMs < this.nextAtMs) return false;
    if (this.plisSent >= KEY_FRAME_REQUEST_MAX_PLIS) {
      this.done = true;
      return false;
    }
    this.plisSent++;
    this.nextAtMs = nowMs + KEY_FRAME_REQUEST_INTERVAL_MS;
    return true;
  }
}
