import { useCallback, useEffect, useState } from "preact/hooks";
import { buildAdminModel, type AdminModel, type ChannelRow } from "./admin-data.js";
import { callApi, type ApiSettings, type TargetName } from "./api.js";
import { RID_REQUEST_EVENT, type RidRequestEvent } from "./connect-options.js";
import { shortId } from "./format.js";

// The operator's view of the cluster, read from the HTTP API every 2 s: nodes (mode, load),
// channels with their connections, paused pairs; and buttons for the API's commands.

const POLL_MS = 2000;
const MODES = ["normal", "block_new_session", "block_new_connection"];

type Run = (name: TargetName, body: Record<string, unknown>) => Promise<any>;

async function loadModel(settings: ApiSettings): Promise<AdminModel> {
  const need = async (name: TargetName, body: Record<string, unknown> = {}) => {
    const r = await callApi(settings, name, body);
    if (!r.ok) throw new Error(r.error);
    return r.body;
  };
  const [nodes, clusterChannels, channels, connections] = await Promise.all([
    need("ListClusterNodes"),
    need("ListClusterChannels"),
    need("ListChannels"),
    need("ListConnections"),
  ]);
  const pauses: Record<string, any[]> = {};
  const userAgentStats: Record<string, any[]> = {};
  await Promise.all(
    (channels as { channel_id: string }[]).map(async ({ channel_id }) => {
      // A channel may end between the calls (CHANNEL-NOT-FOUND): it simply shows nothing.
      const [p, u] = await Promise.all([
        callApi(settings, "ListPauseRtpStreams", { channel_id }),
        callApi(settings, "ListChannelUserAgentStats", { channel_id }),
      ]);
      pauses[channel_id] = p.ok ? p.body : [];
      userAgentStats[channel_id] = u.ok ? u.body : [];
    }),
  );
  return buildAdminModel({ nodes, clusterChannels, channels, connections, pauses, userAgentStats });
}

/** Tells this page's own clients (ClientSession) which layer they asked for, for their stats. */
function announceRid(detail: RidRequestEvent): void {
  window.dispatchEvent(new CustomEvent(RID_REQUEST_EVENT, { detail }));
}

export function AdminView({ settings }: { settings: ApiSettings }) {
  const [model, setModel] = useState<AdminModel | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [auto, setAuto] = useState(true);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);

  const refresh = useCallback(async () => {
    try {
      setModel(await loadModel(settings));
      setLoadError(null);
    } catch (err) {
      setLoadError((err as Error).message);
    }
  }, [settings]);

  useEffect(() => {
    void refresh();
    if (!auto) return;
    const timer = setInterval(() => void refresh(), POLL_MS);
    return () => clearInterval(timer);
  }, [refresh, auto]);

  const run: Run = async (name, body) => {
    const r = await callApi(settings, name, body);
    setResult(r.ok ? { ok: true, text: `${name} ✓ ${JSON.stringify(r.body).slice(0, 300)}` } : { ok: false, text: r.error });
    void refresh();
    return r.ok ? r.body : null;
  };

  return (
    <section class="admin">
      <header class="panel-head">
        <h2>Cluster</h2>
        <span class="spacer" />
        <label class="check">
          <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.currentTarget.checked)} />
          auto refresh
        </label>
        <button name="refresh" onClick={() => void refresh()}>
          Refresh
        </button>
      </header>
      {loadError ? <p class="error">{loadError}</p> : null}
      {result ? <p class={result.ok ? "result ok" : "result error"} data-testid="api-result">{result.text}</p> : null}
      {model ? <NodesTable model={model} run={run} /> : <p class="muted">Loading…</p>}
      {model?.channels.length === 0 ? <p class="muted">No channel has a session.</p> : null}
      {model?.channels.map((c) => <ChannelView key={c.channelId} channel={c} run={run} />)}
    </section>
  );
}

