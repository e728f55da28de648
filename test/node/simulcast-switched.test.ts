import { RtpHeader, RtpPacket, type RTCRtpTransceiver } from "werift";
import { describe, expect, it } from "vitest";
import { simulcastSwitchedNotify } from "../../media-node/src/sfu/connection.js";
import { Publication } from "../../media-node/src/sfu/publication.js";
import { NO_LAYER, Subscription, type SwitchTrigger } from "../../media-node/src/sfu/subscription.js";
import { RtpEgress } from "../../media-node/src/transport/rtp-egress.js";
import { SDK_DECODERS } from "../support/sdk-decoders.js";

// When a simulcast subscription changes the layer it relays, its owner is told once (Sora's
// `simulcast.switched` notify): at the keyframe that makes the switch, with the previous and the
// new layer and whether the receiver's choice or the sender's layers caused it. No network: a
// real Publication/Subscription over a transceiver stand-in (no DTLS, so nothing is sent).

const noEvent = { subscribe: () => ({ unSubscribe: () => undefined }) };
const transceiver = {
  mid: "1",
  headerExtensions: [],
  sender: { codec: { payloadType: 96 }, ssrc: 1234, onGenericNack: noEvent, onPictureLossIndication: noEvent, onRtcp: noEvent, dtlsTransport: undefined },
} as unknown as RTCRtpTransceiver;

// VP8 payload descriptor S=1, PID=0; then the payload header's bit 0 (0 = keyframe, RFC 6386 §9.1).
const KEY = Buffer.from([0x10, 0x00, 0, 0]);
const DELTA = Buffer.from([0x10, 0x01, 0, 0]);

function setup() {
  const pub = new Publication("SENDER", "video", "VP8", 90000, true);
  const switches: { previous: number; current: number; trigger: SwitchTrigger }[] = [];
  const sub = new Subscription(pub, transceiver, "RECEIVER", new RtpEgress(), {
    onLayerSwitched: (_s, previous, current, trigger) => switches.push({ previous, current, trigger }),
  });
  sub.refreshNegotiated();
  pub.addSubscription(sub);
  const seq = [0, 0, 0];
  const send = (layer: number, key: boolean) => {
    const header = new RtpHeader({ payloadType: 96, ssrc: 100 + layer, sequenceNumber: seq[layer]!++, timestamp: seq[layer]! * 3000 });
    pub.onRtp(new RtpPacket(header, Buffer.from(key ? KEY : DELTA)), layer);
  };
  return { pub, sub, switches, send };
}

describe("simulcast layer switch reporting", () => {
  it("reports receiver-made switches at the keyframe, not the first layer relayed", () => {
    const { sub, switches, send } = setup();
    for (const layer of [0, 1, 2]) send(layer, true);
    expect(sub.relayedLayer).toBe(0); // wanted r0 (default): relayed from its first keyframe
    expect(switches).toEqual([]); // the first layer is no switch

    sub.setWantedLayer(2);
    send(2, false); // not a keyframe: still r0
    send(0, false);
    expect(sub.relayedLayer).toBe(0);
    expect(switches).toEqual([]);
    send(2, true);
    expect(sub.relayedLayer).toBe(2);
    expect(switches).toEqual([{ previous: 0, current: 2, trigger: "receiver" }]);

    // Asking for none stops relaying; coming back to r1 is a switch from the last layer relayed.
    sub.setWantedLayer(NO_LAYER);
    expect(sub.relayedLayer).toBe(NO_LAYER);
    sub.setWantedLayer(1);
    send(1, true);
    expect(switches.at(-1)).toEqual({ previous: 2, current: 1, trigger: "receiver" });
    expect(switches).toHaveLength(2);
    // More keyframes of the same layer report nothing.
    for (const layer of [0, 1, 2]) send(layer, true);
    expect(switches).toHaveLength(2);
  });

  it("reports a fall-back caused by the sender stopping the wanted layer as trigger: sender", () => {
    const { sub, switches, send, pub } = setup();
    sub.setWantedLayer(2);
    for (const layer of [0, 1, 2]) send(layer, false); // every layer is sending
    send(2, true);
    expect(sub.relayedLayer).toBe(2);
    expect(switches).toEqual([]);
    // r2 goes silent for longer than LAYER_INACTIVE_MS: the next r1 keyframe takes over.
    pub.layers[2]!.lastPacketMs = Date.now() - 5_000;
    send(1, false); // retargets to r1 and asks a keyframe
    send(1, true);
    expect(sub.relayedLayer).toBe(1);
    expect(switches).toEqual([{ previous: 2, current: 1, trigger: "sender" }]);
    send(2, true); // r2 is back: move up again
    expect(switches.at(-1)).toEqual({ previous: 1, current: 2, trigger: "sender" });
  });

  it("builds the notify with Sora's keys (sora-js-sdk SignalingNotifySimulcastSwitched)", () => {
    expect(simulcastSwitchedNotify("SENDER", 0, 2, 2, "receiver", ["none", "r0", "r1", "r2"])).toEqual({
      event_type: "simulcast.switched",
      sender_connection_id: "SENDER",
      priority: "higher",
      trigger: "receiver",
      rpc_rids: ["none", "r0", "r1", "r2"],
      auto_rids: [],
      request_rid: "r2",
      current_rid: "r2",
      previous_rid: "r0",
    });
    expect(simulcastSwitchedNotify("SENDER", 2, 1, 2, "sender", [])).toMatchObject({ priority: "lower", request_rid: "r2", current_rid: "r1", previous_rid: "r2" });
  });

  it("every other SDK's notify decoder accepts it (as sent: with type and timestamp)", () => {
    const sent = { type: "notify", timestamp: new Date().toISOString(), ...simulcastSwitchedNotify("SENDER", 1, 0, 0, "receiver", []) };
    for (const [sdk, decoder] of Object.entries(SDK_DECODERS)) expect(decoder.notify.safeParse(sent).success, sdk).toBe(true);
  });
});
