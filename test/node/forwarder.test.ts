import { describe, expect, it } from "vitest";
import {
  FORWARD,
  Forwarder,
  KEYFRAME_RETRY_MS,
  NOTIFY_SWITCH,
  NO_LAYER,
  REQUEST_KEYFRAME,
  SWITCHED,
} from "../../media-node/src/rtp/forwarder.js";
import { SequenceRebaser } from "../../media-node/src/rtp/sequence-rebaser.js";

// The forwarding decision alone: no network, no clock (time is passed in), layers whose
// liveness the test sets. Each packet's flags and the forwarder's fields are what a
// Subscription or an RtpLeg acts on.

class FakeLayer {
  active = true;
  isActive(): boolean {
    return this.active;
  }
}

function simulcast(wantedLayer = 0, live = [true, true, true], pinned = false) {
  const layers = live.map((a) => Object.assign(new FakeLayer(), { active: a }));
  const fw = new Forwarder({
    layers,
    simulcast: true,
    video: true,
    clockRate: 90000,
    rebaser: new SequenceRebaser(),
    startLayer: NO_LAYER,
    wantedLayer,
    targetLayer: wantedLayer,
    pinned,
  });
  // One source sequence/timestamp space per layer, as simulcast layers have.
  const seq = [1000, 20000, 65530];
  const ts = [0, 1_000_000, 0xffff_f000];
  const packet = (layer: number, key: boolean, nowMs: number, deliverable = true) => {
    const flags = fw.decide(layer, key, seq[layer]!, ts[layer]!, nowMs, deliverable);
    seq[layer] = (seq[layer]! + 1) & 0xffff;
    ts[layer] = (ts[layer]! + 3000) >>> 0;
    return flags;
  };
  return { fw, layers, packet };
}

