// Runs inside headless Chromium: drives the real sora-js-sdk (served as /sora.js) and
// exposes small helpers the Node-side tests call through page.evaluate().
import Sora from "/sora.js";

const clients = new Map();
let nextId = 1;

// RTCConfiguration override for the PeerConnections the SDK creates while one client connects
// (startClient's `rtcConfig`): the SDK passes the offer's `config` through untouched and has no
// option for iceTransportPolicy. `{ iceTransportPolicy: "relay", turnTransport: "tcp" }` forces
// TURN and keeps only the turn: URLs of that transport. Clients with it must be started one at a time.
const NativeRTCPeerConnection = window.RTCPeerConnection;
let rtcConfigOverride = null;
window.rtcConfigsSeen = [];
window.RTCPeerConnection = class extends NativeRTCPeerConnection {
  constructor(config = {}, constraints) {
    let effective = config;
    if (rtcConfigOverride && (config.iceServers ?? []).length > 0) {
      window.rtcConfigsSeen.push(JSON.parse(JSON.stringify(config)));
      const { turnTransport, ...rest } = rtcConfigOverride;
      const iceServers = (config.iceServers ?? []).map((server) => {
        const urls = [].concat(server.urls).filter((u) => !turnTransport || u.endsWith(`transport=${turnTransport}`));
        return { ...server, urls };
      });
      effective = { ...config, ...rest, iceServers };
    }
    super(effective, constraints);
  }
};

function summarizeNotify(m) {
  if (m.event_type === "simulcast.switched") {
    const { type: _type, timestamp: _timestamp, ...fields } = m;
    return fields;
  }
  return { event_type: m.event_type, connection_id: m.connection_id, channel_connections: m.channel_connections, metadata: m.metadata, data: m.data, role: m.role, turn_transport_type: m.turn_transport_type };
}

window.startClient = async ({ url, channelId, role, options = {}, metadata, video = { width: 640, height: 360 }, audio = true, rtcConfig = null }) => {
  rtcConfigOverride = rtcConfig;
  try {
    return await startClientWith({ url, channelId, role, options, metadata, video, audio });
  } finally {
    rtcConfigOverride = null;
  }
};

const startClientWith = async ({ url, channelId, role, options, metadata, video, audio }) => {
  const id = nextId++;
  const state = { id, notifies: [], pushes: [], tracks: {}, removed: [], switched: false, disconnected: null, error: null, connectionId: null, wsClosedAfterSwitch: false, signaling: [], sequence: [], messages: [], dataChannels: [], rpcFrames: [] };
  clients.set(id, state);
  const sora = Sora.connection(url, false);
  const client =
    role === "messaging"
      ? sora.messaging(channelId, metadata, options)
      : role === "recvonly"
        ? sora.recvonly(channelId, metadata, options)
        : role === "sendonly"
          ? sora.sendonly(channelId, metadata, options)
          : sora.sendrecv(channelId, metadata, options);
  state.client = client;
  client.on("notify", (m) => state.notifies.push(summarizeNotify(m)));
  client.on("push", (m) => state.pushes.push(m));
  client.on("track", (e) => {
    const stream = e.streams[0];
    state.tracks[e.track.id] = { kind: e.track.kind, streamId: stream.id };
  });
  client.on("removetrack", (e) => state.removed.push({ kind: e.track.kind, streamId: e.target.id }));
  client.on("switched", () => {
    state.switched = true;
    // Every answer on the `rpc` label as it arrives (the SDK rejects rpc() with String(error), losing the code).
    const rpc = client.soraDataChannels && client.soraDataChannels.rpc;
    if (rpc) rpc.addEventListener("message", (e) => state.rpcFrames.push(typeof e.data === "string" ? e.data : "(binary)"));
  });
  // DataChannel messaging: what the SDK hands the app (its `message` event: label + ArrayBuffer).
  client.on("datachannel", (e) => state.dataChannels.push(e.datachannel.label));
  client.on("message", (e) => {
    const bytes = new Uint8Array(e.data);
    state.messages.push({ label: e.label, length: bytes.length, text: new TextDecoder().decode(bytes) });
  });
  client.on("disconnect", (e) => {
    state.disconnected = { type: e.type, title: e.title, code: e.code, reason: e.reason };
    state.sequence.push("disconnect");
  });
  // The SDK's signaling log events (e.g. `onmessage-close` over `datachannel`), in order with `disconnect`.
  client.on("signaling", (e) => {
    state.signaling.push({ type: e.type, transportType: e.transportType });
    state.sequence.push(`${e.transportType}:${e.type}`);
  });
  try {
    if (role === "recvonly" || role === "messaging") {
      await client.connect();
    } else {
      const stream = await mediaFor(audio, video);
      state.stream = stream;
      await client.connect(stream);
    }
    state.connectionId = client.connectionId;
  } catch (err) {
    state.error = { message: String(err && err.message), code: err && err.code, reason: err && err.reason };
  }
  return { id, connectionId: state.connectionId, error: state.error };
};

