import { expect, it } from "vitest";
import { catalog, type ApiName } from "../../shared/api/catalog.js";
import { ok } from "./support/api.js";
import { NodePeer, channel, connection, until } from "./support/node-peer.js";
import { api } from "./support/api.js";

// Every target of the catalog, called once with a valid body against a simulated node that
// implements every command; each must answer 200 with the catalog's answer shape. The list is
// ordered (start before stop, a dead node before its purge) and must cover the whole catalog.

const CH = "every";
const A = "CONNA00000000000000000000A";
const B = "CONNB00000000000000000000B";
const SPOT = "every-spotlight";

const calls: [ApiName, unknown][] = [
  ["ListChannels", undefined],
  ["ListClusterNodes", { include_all_known_nodes: true }],
  ["ListClusterChannels", {}],
  ["InitCluster", { node_name_list: ["main@host"] }],
  ["JoinCluster", { contact_node_name: "main@host", node_name: "spare@host" }],
  ["ChangeMode", { mode: "block_new_session" }],
  ["GetMode", {}],
  ["ListSignalingNotifyMetadata", { channel_id: CH }],
  ["PutSignalingNotifyMetadata", { channel_id: CH, connection_id: A, metadata: { abc: "efg" }, push: true }],
  ["PutSignalingNotifyMetadataItem", { channel_id: CH, connection_id: A, key: "k", value: { v: 1 } }],
  ["GetSignalingNotifyMetadata", { channel_id: CH, connection_id: A }],
  ["DeleteSignalingNotifyMetadataItem", { channel_id: CH, connection_id: A, key: "k" }],
  ["DeleteSignalingNotifyMetadata", { channel_id: CH, connection_id: A }],
  ["PauseRtpStream", { channel_id: CH, recv_connection_id: B, send_connection_id: A }],
  ["ListPauseRtpStreams", { channel_id: CH }],
  ["ResumeRtpStream", { channel_id: CH, recv_connection_id: B, send_connection_id: A }],
  ["RequestRtpStream", { channel_id: CH, recv_connection_id: B, send_connection_id: A, rid: "r1" }],
  ["ResetRtpStream", { channel_id: CH, recv_connection_id: B }],
  ["RequestSimulcastRid", { channel_id: CH, receiver_connection_id: B, rid: "none", sender_connection_id: A }],
  ["GetStatsReport", undefined],
  ["ListUserAgentStats", undefined],
  ["ListChannelUserAgentStats", { channel_id: CH }],
  ["GetUserAgentStats", { channel_id: CH, connection_id: A }],
  ["ListRtcStats", undefined],
  ["ListChannelRtcStats", { channel_id: CH }],
  ["GetRtcStats", { channel_id: CH, connection_id: A }],
  ["SubscribeAudioStreamingResultPush", { channel_id: CH, connection_id: B }],
  ["StartAudioStreaming", { channel_id: CH }],
  ["StopAudioStreaming", { channel_id: CH }],
  ["UnsubscribeAudioStreamingResultPush", { channel_id: CH, connection_id: B }],
  ["StartForwardingRtp", { channel_id: CH, ip_address: "127.0.0.1", audio_port: 5004, video_port: 5006 }],
  ["StopForwardingRtp", { channel_id: CH }],
  ["ChangeUpstreamVideoBitRate", { channel_id: CH, connection_id: A, bit_rate: 500 }],
  ["ListConnections", undefined],
  ["ListChannelConnections", { channel_id: CH }],
  ["GetStatsConnection", { channel_id: CH, connection_id: A }],
  ["GetStatsClient", { channel_id: CH, client_id: `client-${A}` }],
  ["GetStatsAllConnections", undefined],
  ["RequestKeyFrame", { channel_id: CH, connection_id: A }],
  ["PushChannel", { channel_id: CH, data: { spam: "egg" } }],
  ["PushClient", { channel_id: CH, client_id: `client-${A}`, data: { spam: "egg" } }],
  ["PushConnection", { channel_id: CH, connection_id: A, data: { spam: "egg" } }],
  ["PushChannelByRole", { channel_id: CH, role: "sendrecv", data: { spam: "egg" } }],
  ["FocusSpotlightFixed", { channel_id: SPOT, connection_id: A }],
  ["FocusSpotlight", { channel_id: SPOT, connection_id: A }],
  ["UnfocusSpotlight", { channel_id: SPOT, connection_id: A }],
  ["ChangeSpotlightNumber", { channel_id: SPOT, spotlight_number: 2 }],
  ["RequestSpotlightRid", { channel_id: SPOT, recv_connection_id: A, spotlight_focus_rid: "r2", spotlight_unfocus_rid: "none" }],
  ["ResetSpotlightRid", { channel_id: SPOT, recv_connection_id: A }],
  // The simulated node acks without ending anything, so the channel stays for the calls above.
  ["DisconnectConnection", { channel_id: CH, connection_id: A, reason: { type: "normal" } }],
  ["DisconnectClient", { channel_id: CH, client_id: `client-${B}` }],
  ["DisconnectChannelByRole", { channel_id: CH, role: "recvonly" }],
  ["DisconnectChannel", { channel_id: CH, reason: { type: "normal" } }],
  ["GenerateCrashLog", { info: { reason: "test" } }],
  ["PurgeClusterNode", { target_node_name: "gone@host" }],
];

it("covers the whole catalog", () => {
  expect(new Set(calls.map(([name]) => name))).toEqual(new Set(Object.keys(catalog)));
});

it("answers every target with 200 and the catalog's answer shape", async () => {
  const main = await NodePeer.connect("main@host", {
    channels: [
      channel(CH, [connection(A, { simulcast: true }), connection(B, { role: "recvonly", simulcast: true })], { simulcast: true }),
      channel(SPOT, [connection(A, { spotlight: true, simulcast: true })], { spotlight: true, simulcast: true }),
    ],
  });
  const spare = await NodePeer.connect("spare@host", { auto_join: false });
  const gone = await NodePeer.connect("gone@host", { auto_join: false });
  await gone.close();
  main.send({ type: "user_agent_stats", channel_id: CH, connection_id: A, timestamp: new Date().toISOString(), stats: [{ type: "codec" }] });
  await until("stats stored", async () => (await api("GetUserAgentStats", { channel_id: CH, connection_id: A })).status === 200);

  for (const [name, body] of calls) await ok(name, body);

  // Each call reached the node it concerns.
  expect(main.commands.map((c) => c.name)).toEqual(
    expect.arrayContaining([
      "change_mode",
      "set_notify_metadata",
      "set_paused_streams",
      "set_rid_requests",
      "get_counters",
      "start_audio_streaming",
      "set_audio_streaming_subscribers",
      "stop_audio_streaming",
      "start_forwarding_rtp",
      "stop_forwarding_rtp",
      "change_upstream_video_bit_rate",
      "generate_crash_log",
      "push",
      "disconnect",
      "get_connection_stats",
      "request_key_frame",
      "set_spotlight_focus",
      "change_spotlight_number",
      "set_spotlight_rid_requests",
    ]),
  );
  expect(spare.welcome).toMatchObject({ member: true });
});