function NodesTable({ model, run }: { model: AdminModel; run: Run }) {
  return (
    <table class="nodes">
      <thead>
        <tr>
          <th>Node</th>
          <th>Link</th>
          <th>Epoch</th>
          <th>Load</th>
          <th>Mode</th>
        </tr>
      </thead>
      <tbody>
        {model.nodes.map((n) => (
          <tr key={n.nodeName} data-node={n.nodeName}>
            <td title={n.signalingUrl}>{n.nodeName}</td>
            <td>
              <span class={`dot ${n.connected ? "up" : "down"}`} />
              {n.connected ? "up" : "down"}
            </td>
            <td>{n.epoch ?? "–"}</td>
            <td>
              {n.channels} ch · {n.connections} conn
            </td>
            <td>
              <select
                name="mode"
                value={n.mode}
                onChange={(e) => void run("ChangeMode", { node_name: n.nodeName, mode: e.currentTarget.value })}
              >
                {(MODES.includes(n.mode) ? MODES : [n.mode, ...MODES]).map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ChannelView({ channel, run }: { channel: ChannelRow; run: Run }) {
  const ids = channel.connections.map((c) => c.connectionId);
  const senders = channel.connections.filter((c) => c.role !== "recvonly").map((c) => c.connectionId);
  const receivers = channel.connections.filter((c) => c.role !== "sendonly").map((c) => c.connectionId);
  const [recv, setRecv] = useState("");
  const [send, setSend] = useState("");
  const [rid, setRid] = useState("r0");
  const [target, setTarget] = useState("");
  const [metadata, setMetadata] = useState('{"hand": "raised"}');
  const [push, setPush] = useState(true);
  const [forward, setForward] = useState({ ip: "127.0.0.1", audio: "5004", video: "5006" });
  const [sdp, setSdp] = useState<string | null>(null);
  const recvId = receivers.includes(recv) ? recv : (receivers[0] ?? "");
  const sendId = senders.includes(send) ? send : (senders.find((s) => s !== recvId) ?? senders[0] ?? "");
  const targetId = ids.includes(target) ? target : (ids[0] ?? "");
  const channel_id = channel.channelId;
  const pair = { channel_id, recv_connection_id: recvId, send_connection_id: sendId };
  const label = (id: string) => {
    const c = channel.connections.find((x) => x.connectionId === id);
    return c ? `${shortId(id)} (${c.clientId === id ? c.role : `${c.clientId}, ${c.role}`})` : id;
  };
  const parsed = (): Record<string, unknown> | null => {
    try {
      const v = JSON.parse(metadata);
      return v && typeof v === "object" && !Array.isArray(v) ? v : null;
    } catch {
      return null;
    }
  };

  return (
    <section class="channel" data-channel-id={channel_id}>
      <h3>
        {channel_id}
        <small>
          {channel.node ?? "no owner"}
          {channel.spotlight ? " · spotlight" : ""} · {channel.connections.length} connections
        </small>
      </h3>
      <div class="table-wrap">
        <table class="connections">
          <thead>
            <tr>
              <th>Connection</th>
              <th>Client id</th>
              <th>Role</th>
              <th>Node</th>
              <th>Media</th>
              <th>Codecs</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {channel.connections.map((c) => (
              <tr key={c.connectionId} data-connection-id={c.connectionId}>
                <td>
                  <code title={c.connectionId}>{shortId(c.connectionId)}</code>
                </td>
                <td>{c.clientId === c.connectionId ? "=" : c.clientId}</td>
                <td>{c.role}</td>
                <td>{c.node ?? "–"}</td>
                <td>{[c.audio ? "audio" : "", c.video ? "video" : "", c.simulcast ? "simulcast" : ""].filter(Boolean).join(", ")}</td>
                <td title="what the client reports in its stats (ping/pong or the stats DataChannel)">{c.codecs || "–"}</td>
                <td>
                  <button
                    class="danger small"
                    name="disconnect-connection"
                    title="DisconnectConnection"
                    onClick={() => void run("DisconnectConnection", { channel_id, connection_id: c.connectionId })}
                  >
                    Disconnect
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {channel.paused.length > 0 ? (
        <p class="paused">
          Paused:{" "}
          {channel.paused.map((p) => (
            <span class="pill" key={`${p.recv}-${p.send}`}>
              {shortId(p.recv)} ← {shortId(p.send)}
            </span>
          ))}
        </p>
      ) : null}

      <div class="actions">
        <fieldset class="pair">
          <legend>Stream (receiver ← sender)</legend>
          <select name="recv" value={recvId} onChange={(e) => setRecv(e.currentTarget.value)}>
            {receivers.map((id) => (
              <option key={id} value={id}>
                {label(id)}
              </option>
            ))}
          </select>
          <span>←</span>
          <select name="send" value={sendId} onChange={(e) => setSend(e.currentTarget.value)}>
            {senders.map((id) => (
              <option key={id} value={id}>
                {label(id)}
              </option>
            ))}
          </select>
          <div class="buttons">
            <button name="pause" disabled={!recvId || !sendId} onClick={() => void run("PauseRtpStream", pair)}>
              Pause
            </button>
            <button name="resume" disabled={!recvId || !sendId} onClick={() => void run("ResumeRtpStream", pair)}>
              Resume
            </button>
            <select name="rid" value={rid} onChange={(e) => setRid(e.currentTarget.value)}>
              {["r0", "r1", "r2"].map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
            <button
              name="request-rtp-stream"
              disabled={!recvId || !sendId}
              onClick={async () => {
                if (await run("RequestRtpStream", { ...pair, rid })) announceRid({ recv: recvId, send: sendId, rid });
              }}
            >
              Request rid
            </button>
            <button
              name="reset-rtp-stream"
              disabled={!recvId || !sendId}
              onClick={async () => {
                if (await run("ResetRtpStream", pair)) announceRid({ recv: recvId, send: sendId, rid: null });
              }}
            >
              Reset rid
            </button>
          </div>
        </fieldset>

        <fieldset class="meta">
          <legend>Connection</legend>
          <select name="target" value={targetId} onChange={(e) => setTarget(e.currentTarget.value)}>
            {ids.map((id) => (
              <option key={id} value={id}>
                {label(id)}
              </option>
            ))}
          </select>
          <textarea name="metadata" rows={2} value={metadata} onInput={(e) => setMetadata(e.currentTarget.value)} />
          <div class="buttons">
            <label class="check">
              <input type="checkbox" checked={push} onChange={(e) => setPush(e.currentTarget.checked)} />
              push
            </label>
            <button
              name="put-metadata"
              disabled={!targetId || parsed() === null}
              onClick={() => void run("PutSignalingNotifyMetadata", { channel_id, connection_id: targetId, metadata: parsed(), push })}
            >
              Put metadata
            </button>
            <button name="push" disabled={!targetId || parsed() === null} onClick={() => void run("PushConnection", { channel_id, connection_id: targetId, data: parsed() })}>
              Push
            </button>
          </div>
        </fieldset>

        <fieldset class="forward">
          <legend>RTP forwarding of {senders.includes(targetId) ? shortId(targetId) : "the first sender"}</legend>
          <input name="ip" value={forward.ip} onInput={(e) => setForward({ ...forward, ip: e.currentTarget.value })} />
          <input name="audio-port" class="port" value={forward.audio} onInput={(e) => setForward({ ...forward, audio: e.currentTarget.value })} />
          <input name="video-port" class="port" value={forward.video} onInput={(e) => setForward({ ...forward, video: e.currentTarget.value })} />
          <div class="buttons">
            <button
              name="start-forwarding"
              onClick={async () => {
                const body: Record<string, unknown> = { channel_id, ip_address: forward.ip, audio_port: Number(forward.audio), video_port: Number(forward.video) };
                if (senders.includes(targetId)) body.connection_id = targetId;
                const answer = await run("StartForwardingRtp", body);
                setSdp(answer?.sdp ?? null);
              }}
            >
              Start
            </button>
            <button
              name="stop-forwarding"
              onClick={() => {
                setSdp(null);
                void run("StopForwardingRtp", senders.includes(targetId) ? { channel_id, connection_id: targetId } : { channel_id });
              }}
            >
              Stop
            </button>
          </div>
          {sdp ? <pre class="sdp">{sdp}</pre> : null}
        </fieldset>
      </div>
    </section>
  );
}
