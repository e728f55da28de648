import type { SequenceRebaser } from "./sequence-rebaser.js";
import type { Vp8Munger } from "./vp8-munger.js";

// The forwarding decision of one outgoing copy of a track (LiveKit's Forwarder.GetTranslationParams,
// mediasoup's SeqManager + KeyFrameRequestManager): which simulcast layer to relay, when to switch
// (only on a keyframe of the new layer, or the decoder sees a picture it has no reference for),
// pause/resume, when to ask the sender for a keyframe, and the packet's rewritten sequence number
// and timestamp. Pure: no I/O, no clock (time comes in), no allocation per packet. The result of a
// call is a bit set of the flags below plus fields on the instance, read by the caller right
// after (a subscriber leg in sfu/subscription.ts, a plain-RTP forward leg in egress/rtp-leg.ts),
// which does the sending and the keyframe request itself.

/** No layer (none wanted, or none relayed yet). */
export const NO_LAYER = -1;
/** While waiting for a keyframe, re-ask this often (the first PLI may be lost or ignored). */
export const KEYFRAME_RETRY_MS = 500;

/** Send this packet with `outSeq`/`outTs`. */
export const FORWARD = 1;
/** The relayed layer changed at this packet (`previousLayer` → its layer), forwarded or not. */
export const SWITCHED = 2;
/** The switch is one to report (Sora's `simulcast.switched`): not the first layer relayed, not back to the same one. */
export const NOTIFY_SWITCH = 4;
/** Ask the sender for a keyframe of `keyframeLayer` (`keyframeUrgent`: skip the publication's throttle). */
export const REQUEST_KEYFRAME = 8;

/** What moved the relayed layer: the receiver's choice (request, spotlight rid) or the sender's layers starting/stopping. */
export type SwitchTrigger = "receiver" | "sender";

/** A layer of the source as the forwarder sees it: whether it is sending now. */
export interface LiveLayer {
  isActive(nowMs: number): boolean;
}

export interface ForwarderOptions {
  /** The source's layers (index 0 lowest); read, never changed. */
  readonly layers: readonly LiveLayer[];
  /** Simulcast: the relayed layer follows the wanted one and the live layers. */
  readonly simulcast: boolean;
  /** Video: the receiver needs a keyframe before anything else decodes. */
  readonly video: boolean;
  readonly clockRate: number;
  /** The receiver's sequence/timestamp space (may outlive the forwarder: egress/rtp-leg.ts). */
  readonly rebaser: SequenceRebaser;
  /** VP8 picture-id continuity; rebased here at each new source run, applied by the writer. */
  readonly vp8?: Vp8Munger;
  /** Layer relayed before any keyframe: NO_LAYER waits for a keyframe of the target. */
  readonly startLayer: number;
  readonly wantedLayer: number;
  /** Layer chased at the start (NO_LAYER: chosen from the live layers at the first packet). */
  readonly targetLayer: number;
  /**
   * Simulcast: relay exactly the wanted layer, never another one when it stops (a cluster relay
   * leg carries one layer per m-line: the far node's Publication layer must stay that layer).
   */
  readonly pinned?: boolean;
}

export class Forwarder {
  // Result fields of the last call.
  outSeq = 0;
  outTs = 0;
  /** outTs - source timestamp of the last forwarded packet (kept for NACK answers). */
  tsOffset = 0;
  keyframeLayer = NO_LAYER;
  keyframeUrgent = false;
  /** At a switch: the last real layer relayed before (NO_LAYER before the first). */
  previousLayer = NO_LAYER;
  /** Why the target last changed; reported with the switch it leads to. */
  switchTrigger: SwitchTrigger = "receiver";

  paused = false;
  /** Layer the receiver asked for (RequestRtpStream / simulcast_rid; NO_LAYER = none), the one chased, the one relayed. */
  wantedLayer: number;
  targetLayer: number;
  currentLayer: number;
  /** Switches made so far, the first layer relayed included. */
  layerSwitches = 0;
  lastKeyframeAskMs = 0;
  /** The last real layer relayed (NO_LAYER before the first): `previous_rid` of the next switch. */
  private lastRelayedLayer = NO_LAYER;
  /**
   * Video: no keyframe has reached the receiver since it became reachable (or since a resume):
   * until one is forwarded, the layer is asked for one every KEYFRAME_RETRY_MS.
   */
  private awaitingKeyframe: boolean;
  private readonly layers: readonly LiveLayer[];
  private readonly simulcast: boolean;
  private readonly video: boolean;
  private readonly clockRate: number;
  private readonly rebaser: SequenceRebaser;
  private readonly vp8?: Vp8Munger;
  private readonly pinned: boolean;

  constructor(options: ForwarderOptions) {
    this.pinned = options.pinned === true;
    this.layers = options.layers;
    this.simulcast = options.simulcast;
    this.video = options.video;
    this.clockRate = options.clockRate;
    this.rebaser = options.rebaser;
    this.vp8 = options.vp8;
    this.currentLayer = options.startLayer;
    this.wantedLayer = options.wantedLayer;
    this.targetLayer = options.targetLayer;
    this.awaitingKeyframe = options.video;
  }

