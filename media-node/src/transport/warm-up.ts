import { RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import { Peer } from "../sfu/peer.js";

// A fresh node's first client used to wait ~80 ms longer than the next ones (measured: 228–237
// vs 142–154 ms connect → connected with a warm client): werift creates the process-wide DTLS
// certificate on first use and its SDP, ICE and DTLS code runs cold. One in-process loopback
// connection at start (our server Peer offering to a bare werift client, through ICE and DTLS)
// pays that before any client does.

const WARM_UP_TIMEOUT_MS = 5_000;

/** Resolves with the time the warm-up took (ms), or -1 when it did not complete in time. */
export async function warmUpPeerConnections(iceAddress: string, iceLite: boolean, signal?: AbortSignal): Promise<number> {
  const started = performance.now();
  const server = new Peer({ iceAddresses: [iceAddress], iceLite, upstreamAudio: true, upstreamVideo: true, videoCodec: "VP8", dataChannels: [] });
  const client = new RTCPeerConnection({
    iceServers: [],
    iceInterfaceAddresses: { udp4: iceAddress },
    iceAdditionalHostAddresses: [iceAddress],
    iceUseIpv6: false,
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111 })],
      video: [new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000, payloadType: 96 })],
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const connected = new Promise<boolean>((resolve) => {
      server.pc.connectionStateChange.subscribe((state) => {
        if (state === "connected") resolve(true);
        if (state === "failed" || state === "closed") resolve(false);
      });
      timer = setTimeout(() => resolve(false), WARM_UP_TIMEOUT_MS);
      signal?.addEventListener("abort", () => resolve(false), { once: true });
    });
    await client.setRemoteDescription({ type: "offer", sdp: await server.createOffer() });
    await client.setLocalDescription(await client.createAnswer());
    await server.setAnswer(client.localDescription!.sdp);
    return (await connected) ? performance.now() - started : -1;
  } finally {
    clearTimeout(timer);
    await Promise.allSettled([server.close(), client.close()]);
  }
}
