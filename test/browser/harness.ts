import { createSocket } from "node:dgram";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import type { NodeConfig } from "../../media-node/src/config.js";
import { MediaNode } from "../../media-node/src/media-node.js";
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from "../support/chromium.js";

// Headless Chromium driving the real sora-js-sdk from npm. The page is served from 127.0.0.1.

const here = dirname(fileURLToPath(import.meta.url));

export { CHROMIUM_FLAGS, CHROMIUM_PATH };

export interface ClientHandle {
  id: number;
  connectionId: string | null;
  error: { message: string; code?: number; reason?: string } | null;
}

export interface ClientState {
  connectionId: string | null;
  /** Summaries; a `simulcast.switched` notify is kept whole (but `type`/`timestamp`). */
  notifies: {
    event_type: string;
    connection_id?: string;
    channel_connections?: number;
    metadata?: unknown;
    data?: unknown[];
    role?: string;
    turn_transport_type?: string;
    [key: string]: unknown;
  }[];
  pushes: unknown[];
  tracks: Record<string, { kind: string; streamId: string }>;
  removed: { kind: string; streamId: string }[];
  switched: boolean;
  disconnected: { type: string; title: string; code?: number; reason?: string } | null;
  error: ClientHandle["error"];
  wsOpen: boolean;
  /** The SDK's `signaling` callback events (type, transportType). */
  signaling: { type: string; transportType: string }[];
  /** `transportType:type` of signaling events and "disconnect", in the order they fired. */
  sequence: string[];
}

export interface StreamStats {
  framesDecoded: number;
  frameWidth: number;
  videoPackets: number;
  audioPackets: number;
  nackCount: number;
  packetsLost: number;
}

export class BrowserHarness {
  private constructor(
    private readonly server: Server,
    readonly browser: Browser,
    readonly pageUrl: string,
  ) {}