window.clientState = (id) => {
  const s = clients.get(id);
  return {
    connectionId: s.connectionId,
    notifies: s.notifies,
    pushes: s.pushes,
    tracks: s.tracks,
    removed: s.removed,
    switched: s.switched,
    disconnected: s.disconnected,
    error: s.error,
    wsOpen: !!(s.client && s.client.ws),
    signaling: s.signaling,
    sequence: s.sequence,
  };
};

// Per remote sender (msid stream id = the sender's connection_id): decoded frames, size, audio packets.
window.inboundByStream = async (id) => {
  const s = clients.get(id);
  const pc = s.client && s.client.pc;
  if (!pc) return {};
  const stats = await pc.getStats();
  const out = {};
  for (const r of stats.values()) {
    if (r.type !== "inbound-rtp") continue;
    const track = s.tracks[r.trackIdentifier];
    const key = track ? track.streamId : "unknown:" + r.mid;
    const entry = (out[key] ??= { framesDecoded: 0, frameWidth: 0, videoPackets: 0, audioPackets: 0, nackCount: 0, packetsLost: 0 });
    if (r.kind === "video") {
      entry.framesDecoded += r.framesDecoded ?? 0;
      entry.frameWidth = r.frameWidth ?? entry.frameWidth;
      entry.videoPackets += r.packetsReceived ?? 0;
      entry.nackCount += r.nackCount ?? 0;
      entry.packetsLost += r.packetsLost ?? 0;
    } else {
      entry.audioPackets += r.packetsReceived ?? 0;
    }
  }
  return out;
};

window.disconnectClient = async (id) => {
  const s = clients.get(id);
  await s.client.disconnect();
  if (s.stream) for (const t of s.stream.getTracks()) t.stop();
};

window.soraReady = true;

window.inboundCodec = async (id) => {
  const s = clients.get(id);
  const stats = await s.client.pc.getStats();
  for (const r of stats.values()) {
    if (r.type === "inbound-rtp" && r.kind === "video" && r.codecId) return stats.get(r.codecId).mimeType;
  }
  return null;
};

// The sender's own view: per-rid outbound video (width, bitrate inputs) from getStats().
window.outboundVideo = async (id) => {
  const s = clients.get(id);
  const stats = await s.client.pc.getStats();
  const out = [];
  // Chrome's send-side bandwidth estimate lives on the selected candidate pair.
  let availableOutgoingBitrate;
  for (const r of stats.values()) {
    if (r.type === "transport" && r.selectedCandidatePairId) availableOutgoingBitrate = stats.get(r.selectedCandidatePairId)?.availableOutgoingBitrate;
  }
  for (const r of stats.values()) {
    if (r.type === "outbound-rtp" && r.kind === "video") {
      out.push({ rid: r.rid ?? null, frameWidth: r.frameWidth ?? 0, bytesSent: r.bytesSent, timestamp: r.timestamp, framesEncoded: r.framesEncoded ?? 0, qualityLimitationReason: r.qualityLimitationReason, active: r.active, availableOutgoingBitrate, keyFramesEncoded: r.keyFramesEncoded ?? 0, pliCount: r.pliCount ?? 0 });
    }
  }
  return out;
};

