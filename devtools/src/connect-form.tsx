import { useState } from "preact/hooks";
import { toConnectRequest, type ConnectForm, type ConnectRequest } from "./connect-options.js";

// The connect form: role and the common Sora options. Submitting validates (connect-options.ts)
// and hands a ready request to the page, which opens a ClientSession.

type Key = keyof ConnectForm;

export function ConnectFormView({ form, setForm, onConnect }: { form: ConnectForm; setForm: (f: ConnectForm) => void; onConnect: (r: Extract<ConnectRequest, { ok: true }>) => void }) {
  const [error, setError] = useState<string | null>(null);
  const set = <K extends Key>(key: K, value: ConnectForm[K]) => setForm({ ...form, [key]: value });
  const text = (key: Key, label: string, placeholder = "", wide = false) => (
    <label class={wide ? "wide" : ""}>
      {label}
      <input name={key} placeholder={placeholder} value={form[key] as string} onInput={(e) => set(key, e.currentTarget.value as never)} />
    </label>
  );
  const check = (key: Key, label: string) => (
    <label class="check">
      <input type="checkbox" name={key} checked={form[key] as boolean} onChange={(e) => set(key, e.currentTarget.checked as never)} />
      {label}
    </label>
  );
  const select = (key: Key, label: string, options: [string, string][]) => (
    <label>
      {label}
      <select name={key} value={form[key] as string} onChange={(e) => set(key, e.currentTarget.value as never)}>
        {options.map(([value, name]) => (
          <option key={value} value={value}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
  const rids: [string, string][] = [["", "default"], ["r0", "r0"], ["r1", "r1"], ["r2", "r2"]];
  return (
    <form
      class="connect"
      onSubmit={(e) => {
        e.preventDefault();
        const request = toConnectRequest(form);
        if (!request.ok) return setError(request.error);
        setError(null);
        onConnect(request);
      }}
    >
      <div class="row">
        {text("channelId", "Channel")}
        {select("role", "Role", [["sendrecv", "sendrecv"], ["sendonly", "sendonly"], ["recvonly", "recvonly"]])}
        {text("clientId", "Client id", "optional")}
        <button type="submit" class="primary" name="connect">
          Connect
        </button>
      </div>
      <details>
        <summary>Options</summary>
        <div class="row">
          {check("audio", "audio")}
          {check("video", "video")}
          {select("videoCodecType", "Video codec", [["", "default"], ["VP8", "VP8"], ["VP9", "VP9"], ["AV1", "AV1"], ["H264", "H264"], ["H265", "H265"]])}
          {text("videoBitRate", "Video kbps", "1–30000")}
          {text("audioBitRate", "Audio kbps", "6–510")}
        </div>
        <div class="row">
          {check("simulcast", "simulcast")}
          {select("simulcastRequestRid", "Receive rid", rids)}
          {check("spotlight", "spotlight")}
          {text("spotlightNumber", "Spotlight number", "1–8")}
          {select("spotlightFocusRid", "Focus rid", [...rids, ["none", "none"]])}
          {select("spotlightUnfocusRid", "Unfocus rid", [...rids, ["none", "none"]])}
        </div>
        <div class="row">
          {check("dataChannelSignaling", "DataChannel signaling")}
          {check("ignoreDisconnectWebSocket", "ignore WebSocket close")}
          {text("messagingLabels", "Messaging labels", "#chat #telemetry")}
        </div>
        <div class="row">
          {text("metadata", "Metadata (JSON)", '{"token": "..."}', true)}
          {text("signalingNotifyMetadata", "Notify metadata (JSON)", '{"name": "..."}', true)}
        </div>
        <div class="row">{text("signalingUrl", "Signaling URL", "ws://127.0.0.1:3000/signaling", true)}</div>
      </details>
      {error ? <p class="error">{error}</p> : null}
    </form>
  );
}
