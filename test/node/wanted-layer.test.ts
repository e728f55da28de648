import { afterAll, expect, it } from "vitest";
import { defaultConfig } from "../../media-node/src/config.js";
import { rootLogger } from "../../media-node/src/logger.js";
import { Channel } from "../../media-node/src/sfu/channel.js";
import { Connection } from "../../media-node/src/sfu/connection.js";
import { NO_LAYER } from "../../media-node/src/sfu/subscription.js";
import { connectionOptions } from "../../media-node/src/signaling/connection-options.js";
import { connectMessage } from "../../media-node/src/signaling/messages.js";

// Which simulcast layer a receiver wants of each sender in a spotlight channel, as the RPCs set
// it: RequestSpotlightRid (for one sender, else for all) over the connect's focus/unfocus rids,
// and RequestSimulcastRid / RequestRtpStream over both. No network: Connections whose
// PeerConnections never negotiate, closed with the channel.

const channel = new Channel("spot", { spotlight: true, simulcast: true, spotlightNumber: 1 });
afterAll(() => channel.close());

const join = (id: string, role: "sendonly" | "recvonly") => {
  const conn = new Connection(channel, connectionOptions(connectMessage.parse({ type: "connect", role, channel_id: "spot", audio: false })), defaultConfig(), rootLogger, {
    connectionId: id,
  });
  channel.connections.set(id, conn);
  return conn;
};

it("spotlight rid requests, then simulcast rid requests, decide the layer", () => {
  const focused = join("S1", "sendonly");
  const unfocused = join("S2", "sendonly");
  const receiver = join("R", "recvonly");
  channel.spotlightState!.evaluate([{ id: "S1" }, { id: "S2" }]); // nobody speaks: join order
  expect(channel.spotlightState!.isFocused("S1")).toBe(true);
  const [pub1] = focused.publications;
  const [pub2] = unfocused.publications;
  expect(pub1!.simulcast && pub2!.simulcast).toBe(true);
  const layers = () => [receiver.wantedLayerOf(pub1!), receiver.wantedLayerOf(pub2!)];

  expect(layers()).toEqual([1, 0]); // defaults: focus r1, unfocus r0
  channel.spotlightRidRequests = [{ recv_connection_id: "R", spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" }];
  expect(layers()).toEqual([2, NO_LAYER]);
  channel.spotlightRidRequests.push({ recv_connection_id: "R", send_connection_id: "S2", spotlight_focus_rid: "r0", spotlight_unfocus_rid: "r1" });
  expect(layers()).toEqual([2, 1]); // the request for that sender wins over the one for all
  channel.spotlightRidRequests.push({ recv_connection_id: "OTHER", spotlight_focus_rid: "r0", spotlight_unfocus_rid: "r0" });
  expect(layers()).toEqual([2, 1]); // another receiver's request changes nothing here
  channel.ridRequests = [{ recv_connection_id: "R", send_connection_id: "S1", rid: "none" }];
  expect(layers()).toEqual([NO_LAYER, 1]); // RequestSimulcastRid over spotlight rids
  channel.forgetConnection("R");
  expect(channel.ridRequests).toEqual([]);
  expect(channel.spotlightRidRequests.map((r) => r.recv_connection_id)).toEqual(["OTHER"]);
});
