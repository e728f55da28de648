import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import Sora from "sora-js-sdk";
import { AdminView } from "./admin-view.js";
import { ClientSession } from "./client-session.js";
import { ClientCard } from "./client-view.js";
import { ConnectFormView } from "./connect-form.js";
import { defaultConnectForm, edgeSignalingUrl, type ConnectForm } from "./connect-options.js";

// The devtools page, served by the edge at /devtools/: clients on the left (connect with the real
// sora-js-sdk, videos, live stats), the cluster on the right (the HTTP API). The API URL is the
// edge that served the page; the token is kept in localStorage for deployed edges.

const STORAGE_FORM = "devtools.form";
const STORAGE_TOKEN = "devtools.token";

function loadForm(): ConnectForm {
  const fallback = defaultConnectForm(edgeSignalingUrl(location));
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_FORM) ?? "null");
    return saved && typeof saved === "object" ? { ...fallback, ...saved } : fallback;
  } catch {
    return fallback;
  }
}

function App() {
  const [token, setToken] = useState(() => localStorage.getItem(STORAGE_TOKEN) ?? "");
  const [form, setForm] = useState(loadForm);
  const [sessions, setSessions] = useState<ClientSession[]>([]);
  const settings = useMemo(() => ({ url: `${location.origin}/`, token }), [token]);

  useEffect(() => localStorage.setItem(STORAGE_TOKEN, token), [token]);
  useEffect(() => localStorage.setItem(STORAGE_FORM, JSON.stringify(form)), [form]);

  return (
    <>
      <header class="top">
        <h1>SFU devtools</h1>
        <span class="muted">sora-js-sdk {Sora.version()}</span>
        <span class="spacer" />
        <label class="inline">
          API token
          <input
            type="password"
            name="token"
            placeholder="none (local edge)"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            autocomplete="off"
          />
        </label>
      </header>
      <main>
        <section class="clients">
          <header class="panel-head">
            <h2>Clients</h2>
          </header>
          <ConnectFormView
            form={form}
            setForm={setForm}
            onConnect={(request) => {
              const session = new ClientSession(request);
              setSessions((s) => [session, ...s]);
              void session.start();
            }}
          />
          {sessions.map((s) => (
            <ClientCard key={s.localId} session={s} onRemove={() => setSessions((all) => all.filter((x) => x !== s))} />
          ))}
        </section>
        <AdminView settings={settings} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
