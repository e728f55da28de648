// Sora's HTTP API as the devtools page calls it: `POST /` with `x-sora-target` (and a bearer token
// for deployed edges). Only the targets the page uses; test/node/devtools.test.ts checks every one
// against the catalog (shared/api/catalog.ts), so a renamed or re-dated target fails a test.

export const TARGETS = {
  ListClusterNodes: "Sora_20211215.ListClusterNodes",
  ListClusterChannels: "Sora_20211215.ListClusterChannels",
  ListChannels: "Sora_20201013.ListChannels",
  ListConnections: "Sora_20201013.ListConnections",
  ListPauseRtpStreams: "Sora_20200401.ListPauseRtpStreams",
  ListChannelUserAgentStats: "Sora_20211215.ListChannelUserAgentStats",
  RequestRtpStream: "Sora_20201005.RequestRtpStream",
  ResetRtpStream: "Sora_20201005.ResetRtpStream",
  PauseRtpStream: "Sora_20200401.PauseRtpStream",
  ResumeRtpStream: "Sora_20200401.ResumeRtpStream",
  PutSignalingNotifyMetadata: "Sora_20201124.PutSignalingNotifyMetadata",
  PushConnection: "Sora_20160711.PushConnection",
  ChangeMode: "Sora_20211215.ChangeMode",
  StartForwardingRtp: "Sora_20170814.StartForwardingRtp",
  StopForwardingRtp: "Sora_20170814.StopForwardingRtp",
  DisconnectConnection: "Sora_20151104.DisconnectConnection",
} as const;

export type TargetName = keyof typeof TARGETS;

export type ApiResult = { ok: true; body: any } | { ok: false; status: number; error: string };

export interface ApiSettings {
  /** The edge's API URL, e.g. http://127.0.0.1:3000/ (the page's own origin by default). */
  url: string;
  /** API_TOKEN of a deployed edge; empty locally. */
  token: string;
}

export async function callApi(settings: ApiSettings, name: TargetName, body: Record<string, unknown> = {}): Promise<ApiResult> {
  const headers: Record<string, string> = { "x-sora-target": TARGETS[name], "content-type": "application/json" };
  if (settings.token) headers.authorization = `Bearer ${settings.token}`;
  let res: Response;
  try {
    res = await fetch(settings.url, { method: "POST", headers, body: JSON.stringify(body) });
  } catch (err) {
    return { ok: false, status: 0, error: `${name}: ${(err as Error).message}` };
  }
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: shown as text.
  }
  if (res.ok) return { ok: true, body: parsed };
  const type = typeof parsed === "object" && parsed?.error_type ? parsed.error_type : text.slice(0, 200);
  return { ok: false, status: res.status, error: `${name}: ${res.status} ${type}` };
}
