import { z } from "zod";

// What the offer says about Opus (pure): the fmtp of the m-line a client sends its audio on,
// from its connect `audio.opus_params` and `audio.bit_rate`, and the SDP rewrite that puts it
// there. A browser configures its Opus encoder from the fmtp of the remote description (here our
// offer): `stereo=1` makes it encode two channels, `maxaveragebitrate` sets its target bitrate
// (libwebrtc AudioEncoderOpusImpl::SdpToConfig). No Sora SDK applies `bit_rate` locally, so the
// offer is the only place it can act (sora-js-sdk e2e sendonly_audio.test.ts expects Chrome's
// outbound audio `targetBitrate` to equal bit_rate × 1000).
//
// Sora's reflection (sora-python-sdk tests/test_opus.py, test_signaling.py): `maxplaybackrate`,
// `stereo`, `sprop_stereo`, `usedtx` appear as fmtp tokens; no opus_params means no `usedtx=1`;
// rtpmap stays `opus/48000/2`. The rest follows RFC 7587 §7: `minptime`/`useinbandfec` are fmtp
// tokens, `ptime` is the `a=ptime` attribute. `channels` has no SDP token for Opus (always /2)
// and is accepted but not written.

/** Payload type of Opus on every leg (peer.ts). */
export const OPUS_PAYLOAD_TYPE = 111;

/** Defaults of every Opus m-line: stereo on, so stereo senders encode and receivers decode two channels. */
export const DEFAULT_OPUS_FMTP = "minptime=10;useinbandfec=1;stereo=1";

const flag = z.boolean();
const positive = (max: number) => z.number().int().min(1).max(max);

/** `audio.opus_params` as the SDKs send them (JS types.ts, Android Catalog.kt OpusParams adds clock_rate). */
export const opusParamsSchema = z
  .object({
    channels: positive(2).optional(),
    clock_rate: positive(48000).optional(),
    maxplaybackrate: z.number().int().min(8000).max(48000).optional(),
    minptime: positive(120).optional(),
    ptime: positive(120).optional(),
    stereo: flag.optional(),
    sprop_stereo: flag.optional(),
    useinbandfec: flag.optional(),
    usedtx: flag.optional(),
  })
  .passthrough();
export type OpusParams = z.infer<typeof opusParamsSchema>;

export interface OpusFormat {
  /** The `a=fmtp:111` value. */
  fmtp: string;
  /** `a=ptime` of the m-line, when asked. */
  ptime?: number;
}

const bit = (b: boolean) => (b ? "1" : "0");

/** The Opus format a sender is offered: defaults, then its opus_params, then bit_rate (kbps) as maxaveragebitrate. */
export function senderOpusFormat(params: OpusParams | undefined, bitRateKbps: number | undefined): OpusFormat {
  const tokens = new Map<string, string>([
    ["minptime", "10"],
    ["useinbandfec", "1"],
    ["stereo", "1"],
  ]);
  if (params) {
    if (params.minptime !== undefined) tokens.set("minptime", String(params.minptime));
    if (params.useinbandfec !== undefined) tokens.set("useinbandfec", bit(params.useinbandfec));
    if (params.stereo !== undefined) tokens.set("stereo", bit(params.stereo));
    if (params.sprop_stereo !== undefined) tokens.set("sprop-stereo", bit(params.sprop_stereo));
    if (params.maxplaybackrate !== undefined) tokens.set("maxplaybackrate", String(params.maxplaybackrate));
    if (params.usedtx !== undefined) tokens.set("usedtx", bit(params.usedtx));
  }
  if (bitRateKbps !== undefined) tokens.set("maxaveragebitrate", String(bitRateKbps * 1000));
  const format: OpusFormat = { fmtp: [...tokens].map(([k, v]) => `${k}=${v}`).join(";") };
  if (params?.ptime !== undefined) format.ptime = params.ptime;
  return format;
}

/**
 * The SDP with the Opus fmtp of the m-section `mid` replaced by `format` (and its `a=ptime`
 * set). Other sections are left as they are; an SDP without that section comes back unchanged.
 */
export function withOpusFormat(sdp: string, mid: string, format: OpusFormat): string {
  const sections = sdp.split(/\r\n(?=m=)/);
  for (let i = 1; i < sections.length; i++) {
    const lines = sections[i]!.split("\r\n");
    if (!lines[0]!.startsWith("m=audio ") || !lines.includes(`a=mid:${mid}`)) continue;
    const fmtpPrefix = `a=fmtp:${OPUS_PAYLOAD_TYPE} `;
    const out = lines.filter((l) => !l.startsWith(fmtpPrefix) && !l.startsWith("a=ptime:"));
    const rtpmap = out.findIndex((l) => l.startsWith(`a=rtpmap:${OPUS_PAYLOAD_TYPE} `));
    if (rtpmap < 0) return sdp;
    const added = [`${fmtpPrefix}${format.fmtp}`];
    if (format.ptime !== undefined) added.push(`a=ptime:${format.ptime}`);
    out.splice(rtpmap + 1, 0, ...added);
    sections[i] = out.join("\r\n");
    return sections.join("\r\n");
  }
  return sdp;
}
