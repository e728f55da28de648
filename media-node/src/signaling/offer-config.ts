// The offer's `config` (an RTCConfiguration) in the shape every Sora SDK's decoder accepts.
//
// The SDKs disagree on what they can read:
// - sora-cpp-sdk (and Momo, the Python and Unity SDKs on it) reads `config.iceServers` with
//   boost::json `.at()`, and each server's `username` and `credential` with `.as_string()`:
//   `config` must be there, and every server needs both strings (src/sora_signaling.cpp
//   CreatePeerConnection; momo src/sora/sora_client.cpp CreateRTCConnection).
// - sora-android-sdk's Gson model has non-null `urls`, `username`, `credential` per server
//   (channel/signaling/message/Catalog.kt IceServer) and passes them to libwebrtc's IceServer
//   builder.
// - sora-ios-sdk decodes `config`, when present, with `iceTransportPolicy` required and only
//   "relay" accepted (Sora/Signaling.swift SignalingOffer.Configuration, ICETransportPolicy.swift):
//   any other `config` fails the whole offer, which the SDK drops silently (a connect timeout).
//   Sora itself always sends "relay" (it ships its own TURN), so the SDKs never met another value.
// So: `iceTransportPolicy` is sent only as "relay"; an iOS SDK client gets no `config` at all
// unless it is relay (it then keeps its own RTCConfiguration, and the node's host candidates
// are in the offer SDP); everyone else always gets `config`, with string credentials.

export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

export interface OfferConfig {
  iceServers: IceServer[];
  iceTransportPolicy?: "relay";
}

/** What the node wants the client to use: its TURN servers (maybe none) and whether to relay only. */
export interface RtcConfiguration {
  iceServers: { urls: string | string[]; username?: string; credential?: string }[];
  iceTransportPolicy?: "all" | "relay";
}

/** sora-ios-sdk's `sora_client` ("Sora iOS SDK 2026.2.0", PeerChannel.swift sendConnectMessage). */
export function isIosSdk(soraClient: string | undefined): boolean {
  return soraClient?.startsWith("Sora iOS SDK") ?? false;
}

/** The offer's `config` for a client, or undefined when it must be left out (see above). */
export function offerConfig(rtc: RtcConfiguration, soraClient: string | undefined): OfferConfig | undefined {
  const relay = rtc.iceTransportPolicy === "relay";
  if (!relay && isIosSdk(soraClient)) return undefined;
  const iceServers = rtc.iceServers.map((s) => ({
    urls: Array.isArray(s.urls) ? s.urls : [s.urls],
    username: s.username ?? "",
    credential: s.credential ?? "",
  }));
  return relay ? { iceServers, iceTransportPolicy: "relay" } : { iceServers };
}
