import { useEffect, useRef, useState } from "preact/hooks";
import { Sparkline } from "./chart.js";
import type { ClientSession } from "./client-session.js";
import { fmt, shortId } from "./format.js";
import type { StreamRow } from "./stats.js";

// One connection's card: local and remote videos, each with its live stats and charts, the
// messaging box (when the connect asked for labels) and the event log.

function useSession(session: ClientSession): void {
  const [, setTick] = useState(0);
  useEffect(() => session.subscribe(() => setTick((n) => n + 1)), [session]);
}

function Video({ stream, muted }: { stream: MediaStream; muted: boolean }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (ref.current && ref.current.srcObject !== stream) ref.current.srcObject = stream;
  }, [stream]);
  useEffect(() => {
    if (ref.current) ref.current.muted = muted;
  }, [muted]);
  return <video ref={ref} autoplay playsInline muted={muted} />;
}

function StatsRows({ session, rows, rid }: { session: ClientSession; rows: StreamRow[]; rid?: string | null }) {
  return (
    <div class="stats">
      {rows.map((row) => {
        const series = session.series.get(row.id);
        return (
          <div class={`stat-row ${row.kind}`} key={row.id}>
            <div class="stat-text">
              <b>
                {row.kind}
                {row.rid ? ` ${row.rid}` : ""}
              </b>{" "}
              {row.direction === "in" && row.kind === "video" && rid ? <span title="the simulcast layer this receiver asked for (connect or RequestRtpStream)">rid {rid} · </span> : null}
              {row.kind === "video" && row.width ? `${row.width}×${row.height} · ` : ""}
              {fmt(row.bitrateKbps, 0, " kbps")}
              {row.kind === "video" ? ` · ${fmt(row.fps, 0, " fps")}` : ""} · loss {fmt(row.lossPercent, 1, "%")} · rtt {fmt(row.rttMs, 0, " ms")}
              {row.framesDecoded !== undefined ? ` · decoded ${row.framesDecoded}` : ""}
            </div>
            {row.kind === "video" && series ? (
              <div class="charts">
                <Sparkline values={series.bitrate} color="#2563eb" unit="kbps" />
                <Sparkline values={series.fps} color="#16a34a" unit="fps" />
              </div>
            ) : null}
          </div>
        );
      })}
    </div>
  );
}

function RemoteTile({ session, connectionId, stream }: { session: ClientSession; connectionId: string; stream: MediaStream }) {
  const [muted, setMuted] = useState(true);
  const rows = session.rows.filter((r) => r.direction === "in" && session.senderOf(r) === connectionId);
  const decoded = rows.find((r) => r.kind === "video")?.framesDecoded ?? 0;
  const clientId = session.clientIds.get(connectionId);
  return (
    <div class="tile remote" data-sender-id={connectionId} data-frames-decoded={decoded}>
      <div class="video-box">
        <Video stream={stream} muted={muted} />
        <span class="tag" title={connectionId}>
          from {clientId && clientId !== connectionId ? `${clientId} · ` : ""}
          {shortId(connectionId)}
        </span>
        <button class="mute" title={muted ? "Play its audio" : "Mute its audio"} onClick={() => setMuted(!muted)}>
          {muted ? "unmute" : "mute"}
        </button>
      </div>
      <StatsRows session={session} rows={rows} rid={session.ridOf(connectionId)} />
    </div>
  );
}

function Messaging({ session }: { session: ClientSession }) {
  const [label, setLabel] = useState(session.labels[0] ?? "");
  const [text, setText] = useState("");
  return (
    <form
      class="messaging"
      onSubmit={(e) => {
        e.preventDefault();
        if (text) void session.sendMessage(label, text);
        setText("");
      }}
    >
      <select value={label} onChange={(e) => setLabel(e.currentTarget.value)}>
        {session.labels.map((l) => (
          <option key={l}>{l}</option>
        ))}
      </select>
      <input placeholder="message" value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <button type="submit" disabled={session.state !== "connected"}>
        Send
      </button>
    </form>
  );
}

export function ClientCard({ session, onRemove }: { session: ClientSession; onRemove: () => void }) {
  useSession(session);
  const outRows = session.rows.filter((r) => r.direction === "out");
  return (
    <article class={`client ${session.state}`} data-local-id={session.localId} data-connection-id={session.connectionId ?? ""} data-state={session.state}>
      <header>
        <span class="title">{session.title}</span>
        <span class={`badge ${session.state}`}>{session.state}</span>
        <code class="conn-id" title="connection id">
          {session.connectionId ?? "…"}
        </code>
        <span class="spacer" />
        {session.state === "closed" ? (
          <button onClick={onRemove}>Remove</button>
        ) : (
          <button class="danger" name="disconnect" onClick={() => void session.close()}>
            Disconnect
          </button>
        )}
      </header>
      {session.error ? <p class="error">{session.error}</p> : null}
      <div class="tiles">
        {session.localStream ? (
          <div class="tile local">
            <div class="video-box">
              <Video stream={session.localStream} muted />
              <span class="tag">local</span>
            </div>
            <StatsRows session={session} rows={outRows} />
          </div>
        ) : null}
        {session.remotes.map((r) => (
          <RemoteTile key={r.stream.id} session={session} connectionId={r.connectionId} stream={r.stream} />
        ))}
        {session.remotes.length === 0 && session.state === "connected" ? <p class="muted">No remote streams yet.</p> : null}
      </div>
      {session.labels.length > 0 ? <Messaging session={session} /> : null}
      <details class="log">
        <summary>Events ({session.log.length})</summary>
        <ol>
          {session.log.map((l, i) => (
            <li key={i}>
              <time>{new Date(l.at).toLocaleTimeString()}</time> {l.text}
            </li>
          ))}
        </ol>
      </details>
    </article>
  );
}
