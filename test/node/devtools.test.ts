import { describe, expect, it } from "vitest";
import { buildAdminModel } from "../../devtools/src/admin-data.js";
import { TARGETS } from "../../devtools/src/api.js";
import { defaultConnectForm, edgeSignalingUrl, toConnectRequest, wantedRid } from "../../devtools/src/connect-options.js";
import { pushSample, streamRows, type StatsEntry } from "../../devtools/src/stats.js";
import { catalog, targetOf, type ApiName } from "../../shared/api/catalog.js";

// The devtools page's pure parts: targets, connect options, stats arithmetic, the admin model.

describe("devtools API targets", () => {
  it("are the catalog's targets", () => {
    for (const [name, target] of Object.entries(TARGETS)) {
      expect(name in catalog, name).toBe(true);
      expect(target).toBe(targetOf(name as ApiName));
    }
  });
});

describe("connect form → sora-js-sdk options", () => {
  const form = defaultConnectForm("ws://127.0.0.1:3000/signaling");

  it("defaults to the edge's signaling URL and a plain sendrecv", () => {
    expect(edgeSignalingUrl({ protocol: "http:", host: "127.0.0.1:3000" })).toBe("ws://127.0.0.1:3000/signaling");
    expect(edgeSignalingUrl({ protocol: "https:", host: "edge.example" })).toBe("wss://edge.example/signaling");
    expect(toConnectRequest(form)).toEqual({
      ok: true,
      signalingUrl: "ws://127.0.0.1:3000/signaling",
      channelId: "devtools",
      role: "sendrecv",
      metadata: null,
      options: { audio: true, video: true },
    });
  });

  it("maps every option to the SDK's names", () => {
    const r = toConnectRequest({
      ...form,
      role: "sendonly",
      clientId: " presenter ",
      videoCodecType: "VP9",
      videoBitRate: "1500",
      audioBitRate: "64",
      simulcast: true,
      simulcastRequestRid: "r1",
      spotlight: true,
      spotlightNumber: "2",
      spotlightFocusRid: "r2",
      spotlightUnfocusRid: "none",
      messagingLabels: "#chat, #telemetry #chat",
      metadata: '{"token":"t"}',
      signalingNotifyMetadata: '{"name":"a"}',
    });
    expect(r).toEqual({
      ok: true,
      signalingUrl: "ws://127.0.0.1:3000/signaling",
      channelId: "devtools",
      role: "sendonly",
      metadata: { token: "t" },
      options: {
        audio: true,
        video: true,
        clientId: "presenter",
        videoCodecType: "VP9",
        videoBitRate: 1500,
        audioBitRate: 64,
        simulcast: true,
        simulcastRequestRid: "r1",
        spotlight: true,
        spotlightNumber: 2,
        spotlightFocusRid: "r2",
        spotlightUnfocusRid: "none",
        dataChannelSignaling: true,
        dataChannels: [
          { label: "#chat", direction: "sendrecv" },
          { label: "#telemetry", direction: "sendrecv" },
        ],
        signalingNotifyMetadata: { name: "a" },
      },
    });
  });

  it("refuses what Sora would refuse, with a message", () => {
    const error = (patch: Partial<typeof form>) => {
      const r = toConnectRequest({ ...form, ...patch });
      return r.ok ? null : r.error;
    };
    expect(error({ signalingUrl: "http://x/signaling" })).toMatch(/ws:\/\//);
    expect(error({ channelId: " " })).toMatch(/channel id/);
    expect(error({ videoBitRate: "30001" })).toMatch(/video bit rate/);
    expect(error({ videoBitRate: "1.5" })).toMatch(/video bit rate/);
    expect(error({ audioBitRate: "5" })).toMatch(/audio bit rate/);
    expect(error({ spotlight: true, spotlightNumber: "9" })).toMatch(/spotlight number/);
    expect(error({ messagingLabels: "chat" })).toMatch(/must start with #/);
    expect(error({ metadata: "{" })).toMatch(/metadata/);
    expect(error({ signalingNotifyMetadata: "nope" })).toMatch(/notify metadata/);
    // Spotlight fields are ignored without spotlight; ignore_disconnect_websocket needs DataChannels.
    expect(toConnectRequest({ ...form, spotlightNumber: "99", ignoreDisconnectWebSocket: true })).toMatchObject({ ok: true, options: { audio: true, video: true } });
  });
});

describe("the rid a receiver asked for", () => {
  it("follows the node's order: request for the sender, for all, the connect's, r0", () => {
    const simulcast = { audio: true, video: true, simulcast: true };
    expect(wantedRid(new Map(), "S", { audio: true, video: true })).toBeNull();
    expect(wantedRid(new Map(), "S", simulcast)).toBe("r0");
    expect(wantedRid(new Map(), "S", { ...simulcast, simulcastRequestRid: "r2" })).toBe("r2");
    expect(wantedRid(new Map([["*", "r1"]]), "S", { ...simulcast, simulcastRequestRid: "r2" })).toBe("r1");
    expect(wantedRid(new Map([["*", "r1"], ["S", "r0"]]), "S", simulcast)).toBe("r0");
    expect(wantedRid(new Map([["T", "r2"]]), "S", { audio: true, video: true })).toBeNull();
  });
});

describe("stats from two getStats() snapshots", () => {
  const snapshot = (t: number, received: number, bytes: number, frames: number, lost: number): StatsEntry[] => [
    { id: "IT01V", type: "inbound-rtp", timestamp: t, kind: "video", trackIdentifier: "trk", bytesReceived: bytes, framesDecoded: frames, packetsReceived: received, packetsLost: lost, frameWidth: 640, frameHeight: 360 },
    { id: "OT01V1", type: "outbound-rtp", timestamp: t, kind: "video", rid: "r1", bytesSent: bytes * 2, framesEncoded: frames, packetsSent: received },
    { id: "RI01", type: "remote-inbound-rtp", timestamp: t, localId: "OT01V1", fractionLost: 0.02, roundTripTime: 0.012 },
    { id: "T01", type: "transport", timestamp: t, selectedCandidatePairId: "CP1" },
    { id: "CP1", type: "candidate-pair", timestamp: t, currentRoundTripTime: 0.004 },
  ];

  it("computes bitrate, frame rate, loss and RTT per stream", () => {
    const before = new Map(snapshot(1000, 100, 10_000, 30, 0).map((e) => [e.id, e]));
    const rows = streamRows(snapshot(2000, 190, 135_000, 60, 10), before);
    expect(rows).toEqual([
      {
        id: "IT01V",
        direction: "in",
        kind: "video",
        trackIdentifier: "trk",
        bitrateKbps: 1000,
        fps: 30,
        width: 640,
        height: 360,
        lossPercent: 10,
        rttMs: 4,
        framesDecoded: 60,
        packets: 190,
      },
      { id: "OT01V1", direction: "out", kind: "video", rid: "r1", bitrateKbps: 2000, fps: 30, lossPercent: 2, rttMs: 12, framesEncoded: 60, packets: 190 },
    ]);
  });

  it("orders audio first, then simulcast layers by rid", () => {
    const out = (id: string, kind: string, rid?: string): StatsEntry => ({ id, type: "outbound-rtp", timestamp: 1, kind, ...(rid ? { rid } : {}) });
    const rows = streamRows([out("v2", "video", "r2"), out("v0", "video", "r0"), out("a", "audio"), out("v1", "video", "r1")]);
    expect(rows.map((r) => r.id)).toEqual(["a", "v0", "v1", "v2"]);
  });

  it("has no rates without a previous sample or when counters restart", () => {
    const [first] = streamRows(snapshot(1000, 100, 10_000, 30, 0));
    expect(first).toMatchObject({ bitrateKbps: null, fps: null });
    const restarted = streamRows(snapshot(2000, 5, 100, 1, 0), new Map(snapshot(1000, 100, 10_000, 30, 0).map((e) => [e.id, e])));
    expect(restarted[0]).toMatchObject({ bitrateKbps: null, fps: null });
  });

  it("keeps a bounded series for the charts", () => {
    let s: number[] = [];
    for (let i = 0; i < 70; i++) s = pushSample(s, i);
    expect(s).toHaveLength(60);
    expect(s[0]).toBe(10);
    expect(pushSample([], null)).toEqual([]);
    expect(pushSample([5], null)).toEqual([5, 0]);
  });
});

describe("admin model", () => {
  it("joins nodes, owners, connections, pauses and reported codecs", () => {
    const conn = (id: string, role: string) => ({ channel_id: "room", client_id: id, bundle_id: id, connection_id: id, role, audio: true, video: true, simulcast: false, spotlight: false, multistream: true, created_time: 1 });
    const model = buildAdminModel({
      nodes: [
        { node_name: "a@h", epoch: 2, connected: true, mode: "normal", external_signaling_url: "ws://h:5000/signaling" },
        { node_name: "b@h", epoch: 1, connected: false, mode: "block_new_session", external_signaling_url: "ws://h:5001/signaling" },
      ],
      clusterChannels: [{ channel_id: "room", owners: [{ node_name: "b@h", connected: false }, { node_name: "a@h", connected: true }] }],
      channels: [{ channel_id: "room", multistream: true, spotlight: false }],
      connections: [conn("S", "sendrecv"), conn("R", "recvonly")],
      pauses: { room: [{ channel_id: "room", recv_connection_id: "R", send_connection_id: "S", role: "recvonly" }] },
      userAgentStats: {
        room: [
          {
            connection_id: "S",
            user_agent_stats: [
              { id: "c1", type: "codec", mimeType: "video/VP9" },
              { id: "c2", type: "codec", mimeType: "audio/opus" },
              { id: "c3", type: "codec", mimeType: "video/rtx" },
              { id: "o1", type: "outbound-rtp", codecId: "c1" },
              { id: "o2", type: "outbound-rtp", codecId: "c2" },
            ],
          },
        ],
      },
    });
    expect(model.nodes.map((n) => [n.nodeName, n.connected, n.mode, n.channels, n.connections])).toEqual([
      ["a@h", true, "normal", 1, 2],
      ["b@h", false, "block_new_session", 0, 0],
    ]);
    expect(model.channels).toHaveLength(1);
    expect(model.channels[0]).toMatchObject({ channelId: "room", node: "a@h", paused: [{ recv: "R", send: "S" }] });
    expect(model.channels[0]!.connections.map((c) => [c.connectionId, c.role, c.node, c.codecs])).toEqual([
      ["S", "sendrecv", "a@h", "VP9, opus"],
      ["R", "recvonly", "a@h", ""],
    ]);
  });
});
