// The connect form → what sora-js-sdk's `sendrecv/sendonly/recvonly(channelId, metadata, options)`
// takes. Pure (no DOM), unit-tested in test/node/devtools.test.ts. Option names are the SDK's
// ConnectionOptions (node_modules/sora-js-sdk/dist/types.d.ts); ranges are Sora's (video bit rate
// 1–30000 kbps, audio 6–510 kbps, spotlight_number 1–8, messaging labels start with `#`).

export type Role = "sendrecv" | "sendonly" | "recvonly";

export interface ConnectForm {
  signalingUrl: string;
  channelId: string;
  role: Role;
  clientId: string;
  audio: boolean;
  video: boolean;
  /** "" = the server's default. */
  videoCodecType: "" | "VP8" | "VP9" | "AV1" | "H264" | "H265";
  videoBitRate: string;
  audioBitRate: string;
  simulcast: boolean;
  /** "" = not sent. */
  simulcastRequestRid: "" | "r0" | "r1" | "r2";
  spotlight: boolean;
  spotlightNumber: string;
  spotlightFocusRid: "" | "none" | "r0" | "r1" | "r2";
  spotlightUnfocusRid: "" | "none" | "r0" | "r1" | "r2";
  dataChannelSignaling: boolean;
  ignoreDisconnectWebSocket: boolean;
  /** Comma or space separated, e.g. "#chat #telemetry". */
  messagingLabels: string;
  /** JSON text, "" = none. */
  metadata: string;
  signalingNotifyMetadata: string;
}

export const defaultConnectForm = (signalingUrl: string): ConnectForm => ({
  signalingUrl,
  channelId: "devtools",
  role: "sendrecv",
  clientId: "",
  audio: true,
  video: true,
  videoCodecType: "",
  videoBitRate: "",
  audioBitRate: "",
  simulcast: false,
  simulcastRequestRid: "",
  spotlight: false,
  spotlightNumber: "",
  spotlightFocusRid: "",
  spotlightUnfocusRid: "",
  dataChannelSignaling: false,
  ignoreDisconnectWebSocket: false,
  messagingLabels: "",
  metadata: "",
  signalingNotifyMetadata: "",
});

/** The subset of sora-js-sdk's ConnectionOptions the form sets. */
export interface SdkOptions {
  audio: boolean;
  video: boolean;
  clientId?: string;
  videoCodecType?: string;
  videoBitRate?: number;
  audioBitRate?: number;
  simulcast?: boolean;
  simulcastRequestRid?: string;
  spotlight?: boolean;
  spotlightNumber?: number;
  spotlightFocusRid?: string;
  spotlightUnfocusRid?: string;
  dataChannelSignaling?: boolean;
  ignoreDisconnectWebSocket?: boolean;
  dataChannels?: { label: string; direction: "sendrecv" }[];
  signalingNotifyMetadata?: unknown;
}

export type ConnectRequest =
  | { ok: true; signalingUrl: string; channelId: string; role: Role; metadata: unknown; options: SdkOptions }
  | { ok: false; error: string };

export function toConnectRequest(form: ConnectForm): ConnectRequest {
  const signalingUrl = form.signalingUrl.trim();
  if (!/^wss?:\/\/./.test(signalingUrl)) return { ok: false, error: "signaling URL must start with ws:// or wss://" };
  const channelId = form.channelId.trim();
  if (channelId.length === 0 || channelId.length > 255) return { ok: false, error: "channel id: 1–255 characters" };
  const options: SdkOptions = { audio: form.audio, video: form.video };
  const clientId = form.clientId.trim();
  if (clientId) options.clientId = clientId;

  if (form.videoCodecType) options.videoCodecType = form.videoCodecType;
  const videoBitRate = intIn(form.videoBitRate, 1, 30000);
  if (videoBitRate === null) return { ok: false, error: "video bit rate: 1–30000 kbps" };
  if (videoBitRate !== undefined) options.videoBitRate = videoBitRate;
  const audioBitRate = intIn(form.audioBitRate, 6, 510);
  if (audioBitRate === null) return { ok: false, error: "audio bit rate: 6–510 kbps" };
  if (audioBitRate !== undefined) options.audioBitRate = audioBitRate;

  if (form.simulcast) options.simulcast = true;
  if (form.simulcastRequestRid) options.simulcastRequestRid = form.simulcastRequestRid;
  if (form.spotlight) {
    options.spotlight = true;
    const n = intIn(form.spotlightNumber, 1, 8);
    if (n === null) return { ok: false, error: "spotlight number: 1–8" };
    if (n !== undefined) options.spotlightNumber = n;
    if (form.spotlightFocusRid) options.spotlightFocusRid = form.spotlightFocusRid;
    if (form.spotlightUnfocusRid) options.spotlightUnfocusRid = form.spotlightUnfocusRid;
  }

  const labels = form.messagingLabels.split(/[\s,]+/).filter((l) => l.length > 0);
  const badLabel = labels.find((l) => !l.startsWith("#") || l.length > 255);
  if (badLabel !== undefined) return { ok: false, error: `messaging label ${JSON.stringify(badLabel)} must start with #` };
  // Messaging needs DataChannel signaling (Sora refuses data_channels without it).
  if (form.dataChannelSignaling || labels.length > 0) options.dataChannelSignaling = true;
  if (options.dataChannelSignaling && form.ignoreDisconnectWebSocket) options.ignoreDisconnectWebSocket = true;
  if (labels.length > 0) options.dataChannels = [...new Set(labels)].map((label) => ({ label, direction: "sendrecv" }));

  const metadata = parseJson(form.metadata);
  if (metadata === INVALID) return { ok: false, error: "metadata is not valid JSON" };
  const notifyMetadata = parseJson(form.signalingNotifyMetadata);
  if (notifyMetadata === INVALID) return { ok: false, error: "signaling notify metadata is not valid JSON" };
  if (notifyMetadata !== undefined) options.signalingNotifyMetadata = notifyMetadata;

  return { ok: true, signalingUrl, channelId, role: form.role, metadata: metadata ?? null, options };
}

/** Blank → undefined; an integer in [min, max] → it; anything else → null. */
function intIn(text: string, min: number, max: number): number | undefined | null {
  const t = text.trim();
  if (t === "") return undefined;
  const n = Number(t);
  return Number.isInteger(n) && n >= min && n <= max ? n : null;
}

const INVALID = Symbol("invalid");
function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return INVALID;
  }
}

/** The page's default signaling URL: the edge that served it (`/signaling` redirects to the channel's node). */
export function edgeSignalingUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/signaling`;
}

/**
 * The simulcast layer a receiver asked for of one sender, in the node's order (media-node
 * Connection.wantedLayerOf): a RequestRtpStream for that sender, else one for every sender (key
 * "*"), else the connect's `simulcast_request_rid`, else r0. Null when this receiver did not
 * connect with simulcast or spotlight and made no request: then the page shows no rid.
 */
export function wantedRid(requests: ReadonlyMap<string, string>, sender: string, options: SdkOptions): string | null {
  const requested = requests.get(sender) ?? requests.get("*");
  if (requested) return requested;
  if (!options.simulcast && !options.spotlight) return null;
  return options.simulcastRequestRid ?? "r0";
}

/** What the cluster view announces after a RequestRtpStream/ResetRtpStream, for the page's own clients. */
export interface RidRequestEvent {
  recv: string;
  /** Undefined = every sender. */
  send?: string;
  /** Null = reset. */
  rid: string | null;
}
export const RID_REQUEST_EVENT = "devtools-rid-request";
