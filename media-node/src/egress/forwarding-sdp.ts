import { isIPv6 } from "node:net";
import type { VideoCodecName } from "../config.js";
import { VIDEO_CODECS } from "../sfu/peer.js";

// The SDP answered by StartForwardingRtp: what a plain RTP receiver (ffmpeg, GStreamer, VLC)
// needs to open the forward. Payload types are Sora's (audio 109, video 120); the profile is
// RTP/AVP rather than Sora's RTP/SAVPF because the forward is neither encrypted nor answers
// RTCP feedback; c= is the target address, so a receiver on that host listens on the ports.

export const FORWARD_AUDIO_PAYLOAD_TYPE = 109;
export const FORWARD_VIDEO_PAYLOAD_TYPE = 120;

export interface ForwardedTrack {
  kind: "audio" | "video";
  port: number;
  codec: VideoCodecName | "OPUS";
}

export function forwardingSdp(address: string, tracks: ForwardedTrack[]): string {
  const ipVersion = isIPv6(address) ? "IP6" : "IP4";
  const lines = ["v=0", `o=- ${Date.now()} 0 IN ${ipVersion} ${address}`, "s=Sora RTP forwarding", `c=IN ${ipVersion} ${address}`, "t=0 0"];
  for (const track of tracks) {
    if (track.codec === "OPUS") {
      const pt = FORWARD_AUDIO_PAYLOAD_TYPE;
      lines.push(`m=audio ${track.port} RTP/AVP ${pt}`, `a=rtpmap:${pt} opus/48000/2`, `a=fmtp:${pt} minptime=10;useinbandfec=1`);
    } else {
      const pt = FORWARD_VIDEO_PAYLOAD_TYPE;
      // Same rtpmap/fmtp as the WebRTC legs (peer.ts), so e.g. H.264's packetization mode and profile match the stream.
      const codec = VIDEO_CODECS[track.codec]();
      lines.push(`m=video ${track.port} RTP/AVP ${pt}`, `a=rtpmap:${pt} ${track.codec}/90000`);
      if (codec.parameters) lines.push(`a=fmtp:${pt} ${codec.parameters}`);
    }
  }
  return lines.join("\r\n") + "\r\n";
}