// Decoder health of the first inbound video: frames decoded, width, and errors/freezes seen.
window.inboundVideo = async (id) => {
  const s = clients.get(id);
  const stats = await s.client.pc.getStats();
  for (const r of stats.values()) {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      return { framesDecoded: r.framesDecoded ?? 0, frameWidth: r.frameWidth ?? 0, keyFramesDecoded: r.keyFramesDecoded ?? 0, freezeCount: r.freezeCount ?? 0, pliCount: r.pliCount ?? 0, packetsReceived: r.packetsReceived ?? 0, framesDropped: r.framesDropped ?? 0 };
    }
  }
  return null;
};

// Mute/unmute the sender's microphone: a disabled track sends silence (audio level 127).
window.setAudioEnabled = (id, enabled) => {
  const s = clients.get(id);
  for (const t of s.stream.getAudioTracks()) t.enabled = enabled;
};

// Decoded width per remote sender (msid stream id = sender connection_id).
window.widthsByStream = async (id) => {
  const per = await window.inboundByStream(id);
  const out = {};
  for (const [k, v] of Object.entries(per)) out[k] = { frameWidth: v.frameWidth, framesDecoded: v.framesDecoded };
  return out;
};

// The ICE pair in use, from the client's side: local/remote candidate types and, for a relay
// candidate, the transport to the TURN server (relayProtocol).
// The node's candidates as the offer carried them (a=candidate lines of the remote description).
window.offerCandidates = (id) => {
  const sdp = clients.get(id)?.client.pc?.remoteDescription?.sdp ?? "";
  return sdp.split("\r\n").filter((l) => l.startsWith("a=candidate:"));
};

window.selectedCandidatePair = async (id) => {
  const s = clients.get(id);
  const stats = await s.client.pc.getStats();
  for (const r of stats.values()) {
    if (r.type !== "transport" || !r.selectedCandidatePairId) continue;
    const pair = stats.get(r.selectedCandidatePairId);
    const local = pair && stats.get(pair.localCandidateId);
    const remote = pair && stats.get(pair.remoteCandidateId);
    if (!local || !remote) return null;
    return { state: pair.state, localType: local.candidateType, relayProtocol: local.relayProtocol ?? null, remoteType: remote.candidateType, remoteAddress: remote.address };
  }
  return null;
};

// Turn one simulcast layer of the sender on or off (as Chrome does under congestion).
window.setLayerActive = async (id, rid, active) => {
  const s = clients.get(id);
  const sender = s.client.pc.getSenders().find((x) => x.track && x.track.kind === "video");
  const params = sender.getParameters();
  for (const e of params.encodings) if (e.rid === rid) e.active = active;
  await sender.setParameters(params);
};

// DataChannel messaging and RPC through the SDK's own API.
window.messagingState = (id) => {
  const s = clients.get(id);
  return { messages: s.messages, dataChannels: s.dataChannels, rpcMethods: s.client.rpcMethods, rpcFrames: s.rpcFrames };
};

window.sendMessage = async (id, label, text) => {
  await clients.get(id).client.sendMessage(label, new TextEncoder().encode(text));
};

window.rpcCall = async (id, method, params) => {
  try {
    return { result: await clients.get(id).client.rpc(method, params, { timeout: 5000 }) };
  } catch (err) {
    return { error: String(err && err.message) };
  }
};