  static async start(): Promise<BrowserHarness> {
    const sdkDir = join(here, "../../node_modules/sora-js-sdk/dist");
    const files: Record<string, { path: string; type: string }> = {
      "/": { path: join(here, "page/index.html"), type: "text/html" },
      "/client.js": { path: join(here, "page/client.js"), type: "text/javascript" },
      "/sora.js": { path: join(sdkDir, "sora.js"), type: "text/javascript" },
    };
    const server = createServer(async (req, res) => {
      const file = files[(req.url ?? "/").split("?")[0]!];
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": file.type }).end(await readFile(file.path));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS, headless: true });
    return new BrowserHarness(server, browser, `http://127.0.0.1:${port}/`);
  }

  async newPage(): Promise<SoraPage> {
    const page = await this.browser.newPage();
    page.on("pageerror", (err) => console.error("[page error]", err.message));
    await page.goto(this.pageUrl);
    await page.waitForFunction(() => (window as unknown as { soraReady?: boolean }).soraReady === true);
    return new SoraPage(page);
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

type PageWindow = {
  startClient(args: unknown): Promise<ClientHandle>;
  clientState(id: number): ClientState;
  inboundByStream(id: number): Promise<Record<string, StreamStats>>;
  disconnectClient(id: number): Promise<void>;
  outboundVideo(id: number): Promise<OutboundVideo[]>;
  inboundVideo(id: number): Promise<InboundVideo | null>;
  setAudioEnabled(id: number, enabled: boolean): void;
  setLayerActive(id: number, rid: string, active: boolean): Promise<void>;
  messagingState(id: number): MessagingState;
  sendMessage(id: number, label: string, text: string): Promise<void>;
  rpcCall(id: number, method: string, params?: Record<string, unknown>): Promise<{ result?: unknown; error?: string }>;
};

/** What the SDK handed the app: `message` events (bytes decoded as UTF-8), `datachannel` labels, rpcMethods, raw `rpc` answers. */
export interface MessagingState {
  messages: { label: string; length: number; text: string }[];
  dataChannels: string[];
  rpcMethods: string[];
  rpcFrames: string[];
}

export interface OutboundVideo {
  rid: string | null;
  frameWidth: number;
  bytesSent: number;
  timestamp: number;
  framesEncoded: number;
  qualityLimitationReason?: string;
  active?: boolean;
  /** Chrome's send-side bandwidth estimate (selected candidate pair). */
  availableOutgoingBitrate?: number;
  keyFramesEncoded: number;
  /** PLIs the sender received. */
  pliCount: number;
}

export interface InboundVideo {
  framesDecoded: number;
  frameWidth: number;
  keyFramesDecoded: number;
  freezeCount: number;
  pliCount: number;
  packetsReceived: number;
  framesDropped: number;
}

/** One browser tab holding any number of sora-js-sdk connections. */
export class SoraPage {
  constructor(readonly page: Page) {}

  start(args: {
    url: string;
    channelId: string;
    /** "messaging": sora.messaging() (role sendonly, no media, DataChannels only). */
    role: "sendrecv" | "sendonly" | "recvonly" | "messaging";
    options?: Record<string, unknown>;
    metadata?: unknown;
    video?: unknown;
    audio?: unknown;
  }): Promise<ClientHandle> {
    return this.page.evaluate((a) => (window as unknown as PageWindow).startClient(a), args);
  }

  state(id: number): Promise<ClientState> {
    return this.page.evaluate((i) => (window as unknown as PageWindow).clientState(i), id);
  }

  inbound(id: number): Promise<Record<string, StreamStats>> {
    return this.page.evaluate((i) => (window as unknown as PageWindow).inboundByStream(i), id);
  }

  /** Whether client `id` has decoded `minFrames` video frames and received audio from each sender in `from`. */
  async decodes(id: number, from: readonly string[], minFrames = 10): Promise<boolean> {
    const stats = await this.inbound(id);
    return from.every((cid) => (stats[cid]?.framesDecoded ?? 0) >= minFrames && (stats[cid]?.audioPackets ?? 0) > 0);
  }

  disconnect(id: number): Promise<void> {
    return this.page.evaluate((i) => (window as unknown as PageWindow).disconnectClient(i), id);
  }

  outboundVideo(id: number): Promise<OutboundVideo[]> {
    return this.page.evaluate((i) => (window as unknown as PageWindow).outboundVideo(i), id);
  }

  setAudioEnabled(id: number, enabled: boolean): Promise<void> {
    return this.page.evaluate(([i, e]) => (window as unknown as PageWindow).setAudioEnabled(i as number, e as boolean), [id, enabled] as const);
  }

  setLayerActive(id: number, rid: string, active: boolean): Promise<void> {
    return this.page.evaluate(([i, r, a]) => (window as unknown as PageWindow).setLayerActive(i as number, r as string, a as boolean), [id, rid, active] as const);
  }

  messaging(id: number): Promise<MessagingState> {
    return this.page.evaluate((i) => (window as unknown as PageWindow).messagingState(i), id);
  }

  sendMessage(id: number, label: string, text: string): Promise<void> {
    return this.page.evaluate(([i, l, t]) => (window as unknown as PageWindow).sendMessage(i as number, l as string, t as string), [id, label, text] as const);
  }

  rpc(id: number, method: string, params?: Record<string, unknown>): Promise<{ result?: unknown; error?: string }> {
    return this.page.evaluate(([i, m, p]) => (window as unknown as PageWindow).rpcCall(i as number, m as string, p as Record<string, unknown> | undefined), [id, method, params] as const);
  }

  inboundVideo(id: number): Promise<InboundVideo | null> {
    return this.page.evaluate((i) => (window as unknown as PageWindow).inboundVideo(i), id);
  }
}

/** Polls `probe` until it returns a truthy value or the deadline passes (then throws with the last value). */
export async function waitFor<T>(what: string, probe: () => Promise<T>, timeoutMs = 20_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Registers beforeAll/afterAll that start an in-process media node (with `config`) and a
 * headless Chromium, and stop both. Read the fields inside tests (they are set in beforeAll).
 */
export function nodeAndBrowser(config: Partial<NodeConfig> = {}): { node: MediaNode; browser: BrowserHarness; url: string } {
  const ctx = {} as { node: MediaNode; browser: BrowserHarness; url: string };
  beforeAll(async () => {
    ctx.node = new MediaNode({ port: 0, ...config });
    await ctx.node.start();
    ctx.url = `ws://127.0.0.1:${ctx.node.port}/signaling`;
    ctx.browser = await BrowserHarness.start();
  }, 60_000);
  afterAll(async () => {
    await ctx.browser?.close();
    await ctx.node?.stop();
  });
  return ctx;
}

/** A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createTcpServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket("udp4");
      u.once("error", () => resolve(false));
      u.bind(port, "127.0.0.1", () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}