  /**
   * Hot path: one call per packet of any layer of the source. `deliverable` false: the receiver's
   * transport cannot carry it yet (DTLS not connected), so whatever keyframe this was, it will
   * need another. Returns FORWARD/SWITCHED/NOTIFY_SWITCH/REQUEST_KEYFRAME flags.
   */
  decide(layer: number, keyframe: boolean, sourceSeq: number, sourceTs: number, nowMs: number, deliverable = true): number {
    this.keyframeLayer = NO_LAYER;
    if (this.paused) return 0;
    let flags = 0;
    if (this.simulcast || this.targetLayer === NO_LAYER) flags = this.retarget(nowMs, false, "sender");
    const target = this.targetLayer;
    if (layer !== this.currentLayer || this.currentLayer !== target) {
      if (layer === target && target !== NO_LAYER) {
        if (!keyframe) {
          if (nowMs - this.lastKeyframeAskMs > KEYFRAME_RETRY_MS) flags |= this.askKeyframe(target, nowMs, false);
          return flags;
        }
        flags |= this.switchTo(layer);
      } else if (layer !== this.currentLayer) return flags;
      // else: keep relaying the current layer until the target's keyframe arrives (no picture gap).
    }
    if (!deliverable) {
      this.awaitingKeyframe = this.video;
      return flags;
    }
    if (this.awaitingKeyframe) {
      if (keyframe) this.awaitingKeyframe = false;
      else if (nowMs - this.lastKeyframeAskMs >= KEYFRAME_RETRY_MS) flags |= this.askKeyframe(layer, nowMs, false);
    }
    const rebaser = this.rebaser;
    rebaser.map(sourceSeq, sourceTs, this.clockRate, nowMs);
    this.outSeq = rebaser.outSeq;
    this.outTs = rebaser.outTs;
    this.tsOffset = rebaser.tsOffset;
    return flags | FORWARD;
  }

  private switchTo(layer: number): number {
    const previous = this.lastRelayedLayer;
    this.currentLayer = layer;
    this.lastRelayedLayer = layer;
    this.previousLayer = previous;
    this.layerSwitches++;
    this.rebaser.restart();
    this.vp8?.rebase();
    // The first layer relayed is no switch (the receiver asked for it at connect).
    return previous !== NO_LAYER && previous !== layer ? SWITCHED | NOTIFY_SWITCH : SWITCHED;
  }

  /** Changes the wanted simulcast layer (NO_LAYER = none); the switch happens on the next keyframe. */
  setWantedLayer(layer: number, nowMs: number): number {
    this.keyframeLayer = NO_LAYER;
    if (!this.simulcast || this.wantedLayer === layer) return 0;
    this.wantedLayer = layer;
    return this.retarget(nowMs, true, "receiver");
  }

  /**
   * Pausing stops relaying; resuming continues the receiver's sequence space without a gap (a
   * gap would make it NACK packets that were never meant for it) and asks for a keyframe at once.
   */
  setPaused(paused: boolean, nowMs: number): number {
    this.keyframeLayer = NO_LAYER;
    if (this.paused === paused) return 0;
    this.paused = paused;
    if (paused) return 0;
    this.rebaser.restart();
    this.vp8?.rebase();
    if (this.video) this.awaitingKeyframe = true;
    return this.requestKeyframe(nowMs, true);
  }

  /** The receiver lost the picture (PLI/FIR, transport up, resume): ask the layer it is about to see. */
  requestKeyframe(nowMs: number, urgent: boolean): number {
    this.keyframeLayer = NO_LAYER;
    const layer = this.targetLayer;
    return layer === NO_LAYER ? 0 : this.askKeyframe(layer, nowMs, urgent);
  }

  /** Asks for a keyframe of `layer` (also the time keyframe retries are paced from). */
  askKeyframe(layer: number, nowMs: number, urgent: boolean): number {
    this.lastKeyframeAskMs = nowMs;
    this.keyframeLayer = layer;
    this.keyframeUrgent = urgent;
    return REQUEST_KEYFRAME;
  }

  /** Picks the layer to chase: the wanted one if it is being sent, else the highest lower one, else the lowest higher one. */
  retarget(nowMs: number, urgent: boolean, trigger: SwitchTrigger): number {
    const layers = this.layers;
    const wanted = this.wantedLayer;
    let target = NO_LAYER;
    if (this.pinned) target = wanted;
    else if (wanted !== NO_LAYER) {
      for (let i = Math.min(wanted, layers.length - 1); i >= 0; i--) {
        if (layers[i]!.isActive(nowMs)) {
          target = i;
          break;
        }
      }
      if (target === NO_LAYER) {
        for (let i = wanted + 1; i < layers.length; i++) {
          if (layers[i]!.isActive(nowMs)) {
            target = i;
            break;
          }
        }
      }
      // Nothing is active yet (start of the stream): aim at the wanted layer.
      if (target === NO_LAYER) target = wanted;
    }
    if (target === this.targetLayer) return 0;
    this.targetLayer = target;
    this.switchTrigger = trigger;
    if (target === NO_LAYER) {
      this.currentLayer = NO_LAYER;
      return 0;
    }
    return target !== this.currentLayer ? this.askKeyframe(target, nowMs, urgent) : 0;
  }
}
