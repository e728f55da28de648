import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MediaNode } from "../../media-node/src/media-node.js";
import { DEFAULT_OPUS_FMTP, senderOpusFormat, withOpusFormat } from "../../media-node/src/sfu/opus-format.js";

// connect `audio.opus_params` / `audio.bit_rate` → the Opus fmtp of the sender's m-line in the
// offer (what Sora's e2e tests check: sora-python-sdk tests/test_opus.py, test_signaling.py).

describe("senderOpusFormat", () => {
  it("offers stereo with in-band FEC by default and no usedtx", () => {
    expect(senderOpusFormat(undefined, undefined)).toEqual({ fmtp: DEFAULT_OPUS_FMTP });
    expect(DEFAULT_OPUS_FMTP.split(";")).toEqual(["minptime=10", "useinbandfec=1", "stereo=1"]);
  });

  it("maps every opus_param to its fmtp token (ptime to a=ptime) and bit_rate to maxaveragebitrate in bps", () => {
    const format = senderOpusFormat(
      { channels: 2, maxplaybackrate: 16000, minptime: 20, ptime: 40, stereo: false, sprop_stereo: false, useinbandfec: false, usedtx: true },
      64,
    );
    expect(format.fmtp.split(";").sort()).toEqual(
      ["minptime=20", "useinbandfec=0", "stereo=0", "sprop-stereo=0", "maxplaybackrate=16000", "usedtx=1", "maxaveragebitrate=64000"].sort(),
    );
    expect(format.ptime).toBe(40);
    expect(senderOpusFormat({ sprop_stereo: true }, 128).fmtp).toBe("minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1;maxaveragebitrate=128000");
  });
});

describe("withOpusFormat", () => {
  const sdp = [
    "v=0",
    "o=- 1 0 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "a=mid:0",
    "a=recvonly",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1",
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "a=mid:1",
    "a=rtpmap:96 VP8/90000",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "a=mid:2",
    "a=sendonly",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1",
    "",
  ].join("\r\n");

  it("rewrites only the named audio section", () => {
    const out = withOpusFormat(sdp, "0", { fmtp: "minptime=10;useinbandfec=1;stereo=0;maxaveragebitrate=32000", ptime: 20 });
    const lines = out.split("\r\n");
    expect(lines.slice(4, 10)).toEqual([
      "m=audio 9 UDP/TLS/RTP/SAVPF 111",
      "a=mid:0",
      "a=recvonly",
      "a=rtpmap:111 opus/48000/2",
      "a=fmtp:111 minptime=10;useinbandfec=1;stereo=0;maxaveragebitrate=32000",
      "a=ptime:20",
    ]);
    expect(out.split("\r\n").slice(10)).toEqual(sdp.split("\r\n").slice(9));
  });

  it("leaves an SDP without that audio section unchanged", () => {
    expect(withOpusFormat(sdp, "1", { fmtp: "stereo=0" })).toBe(sdp);
    expect(withOpusFormat(sdp, "9", { fmtp: "stereo=0" })).toBe(sdp);
  });
});

describe("the offer a sender gets", () => {
  let node: MediaNode;
  let url: string;
  beforeAll(async () => {
    node = new MediaNode({ port: 0 });
    await node.start();
    url = `ws://127.0.0.1:${node.port}/signaling`;
  });
  afterAll(async () => {
    await node?.stop();
  });

  async function offerFor(audio: unknown, role = "sendonly"): Promise<{ type?: string; sdp?: string; reason?: string }> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const first = new Promise<{ type?: string; sdp?: string; reason?: string }>((resolve) => {
      ws.once("message", (raw) => resolve(JSON.parse(raw.toString())));
      ws.once("close", (_code, reason) => resolve({ reason: reason.toString() }));
    });
    ws.send(JSON.stringify({ type: "connect", role, channel_id: `opus-${Math.random()}`, audio, video: false }));
    const message = await first;
    ws.close();
    return message;
  }

  const opusFmtps = (sdp: string) => sdp.split("\r\n").filter((l) => l.startsWith("a=fmtp:111 "));

  it("carries the connect's opus_params and bit_rate on the sender's m-line", async () => {
    const offer = await offerFor({ codec_type: "OPUS", bit_rate: 32, opus_params: { maxplaybackrate: 16000, stereo: false, sprop_stereo: false, usedtx: true, ptime: 20 } });
    expect(offer.type).toBe("offer");
    const [fmtp] = opusFmtps(offer.sdp!);
    expect(fmtp!.split(" ")[1]!.split(";").sort()).toEqual(
      ["minptime=10", "useinbandfec=1", "stereo=0", "sprop-stereo=0", "maxplaybackrate=16000", "usedtx=1", "maxaveragebitrate=32000"].sort(),
    );
    expect(offer.sdp).toContain("a=rtpmap:111 opus/48000/2");
    expect(offer.sdp).toContain("a=ptime:20");
  });

  it("offers stereo=1 and no usedtx without opus_params", async () => {
    const offer = await offerFor(true);
    expect(opusFmtps(offer.sdp!)).toEqual([`a=fmtp:111 ${DEFAULT_OPUS_FMTP}`]);
  });

  it("refuses opus_params of the wrong type", async () => {
    const refused = await offerFor({ opus_params: { stereo: "yes" } });
    expect(refused.type).toBeUndefined();
    expect(refused.reason).toBe("INVALID-CONNECT");
  });
});
