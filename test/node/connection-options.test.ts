import { describe, expect, it } from "vitest";
import { connectionOptions } from "../../media-node/src/signaling/connection-options.js";
import { connectMessage } from "../../media-node/src/signaling/messages.js";

// Signaling turns the wire `connect` into the SFU's ConnectionOptions (pure): the SFU never reads wire fields.

const options = (fields: Record<string, unknown>) => connectionOptions(connectMessage.parse({ type: "connect", role: "sendrecv", channel_id: "c", ...fields }));

describe("connectionOptions", () => {
  it("defaults: audio and video on, no simulcast, no DataChannels, ids left to the node", () => {
    const o = options({});
    expect(o).toMatchObject({ role: "sendrecv", channelId: "c", audio: true, video: true, simulcast: false, spotlight: false, dataChannelSignaling: false, dataChannels: [], forwardingFilters: [] });
    expect(o.clientId).toBeUndefined();
    expect(o.bundleId).toBeUndefined();
    expect(o.videoCodec).toBeUndefined();
  });

  it("video codec and bit rate; H.265 leaves the codec to the node's default", () => {
    expect(options({ video: { codec_type: "VP8", bit_rate: 500 } })).toMatchObject({ videoCodec: "VP8", videoBitRateKbps: 500 });
    expect(options({ video: { codec_type: "H265" } }).videoCodec).toBeUndefined();
    expect(options({ video: false, audio: false })).toMatchObject({ audio: false, video: false });
  });

  it("the receiver's simulcast rid: simulcast_request_rid, else simulcast_rid, else simulcast.rid", () => {
    expect(options({ simulcast: { rid: "r2" } }).simulcastRid).toBe("r2");
    expect(options({ simulcast: { rid: "r2" }, simulcast_rid: "r1" }).simulcastRid).toBe("r1");
    expect(options({ simulcast: true, simulcast_rid: "r1", simulcast_request_rid: "none" }).simulcastRid).toBe("none");
    expect(options({ simulcast: { rid: "r0" } }).simulcast).toBe(true);
  });

  it("DataChannels and forwarding filters in the SFU's terms", () => {
    const o = options({
      data_channel_signaling: true,
      ignore_disconnect_websocket: true,
      data_channels: [{ label: "#chat", direction: "sendrecv", max_packet_life_time: 100, header: [{ type: "sender_connection_id" }] }],
      forwarding_filter: { action: "block", rules: [[{ field: "kind", operator: "is_in", values: ["video"] }]] },
    });
    expect(o).toMatchObject({ dataChannelSignaling: true, ignoreDisconnectWebSocket: true });
    expect(o.dataChannels).toEqual([{ label: "#chat", direction: "sendrecv", compress: false, maxPacketLifeTime: 100, header: [{ type: "sender_connection_id" }] }]);
    expect(o.forwardingFilters).toHaveLength(1);
  });

  it("Opus format from audio.opus_params and bit_rate", () => {
    expect(options({ audio: { bit_rate: 32 } }).opusFormat).not.toEqual(options({}).opusFormat);
  });
});
