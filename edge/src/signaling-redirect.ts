import { SIGNALING_CLOSE } from "../../shared/close-codes.js";
import { channelStub, clusterStub, durationVar, type Env } from "./env.js";
import { PLACEMENT_CACHE_MS, PlacementCache } from "./objects/placement-cache.js";

// `GET /signaling`: one signaling URL for clients. The edge reads the `connect` message, asks the
// channel's ChannelObject which node serves it (placement.ts: one of its serving nodes or, with
// no room there or affinity off, a member with room; without a session, the least loaded connected
// member) and answers Sora's `redirect`; the client reconnects there. Media
// never touches the edge. The placement table comes from ClusterObject through a cache kept per
// Worker isolate (PLACEMENT_CACHE_MS), so connects do not all pass through the one ClusterObject.

const FIRST_MESSAGE_TIMEOUT_MS = 10_000;
/** Close codes in the 4000 range (application), echoing HTTP statuses (shared/close-codes.ts). */
export const CLOSE_BAD_CONNECT = SIGNALING_CLOSE.badRequest;
export const CLOSE_NO_NODE = SIGNALING_CLOSE.unavailable;

export function handleSignaling(request: Request, env: Env): Response {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response(JSON.stringify({ error_type: "UPGRADE-REQUIRED" }), { status: 426, headers: { "content-type": "application/json" } });
  }
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  const timer = setTimeout(() => close(server, CLOSE_BAD_CONNECT, "no connect message"), FIRST_MESSAGE_TIMEOUT_MS);
  let answered = false;
  server.addEventListener("message", (event) => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    void redirect(server, env, event.data);
  });
  server.addEventListener("close", () => clearTimeout(timer));
  return new Response(null, { status: 101, webSocket: client });
}

async function redirect(ws: WebSocket, env: Env, data: string | ArrayBuffer): Promise<void> {
  const channelId = connectChannelId(data);
  if (channelId === null) return close(ws, CLOSE_BAD_CONNECT, "INVALID-MESSAGE: expected a connect message with channel_id");
  try {
    const table = await placementCache(env).get();
    const location = await channelStub(env, channelId).signalingUrl(table);
    if (location === null) return close(ws, CLOSE_NO_NODE, "NO-MEDIA-NODE: no media node is connected");
    ws.send(JSON.stringify({ type: "redirect", location }));
    close(ws, 1000, "");
  } catch (err) {
    console.error("signaling redirect failed", err);
    close(ws, 1011, "INTERNAL-ERROR");
  }
}

function connectChannelId(data: string | ArrayBuffer): string | null {
  if (typeof data !== "string") return null;
  try {
    const message = JSON.parse(data) as { type?: unknown; channel_id?: unknown };
    if (message?.type !== "connect") return null;
    const id = message.channel_id;
    return typeof id === "string" && id.length > 0 && id.length <= 255 ? id : null;
  } catch {
    return null;
  }
}

function close(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed by the client.
  }
}

let cache: { env: Env; cache: PlacementCache } | undefined;

/** One cache per isolate (and per env, so tests with other bindings do not share it). */
function placementCache(env: Env): PlacementCache {
  if (cache?.env !== env) {
    cache = { env, cache: new PlacementCache(() => clusterStub(env).placementTable(), durationVar(env.PLACEMENT_CACHE_MS, PLACEMENT_CACHE_MS)) };
  }
  return cache.cache;
}
