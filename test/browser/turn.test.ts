import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { turnConfig } from "../../media-node/src/config.js";
import { coturnConfig } from "../../media-node/src/turn/coturn.js";
import { MediaNode } from "../../media-node/src/media-node.js";
import { BrowserHarness, freePort, waitFor, type ClientHandle, type SoraPage } from "./harness.js";

// TURN beside the node: the node spawns coturn, offers carry time-limited credentials, a
// sora-js-sdk publisher forced to relay-only (UDP, then TCP to the TURN server) reaches the
// node through coturn, a normal receiver decodes it, and the node counts TURN connections.

const SECRET = "turn-test-secret-0123456789";

let node: MediaNode;
let browser: BrowserHarness;
let url: string;
let turnPort: number;

beforeAll(async () => {
  turnPort = await freePort();
  node = new MediaNode({
    port: 0,
    turn: turnConfig({
      sharedSecret: SECRET,
      listenIp: "127.0.0.1",
      listenPort: turnPort,
      minPort: 49_300,
      maxPort: 49_399,
      // The node's ICE address is 127.0.0.1 in tests; production never allows loopback peers.
      allowLoopbackPeers: true,
    }),
  });
  await node.start();
  url = `ws://127.0.0.1:${node.port}/signaling`;
  browser = await BrowserHarness.start();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

type RelayConfig = { iceTransportPolicy: "relay"; turnTransport?: "udp" | "tcp" };

function startRelayed(page: SoraPage, channelId: string, rtcConfig: RelayConfig): Promise<ClientHandle> {
  const args = { url, channelId, role: "sendonly" as const, rtcConfig };
  return page.page.evaluate((a) => (window as unknown as { startClient(a: unknown): Promise<ClientHandle> }).startClient(a), args);
}

interface PairInfo {
  state: string;
  localType: string;
  relayProtocol: string | null;
  remoteType: string;
}

const selectedPair = (page: SoraPage, id: number) =>
  page.page.evaluate((i) => (window as unknown as { selectedCandidatePair(i: number): Promise<PairInfo | null> }).selectedCandidatePair(i), id);

describe("TURN (coturn spawned by the node)", () => {
  it("relays a relay-only publisher over UDP and TCP to a normal receiver and counts TURN connections", async () => {
    const channelId = `turn-${Math.random().toString(36).slice(2)}`;
    const page = await browser.newPage();
    // The publisher first: a recvonly client alone in a channel has no m-line to connect over.
    const udp = await startRelayed(page, channelId, { iceTransportPolicy: "relay", turnTransport: "udp" });
    expect(udp.error).toBeNull();
    const receiver = await page.start({ url, channelId, role: "recvonly" });
    expect(receiver.error).toBeNull();

    // The offer's config as the SDK handed it to RTCPeerConnection: our TURN server, REST credentials.
    const seen = await page.page.evaluate(() => (window as unknown as { rtcConfigsSeen: unknown[] }).rtcConfigsSeen);
    const config = seen[0] as { iceServers: { urls: string[]; username: string; credential: string }[] };
    expect(config.iceServers).toHaveLength(1);
    const server = config.iceServers[0]!;
    expect(server.urls).toEqual([`turn:127.0.0.1:${turnPort}?transport=udp`, `turn:127.0.0.1:${turnPort}?transport=tcp`]);
    const [expiry, connectionId] = server.username.split(":");
    expect(connectionId).toBe(udp.connectionId);
    expect(Number(expiry)).toBeGreaterThan(Date.now() / 1000 + 3600);
    expect(server.credential).toBe(createHmac("sha1", SECRET).update(server.username).digest("base64"));

    const udpPair = await waitFor("UDP relay pair selected", () => selectedPair(page, udp.id));
    expect(udpPair).toMatchObject({ localType: "relay", relayProtocol: "udp" });
    await waitFor("receiver decodes the UDP-relayed publisher", async () => ((await page.inbound(receiver.id))[udp.connectionId!]?.framesDecoded ?? 0) >= 10);
    await waitFor("node counted a TURN/UDP connection", async () => node.turn!.counters.total_turn_udp_connections >= 1);

    const tcp = await startRelayed(page, channelId, { iceTransportPolicy: "relay", turnTransport: "tcp" });
    expect(tcp.error).toBeNull();
    const tcpPair = await waitFor("TCP relay pair selected", () => selectedPair(page, tcp.id));
    expect(tcpPair).toMatchObject({ localType: "relay", relayProtocol: "tcp" });
    await waitFor("receiver decodes the TCP-relayed publisher", async () => ((await page.inbound(receiver.id))[tcp.connectionId!]?.framesDecoded ?? 0) >= 10);
    await waitFor("node counted a TURN/TCP connection", async () => node.turn!.counters.total_turn_tcp_connections >= 1);

    // connection.created as the receiver heard it names each publisher's TURN transport.
    const created = (await page.state(receiver.id)).notifies.filter((n) => n.event_type === "connection.created");
    expect(created.find((n) => n.connection_id === tcp.connectionId)?.turn_transport_type).toBe("tcp");
    const own = (await page.state(udp.id)).notifies.find((n) => n.event_type === "connection.created" && n.connection_id === udp.connectionId);
    expect(own?.turn_transport_type).toBe("udp");

    // The receiver itself was not relayed and was not counted.
    const receiverPair = await selectedPair(page, receiver.id);
    expect(receiverPair?.localType).toBe("host");
    expect(node.turn!.counters).toEqual({ total_turn_udp_connections: 1, total_turn_tcp_connections: 1 });
    await page.page.close();
  });
});

describe("coturn lifecycle and config", () => {
  it("starts with the node and is gone after node.stop()", async () => {
    const port = await freePort();
    const n = new MediaNode({ port: 0, turn: turnConfig({ sharedSecret: SECRET, listenPort: port, minPort: 49_400, maxPort: 49_420, allowLoopbackPeers: true }) });
    await n.start();
    const pid = n.turn!.coturnPid!;
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).not.toThrow();
    await n.stop();
    expect(n.turn!.coturnPid).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it("generates a locked-down config: REST secret, relays only to the node, loopback only when asked", () => {
    const prod = coturnConfig(
      turnConfig({ sharedSecret: SECRET, listenIp: "10.0.0.5", externalHost: "203.0.113.7", tcp: false }),
      ["10.0.0.5"],
      "/tmp/x",
    ).split("\n");
    expect(prod).toEqual(
      expect.arrayContaining([
        "listening-ip=10.0.0.5",
        "relay-ip=10.0.0.5",
        "use-auth-secret",
        `static-auth-secret=${SECRET}`,
        "no-cli",
        "no-tls",
        "no-tcp",
        "no-multicast-peers",
        "log-file=stdout",
        "external-ip=203.0.113.7/10.0.0.5",
        "denied-peer-ip=0.0.0.0-255.255.255.255",
        "allowed-peer-ip=10.0.0.5",
      ]),
    );
    expect(prod).not.toContain("allow-loopback-peers");
    expect(coturnConfig(turnConfig({ sharedSecret: SECRET, allowLoopbackPeers: true }), ["127.0.0.1"], "/tmp/x")).toContain("allow-loopback-peers");
  });
});