// The sender's media: Chromium's fake devices, except `audio: { tones: [left, right] }`, a stereo
// source synthesized with WebAudio (the fake microphone is mono): one oscillator per channel.
async function mediaFor(audio, video) {
  if (!audio || !Array.isArray(audio.tones)) return navigator.mediaDevices.getUserMedia({ audio, video });
  const stream = video ? await navigator.mediaDevices.getUserMedia({ video }) : new MediaStream();
  const ctx = new AudioContext({ sampleRate: 48000 });
  await ctx.resume();
  const merger = ctx.createChannelMerger(2);
  audio.tones.forEach((frequency, channel) => {
    const osc = ctx.createOscillator();
    osc.frequency.value = frequency;
    const gain = ctx.createGain();
    gain.gain.value = 0.3;
    osc.connect(gain).connect(merger, 0, channel);
    osc.start();
  });
  const destination = ctx.createMediaStreamDestination();
  destination.channelCount = 2;
  merger.connect(destination);
  for (const track of destination.stream.getAudioTracks()) stream.addTrack(track);
  return stream;
}

// The sender's outbound audio as Chrome reports it (targetBitrate follows the Opus fmtp).
window.outboundAudio = async (id) => {
  const s = clients.get(id);
  const stats = await s.client.pc.getStats();
  for (const r of stats.values()) {
    if (r.type === "outbound-rtp" && r.kind === "audio") {
      const codec = r.codecId ? stats.get(r.codecId) : undefined;
      return { targetBitrate: r.targetBitrate ?? null, packetsSent: r.packetsSent ?? 0, sdpFmtpLine: codec?.sdpFmtpLine ?? null };
    }
  }
  return null;
};

// Per-channel dominant frequency of each remote audio track (msid stream id = sender), measured
// with WebAudio: MediaStreamSource → ChannelSplitter → one AnalyserNode FFT per channel. The
// track is also played by a muted <audio> element (Chrome feeds WebAudio from a remote track only
// while something renders it).
const analysers = new Map();
window.audioChannelPeaks = async (id) => {
  const s = clients.get(id);
  const out = {};
  for (const receiver of s.client.pc.getReceivers()) {
    const track = receiver.track;
    if (!track || track.kind !== "audio" || track.readyState !== "live") continue;
    const info = s.tracks[track.id];
    if (!info) continue;
    let entry = analysers.get(track.id);
    if (!entry) {
      const ctx = new AudioContext({ sampleRate: 48000 });
      await ctx.resume();
      const stream = new MediaStream([track]);
      const element = new Audio();
      element.muted = true;
      element.srcObject = stream;
      element.play().catch(() => undefined);
      const source = ctx.createMediaStreamSource(stream);
      const splitter = ctx.createChannelSplitter(2);
      source.connect(splitter);
      const channels = [0, 1].map((c) => {
        const analyser = ctx.createAnalyser();
        analyser.fftSize = 8192;
        analyser.smoothingTimeConstant = 0;
        splitter.connect(analyser, c);
        return analyser;
      });
      entry = { ctx, element, channels, channelCount: source.channelCount };
      analysers.set(track.id, entry);
    }
    const peaks = entry.channels.map((analyser) => {
      const bins = new Float32Array(analyser.frequencyBinCount);
      analyser.getFloatFrequencyData(bins);
      let best = 0;
      for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      return { frequency: (best * entry.ctx.sampleRate) / analyser.fftSize, level: bins[best] };
    });
    out[info.streamId] = { left: peaks[0], right: peaks[1] };
  }
  return out;
};

// Per-rid outbound video with the scalability mode Chrome encodes with.
window.outboundScalability = async (id) => {
  const s = clients.get(id);
  const stats = await s.client.pc.getStats();
  const out = [];
  for (const r of stats.values()) {
    if (r.type === "outbound-rtp" && r.kind === "video") out.push({ rid: r.rid ?? null, scalabilityMode: r.scalabilityMode ?? null, framesEncoded: r.framesEncoded ?? 0 });
  }
  return out;
};
