import { readFileSync } from "node:fs";
import path from "node:path";
import { RTCPeerConnection } from "werift";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { MediaNode } from "../../media-node/src/media-node.js";
import { SDK_DECODERS } from "../support/sdk-decoders.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { until } from "../support/wait.js";

// The iOS, Android, C++/Python and Momo SDKs' `connect`, replayed exactly as each SDK's public
// source builds it (test/fixtures/sdk-connect/<sdk>.json names repository, commit and code). Each
// replaying werift client must get an offer the SDK's own decoder accepts (test/support/
// sdk-decoders.ts), connect, see its own connection.created, and exchange media with a second
// client of the same SDK; every notify and `switched` it gets must pass that decoder too.

const FIXTURE_DIR = path.resolve(import.meta.dirname, "../fixtures/sdk-connect");
const SDKS = ["ios", "android", "cpp-python", "momo"] as const;
type SdkName = (typeof SDKS)[number];

interface Fixture {
  sdk: string;
  source: { repository: string; commit: string; paths: string[] };
  placeholders: Record<string, string>;
  connect: Record<string, unknown>;
}

function loadFixture(name: SdkName): Fixture {
  return JSON.parse(readFileSync(path.join(FIXTURE_DIR, `${name}.json`), "utf8")) as Fixture;
}

/** A throw-away recvonly PeerConnection's offer, as the mobile SDKs put in `connect.sdp`. */
async function clientOfferSdp(): Promise<string> {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addTransceiver("video", { direction: "recvonly" });
  const offer = await pc.createOffer();
  await pc.close();
  return offer.sdp;
}

/** The fixture's connect with its placeholders filled and the channel made unique to the test. */
async function connectOf(fixture: Fixture, channelId: string): Promise<Record<string, unknown>> {
  const connect: Record<string, unknown> = { ...fixture.connect, channel_id: channelId };
  if (connect.sdp === "$CLIENT_OFFER_SDP") connect.sdp = await clientOfferSdp();
  for (const value of Object.values(connect)) expect(String(value)).not.toMatch(/^\$[A-Z_]+$/);
  return connect;
}

function expectDecodes(schema: z.ZodType, message: unknown, what: string): void {
  const result = schema.safeParse(message);
  expect(result.success ? [] : result.error.issues, `${what}: ${JSON.stringify(message).slice(0, 600)}`).toEqual([]);
}


let node: MediaNode;
let url: string;
const clients: WeriftSoraClient[] = [];

beforeAll(async () => {
  // Pings often enough that each client gets some to decode.
  node = new MediaNode({ port: 0, pingIntervalMs: 200 });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await node?.stop();
});

it("has one fixture per SDK, each naming the repository and commit it was read from", () => {
  for (const name of SDKS) {
    const f = loadFixture(name);
    expect(f.source.repository, name).toMatch(/^shiguredo\/[\w-]+$/);
    expect(f.source.commit, name).toMatch(/^[0-9a-f]{40}$/);
    expect(f.source.paths.length, name).toBeGreaterThan(0);
    expect(f.connect.type, name).toBe("connect");
  }
});

for (const name of SDKS) {
  describe(name, () => {
    it("gets an offer its decoder accepts, connects, and exchanges media with a second client of the same SDK", async () => {
      const fixture = loadFixture(name);
      const decoder = SDK_DECODERS[name];
      const channelId = `replay-${name}`;
      const role = fixture.connect.role as "sendrecv";
      const dataChannelSignaling = fixture.connect.data_channel_signaling === true;
      const open = async () => {
        const client = new WeriftSoraClient({ url, channelId, role, connectMessage: await connectOf(fixture, channelId) });
        clients.push(client);
        await client.connect();
        return client;
      };

      const first = await open();
      expectDecodes(decoder.offer, first.offer, `${fixture.sdk} offer`);
      // What each SDK needs beyond the decoder's types:
      if (name === "ios") expect(first.offer.config, "iOS: config only with relay").toBeUndefined();
      else expect(first.offer.config).toEqual({ iceServers: [] });
      expect(first.offer.video_codec_type).toBe("VP8");
      if (dataChannelSignaling) {
        expect((first.offer.data_channels as { label: string }[]).map((d) => d.label)).toEqual(["signaling", "notify", "push", "stats"]);
      } else {
        // iOS switches to DataChannel signaling on the key's mere presence.
        expect(first.offer).not.toHaveProperty("data_channels");
      }

      const ownCreated = await until("own connection.created", () =>
        first.notifies("connection.created").find((n) => n.connection_id === first.connectionId),
      );
      expect(ownCreated).toMatchObject({ role, channel_connections: 1 });

      const second = await open();
      expectDecodes(decoder.offer, second.offer, `${fixture.sdk} offer (second)`);
      first.startMedia(50, 300);
      second.startMedia(50, 300);
      await until("media first → second", () => second.packetsFrom(first.connectionId, "video") > 10 && second.packetsFrom(first.connectionId, "audio") > 5);
      await until("media second → first", () => first.packetsFrom(second.connectionId, "video") > 10 && first.packetsFrom(second.connectionId, "audio") > 5);
      const secondCreated = await until("first sees the second's connection.created", () =>
        first.notifies("connection.created").find((n) => n.connection_id === second.connectionId),
      );
      // Android also sends the camelCase duplicate `signalingNotifyMetadata`: the snake_case key counts.
      const notifyMetadata = fixture.connect.signaling_notify_metadata;
      if (notifyMetadata !== undefined) expect(secondCreated.metadata).toEqual(notifyMetadata);
      else expect(secondCreated).not.toHaveProperty("metadata");
      if (dataChannelSignaling) {
        for (const c of [first, second]) {
          const switched = await until("switched", () => c.messages.find((m) => m.type === "switched"));
          expectDecodes(decoder.switched, switched, `${fixture.sdk} switched`);
        }
      }

      for (const c of [first, second]) await until("a ping", () => c.messages.some((m) => m.type === "ping"));
      await second.close();
      await until("first sees connection.destroyed", () =>
        first.notifies("connection.destroyed").find((n) => n.connection_id === second.connectionId),
      );
      for (const c of [first, second]) {
        expect(c.notifies().length).toBeGreaterThan(0);
        for (const n of c.notifies()) expectDecodes(decoder.notify, n, `${fixture.sdk} notify ${String(n.event_type)}`);
        for (const p of c.messages.filter((m) => m.type === "ping")) expectDecodes(decoder.ping, p, `${fixture.sdk} ping`);
        // C++ and Momo read `type` of every message (WebSocket and DataChannel) with `.at()`.
        for (const m of c.messages) expect(typeof m.type, JSON.stringify(m).slice(0, 200)).toBe("string");
      }
      await first.close();
    }, 60_000);
  });
}