describe("Forwarder", () => {
  it("pinned (a cluster relay leg's m-line): relays its one layer only, never another when it stops", () => {
    const { fw, layers, packet } = simulcast(2, [true, true, true], true);
    expect(packet(2, true, 0) & FORWARD).toBe(FORWARD);
    layers[2]!.active = false;
    // The unpinned forwarder would chase layer 1 now; the pinned one ignores it and waits.
    expect(packet(1, true, 2000) & FORWARD).toBe(0);
    expect(fw.targetLayer).toBe(2);
    expect(fw.currentLayer).toBe(2);
    layers[2]!.active = true;
    expect(packet(2, false, 2100)).toBe(FORWARD);
  });

  it("relays the wanted layer from its first keyframe; the first layer is no reported switch", () => {
    const { fw, packet } = simulcast(1);
    expect(packet(1, false, 0) & FORWARD).toBe(0); // delta before any keyframe: dropped
    expect(packet(0, true, 0) & FORWARD).toBe(0); // not the wanted layer
    const first = packet(1, true, 10);
    expect(first & (FORWARD | SWITCHED)).toBe(FORWARD | SWITCHED);
    expect(first & NOTIFY_SWITCH).toBe(0);
    expect(fw.currentLayer).toBe(1);
    expect(fw.outSeq).toBe(0); // a fresh space starts at 0
    expect(packet(1, false, 20)).toBe(FORWARD);
    expect(fw.outSeq).toBe(1);
    expect(packet(2, true, 20) & FORWARD).toBe(0);
  });

  it("switches up and down only on a keyframe of the new layer, keeping seq/ts continuous", () => {
    const { fw, packet } = simulcast(0);
    packet(0, true, 0);
    packet(0, false, 33);
    const lastSeq = fw.outSeq;
    const lastTs = fw.outTs;

    // Up: r2 asked for; r0 keeps flowing until r2's keyframe.
    expect(fw.setWantedLayer(2, 40)).toBe(REQUEST_KEYFRAME);
    expect([fw.keyframeLayer, fw.keyframeUrgent]).toEqual([2, true]); // the receiver's choice is urgent
    expect(packet(2, false, 50) & FORWARD).toBe(0);
    expect(packet(0, false, 66)).toBe(FORWARD);
    expect(fw.outSeq).toBe((lastSeq + 1) & 0xffff);
    const up = packet(2, true, 100);
    expect(up & (FORWARD | SWITCHED | NOTIFY_SWITCH)).toBe(FORWARD | SWITCHED | NOTIFY_SWITCH);
    expect([fw.previousLayer, fw.currentLayer, fw.switchTrigger]).toEqual([0, 2, "receiver"]);
    expect(fw.outSeq).toBe((lastSeq + 2) & 0xffff); // no gap across the switch
    // r2's source seq wraps (65530 + n) and its timestamp wraps 2^32: the output stays continuous.
    const tsAtSwitch = fw.outTs;
    expect((tsAtSwitch - lastTs) >>> 0).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) {
      const seqBefore = fw.outSeq;
      const tsBefore = fw.outTs;
      expect(packet(2, false, 110 + i)).toBe(FORWARD);
      expect((fw.outSeq - seqBefore) & 0xffff).toBe(1);
      expect((fw.outTs - tsBefore) >>> 0).toBe(3000);
    }
    expect(packet(0, false, 200) & FORWARD).toBe(0); // the old layer stops

    // Down again.
    fw.setWantedLayer(0, 300);
    expect(packet(2, false, 310)).toBe(FORWARD);
    expect(packet(0, true, 320) & NOTIFY_SWITCH).toBe(NOTIFY_SWITCH);
    expect([fw.previousLayer, fw.currentLayer]).toEqual([2, 0]);
    expect(fw.layerSwitches).toBe(3);
  });

  it("falls back to the highest live layer below the wanted one, else the lowest above; a sender-made switch says so", () => {
    const { fw, layers, packet } = simulcast(2, [true, true, false]);
    expect(packet(1, true, 0) & FORWARD).toBe(FORWARD); // r2 is not sending: r1 is the target
    expect(fw.targetLayer).toBe(1);
    layers[2]!.active = true; // r2 starts
    const flags = packet(2, false, 10);
    expect(flags & REQUEST_KEYFRAME).toBe(REQUEST_KEYFRAME);
    expect([fw.keyframeLayer, fw.keyframeUrgent]).toEqual([2, false]);
    packet(2, true, 20);
    expect([fw.currentLayer, fw.switchTrigger]).toEqual([2, "sender"]);

    // Wanted r0 but only r2 sends: the lowest higher one.
    const low = simulcast(0, [false, false, true]);
    low.packet(2, true, 0);
    expect(low.fw.currentLayer).toBe(2);
  });

  it("aims at the wanted layer while nothing is live, and stops with no layer wanted", () => {
    const { fw, packet } = simulcast(1, [false, false, false]);
    expect(fw.retarget(0, false, "sender")).toBe(0);
    expect(fw.targetLayer).toBe(1);
    packet(1, true, 0);
    expect(fw.setWantedLayer(NO_LAYER, 10)).toBe(0);
    expect(fw.currentLayer).toBe(NO_LAYER);
    expect(packet(1, true, 20) & FORWARD).toBe(0);
    expect(fw.requestKeyframe(30, false)).toBe(0); // nothing to ask for
    // Back to the same layer: a new start, not a reported switch.
    fw.setWantedLayer(1, 40);
    expect(packet(1, true, 50) & (FORWARD | NOTIFY_SWITCH)).toBe(FORWARD);
  });

  it("paces keyframe requests while waiting for the target's keyframe", () => {
    const { fw, packet } = simulcast(0);
    packet(0, true, 0);
    fw.setWantedLayer(1, 1000); // asks at 1000
    let asks = 0;
    for (let t = 1000; t <= 2600; t += 20) if (packet(1, false, t) & REQUEST_KEYFRAME) asks++;
    // Re-asked every KEYFRAME_RETRY_MS (strictly more than), not per packet.
    expect(asks).toBe(Math.floor(1600 / (KEYFRAME_RETRY_MS + 20)));
    expect(fw.keyframeLayer).toBe(NO_LAYER); // cleared on a call without a request
    expect(fw.lastKeyframeAskMs).toBeGreaterThan(2000);
  });

  it("asks again until a keyframe reaches a receiver that could not be reached, then stops", () => {
    const layers = [new FakeLayer()];
    const fw = new Forwarder({ layers, simulcast: false, video: true, clockRate: 90000, rebaser: new SequenceRebaser(), startLayer: 0, wantedLayer: 0, targetLayer: 0 });
    // A single-layer track is relayed from its first packet, but asks for a keyframe every 500 ms until one is forwarded.
    const t0 = 10_000; // times are wall-clock ms in use; the first ask is due at once
    expect(fw.decide(0, false, 1, 0, t0)).toBe(FORWARD | REQUEST_KEYFRAME);
    expect(fw.decide(0, false, 2, 0, t0 + 100)).toBe(FORWARD);
    expect(fw.decide(0, false, 3, 0, t0 + 500)).toBe(FORWARD | REQUEST_KEYFRAME);
    expect(fw.decide(0, true, 4, 0, t0 + 600)).toBe(FORWARD);
    expect(fw.decide(0, false, 5, 0, t0 + 2000)).toBe(FORWARD); // done
    // Undeliverable (transport down): dropped, and a keyframe is needed again.
    expect(fw.decide(0, true, 6, 0, t0 + 2100, false)).toBe(0);
    expect(fw.decide(0, false, 7, 0, t0 + 2200)).toBe(FORWARD | REQUEST_KEYFRAME);
  });

  it("pause drops everything; resume re-bases the space without a gap and asks urgently", () => {
    const { fw, packet } = simulcast(0);
    packet(0, true, 0);
    packet(0, false, 10);
    const seqBefore = fw.outSeq;
    const tsBefore = fw.outTs;
    expect(fw.setPaused(true, 20)).toBe(0);
    for (let t = 30; t < 1030; t += 33) expect(packet(0, t === 30, t)).toBe(0);
    expect(fw.setPaused(true, 1040)).toBe(0); // no change, no request
    expect(fw.setPaused(false, 1050)).toBe(REQUEST_KEYFRAME);
    expect([fw.keyframeLayer, fw.keyframeUrgent]).toEqual([0, true]);
    const first = packet(0, false, 1060); // delta: forwarded (same layer) but a keyframe is awaited
    expect(first & FORWARD).toBe(FORWARD);
    expect(fw.outSeq).toBe((seqBefore + 1) & 0xffff);
    // The timestamp advanced by the wall-clock time that passed (1050 ms at 90 kHz), not the source's jump.
    expect((fw.outTs - tsBefore) >>> 0).toBe(Math.round(1050 * 90));
  });
});
