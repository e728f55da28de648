import { expect, it } from "vitest";
import { defaultConfig } from "../../media-node/src/config.js";
import { rootLogger } from "../../media-node/src/logger.js";
import { Channel } from "../../media-node/src/sfu/channel.js";
import { Connection } from "../../media-node/src/sfu/connection.js";
import { connectionOptions } from "../../media-node/src/signaling/connection-options.js";
import { connectMessage } from "../../media-node/src/signaling/messages.js";

// The close cascade of the SFU's owned objects (mediasoup's): Channel.close → Connection.close
// → its Subscriptions and Publications close → the PeerConnection. No network: the
// PeerConnections are built (a Connection is created complete) but never negotiate.

function join(channel: Channel, id: string, role: "sendonly" | "recvonly"): Connection {
  const connect = connectMessage.parse({ type: "connect", role, channel_id: channel.channelId, audio: true, video: { codec_type: "VP8" } });
  const conn = new Connection(channel, connectionOptions(connect), defaultConfig(), rootLogger, { connectionId: id });
  channel.connections.set(id, conn);
  return conn;
}

it("a Connection is built complete: its PeerConnection exists with the upstream m-lines before any offer", () => {
  const channel = new Channel("built", { spotlight: false, simulcast: false });
  const sender = join(channel, "S", "sendonly");
  expect(sender.peer.upstreamAudio).toBeDefined();
  expect(sender.peer.upstreamVideo).toBeDefined();
  expect(sender.publications.map((p) => p.kind)).toEqual(["audio", "video"]);
  return channel.close();
});

it("Channel.close closes every connection, their subscriptions and publications, and the PeerConnections", async () => {
  const channel = new Channel("cascade", { spotlight: true, simulcast: true, spotlightNumber: 1 });
  const sender = join(channel, "S", "sendonly");
  const receiver = join(channel, "R", "recvonly");
  for (const pub of sender.publications) receiver.addSubscription(pub);
  expect(receiver.subscriptions.size).toBe(2);
  expect(sender.publications.map((p) => p.subscriptions.length)).toEqual([1, 1]);

  await channel.close();

  expect(sender.closed && receiver.closed).toBe(true);
  expect(receiver.subscriptions.size).toBe(0);
  // Each subscription left its publication: nothing forwards to a closed receiver.
  expect(sender.publications.map((p) => p.subscriptions.length)).toEqual([0, 0]);
  expect(sender.peer.pc.connectionState).toBe("closed");
  expect(receiver.peer.pc.connectionState).toBe("closed");
  // Closing twice is harmless, and a closed connection takes no new subscription.
  await channel.close();
  receiver.addSubscription(sender.publications[0]!);
  expect(receiver.subscriptions.size).toBe(0);
});

it("a publication closed with subscriptions still registered closes them", async () => {
  const channel = new Channel("pub-close", { spotlight: false, simulcast: false });
  const sender = join(channel, "S", "sendonly");
  const receiver = join(channel, "R", "recvonly");
  const video = sender.publications.find((p) => p.kind === "video")!;
  receiver.addSubscription(video);
  const sub = receiver.subscriptions.get(video)! as unknown as { unsubscribers: unknown[] };
  expect(sub.unsubscribers.length).toBeGreaterThan(0); // listening to the receiver's RTCP
  await sender.close();
  expect(video.subscriptions).toEqual([]);
  expect(sub.unsubscribers).toEqual([]); // closed: no longer listening
  expect(receiver.subscriptions.has(video)).toBe(false); // and its owner dropped it
  expect(receiver.closed).toBe(false);
  await channel.close();
});
