import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Message, RTCPeerConnection } from "werift";
import { MediaNode } from "../../media-node/src/media-node.js";
import { processMetrics } from "../../media-node/src/metrics/process-json.js";
import { useIceSocketPlan } from "../../media-node/src/transport/ice-sockets.js";
import { stunUsernameLocalPart, UdpMux, type MuxEntry } from "../../media-node/src/transport/udp-mux.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";

// Media nodes on real VMs (infra/node/README.md): all ICE of the node on one UDP port, host
// candidates carrying an announced address while the socket binds 0.0.0.0; or per-connection
// sockets in a configured port range.

// 127/8 all reaches lo: "the public address" of this test's 1:1 NAT. Clients know the node by it
// alone (the offer's only candidate); the node's own packets still leave its 0.0.0.0 socket with
// the kernel's source address (127.0.0.1: no NAT here rewrites it), so clients may also learn that
// as a peer-reflexive address, which a real 1:1 NAT would show as the announced one.
const ANNOUNCED = "127.0.0.3";

const STUN_BINDING_REQUEST = 0x0001;

function bindingRequest(username?: string): Buffer {
  const msg = new Message(1, 0);
  if (username !== undefined) msg.setAttribute("USERNAME", username);
  return Buffer.from(msg.bytes);
}

describe("stunUsernameLocalPart", () => {
  it("reads the receiver's ufrag of USERNAME, and nothing from other or broken input", () => {
    expect(bindingRequest("abcd1234:xyz9").readUInt16BE(0)).toBe(STUN_BINDING_REQUEST);
    expect(stunUsernameLocalPart(bindingRequest("abcd1234:xyz9"))).toBe("abcd1234");
    expect(stunUsernameLocalPart(bindingRequest("nocolon"))).toBe("nocolon");
    expect(stunUsernameLocalPart(bindingRequest())).toBeUndefined();
    expect(stunUsernameLocalPart(Buffer.from([0x80, 0x60, 0, 0]))).toBeUndefined(); // RTP-shaped
    const withUser = bindingRequest("abcd1234:xyz9");
    expect(stunUsernameLocalPart(withUser.subarray(0, 26))).toBeUndefined(); // attribute cut short
    const lying = Buffer.from(withUser);
    lying.writeUInt16BE(0xfff0, 22); // attribute length past the end
    expect(stunUsernameLocalPart(lying)).toBeUndefined();
  });
});

describe("UdpMux routing (loopback sockets, owners stubbed)", () => {
  let mux: UdpMux;
  let peer: ReturnType<typeof createSocket>;
  let peerPort = 0;

  beforeAll(async () => {
    mux = await UdpMux.bind({ bindAddress: "127.0.0.1", port: 0 });
    peer = createSocket("udp4");
    await new Promise<void>((r) => peer.bind(0, "127.0.0.1", () => r()));
    peerPort = peer.address().port;
  });
  afterAll(async () => {
    peer.close();
    await mux.close();
  });

  function capture(entry: MuxEntry): Buffer[] {
    const got: Buffer[] = [];
    entry.onData = (data, addr) => {
      expect(addr).toEqual(["127.0.0.1", peerPort]);
      got.push(Buffer.from(data));
    };
    return got;
  }
  const fromPeer = (data: Buffer) => new Promise<void>((r) => peer.send(data, mux.port, "127.0.0.1", () => r()));
  const settle = () => new Promise((r) => setTimeout(r, 100));

  it("routes checks by ufrag, responses by transaction, data by learned address (validated owner first); release forgets all", async () => {
    const a = mux.reserve();
    const b = mux.reserve();
    expect(a.ufrag).toMatch(/^[0-9a-f]{8}$/);
    expect(a.ufrag).not.toBe(b.ufrag);
    const gotA = capture(a);
    const gotB = capture(b);
    const dropped = processMetrics().udp_mux_dropped;

    // STUN request: by the receiver part of USERNAME, from any address.
    await fromPeer(bindingRequest(`${b.ufrag}:peer`));
    await settle();
    expect([gotA.length, gotB.length]).toEqual([0, 1]);

    // Data from an address no entry sent to: dropped.
    const dtls = Buffer.from([0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await fromPeer(dtls);
    await settle();
    expect(processMetrics().udp_mux_dropped - dropped).toBe(1);

    // Both entries sent to the peer: data goes to the one whose connection validated it.
    await a.send(Buffer.from("x"), ["127.0.0.1", peerPort]);
    await b.send(Buffer.from("y"), ["127.0.0.1", peerPort]);
    expect(mux.addressCount).toBe(1);
    a.owner = { acceptsData: () => false, hasTransaction: () => false };
    b.owner = { acceptsData: () => true, hasTransaction: () => false };
    await fromPeer(dtls);
    await settle();
    expect([gotA.length, gotB.length]).toEqual([0, 2]);

    // A response (no USERNAME) goes to the entry with that transaction in flight.
    const response = new Message(1, 0x100);
    const id = Buffer.from(response.transactionId).toString("hex");
    a.owner = { acceptsData: () => false, hasTransaction: (t) => t === id };
    await fromPeer(Buffer.from(response.bytes));
    await settle();
    expect([gotA.length, gotB.length]).toEqual([1, 2]);

    // Released: its ufrag and address no longer route, the other entry keeps the address.
    b.close();
    expect(b.closed).toBe(true);
    await fromPeer(bindingRequest(`${b.ufrag}:peer`));
    await settle();
    expect(gotB.length).toBe(2);
    a.owner = { acceptsData: () => true, hasTransaction: () => false };
    await fromPeer(dtls);
    await settle();
    expect(gotA.length).toBe(2);
    a.close();
    expect([mux.size, mux.addressCount]).toEqual([0, 0]);
  });

  it("keeps a few ufrags across ICE restarts, each routable until dropped", () => {
    const e = mux.reserve();
    const first = e.ufrag;
    for (let i = 0; i < 4; i++) mux.addUfrag(e);
    expect(e.ufrags).toHaveLength(4);
    expect(e.ufrags).not.toContain(first);
    e.close();
    expect(mux.size).toBe(0);
  });

  it("a PeerConnection with the plan: offer carries the reserved ufrag and one candidate; restart and close keep the mux in step", async () => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    useIceSocketPlan(pc, { mux, bindAddress: "127.0.0.1", announcedAddress: ANNOUNCED });
    pc.addTransceiver("audio", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await until("gathered", () => pc.iceGatheringState === "complete");
    expect(mux.size).toBe(1);
    const connection = (pc as unknown as { iceTransports: { connection: { localUsername: string; restart(): Promise<void> } }[] }).iceTransports[0]!.connection;
    const ufrag = connection.localUsername;
    expect(ufrag).toMatch(/^[0-9a-f]{8}$/);
    const sdp = pc.localDescription!.sdp;
    expect(sdp).toContain(`a=ice-ufrag:${ufrag}`);
    expect(sdp.split("\r\n").filter((l) => l.startsWith("a=candidate:"))).toEqual([expect.stringContaining(` udp 2116026367 ${ANNOUNCED} ${mux.port} typ host`)]);
    void connection.restart();
    expect(connection.localUsername).not.toBe(ufrag);
    expect(connection.localUsername).toMatch(/^[0-9a-f]{8}$/);
    await pc.close();
    expect(mux.size).toBe(0);

    // Closed before it ever gathered: the reserved entry is released too.
    const early = new RTCPeerConnection({ iceServers: [] });
    useIceSocketPlan(early, { mux, bindAddress: "127.0.0.1", announcedAddress: ANNOUNCED });
    early.addTransceiver("audio", { direction: "recvonly" });
    expect(mux.size).toBe(1);
    await early.close();
    expect(mux.size).toBe(0);
  });
});

function candidatesOf(client: WeriftSoraClient): string[][] {
  return String(client.offer.sdp)
    .split("\r\n")
    .filter((l) => l.startsWith("a=candidate:"))
    .map((l) => l.split(" "));
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function exchangeMedia(url: string, channelId: string): Promise<[WeriftSoraClient, WeriftSoraClient]> {
  const a = new WeriftSoraClient({ url, channelId, role: "sendrecv" });
  const b = new WeriftSoraClient({ url, channelId, role: "sendrecv" });
  await a.connect();
  a.startMedia(50, 500);
  await b.connect();
  b.startMedia(50, 500);
  await until("media both ways", () => a.packetsFrom(b.connectionId, "video") > 20 && b.packetsFrom(a.connectionId, "video") > 20);
  expect(a.packetsFrom(b.connectionId, "audio")).toBeGreaterThan(5);
  return [a, b];
}

/** The node's candidates as the client knows them: from the offer ("host"), or learned from checks ("prflx"). */
function remoteCandidates(client: WeriftSoraClient, type = "host"): string[] {
  const connection = (client.pc as unknown as { iceTransports: { connection: { remoteCandidates: { host: string; port: number; type: string }[] } }[] }).iceTransports[0]!
    .connection;
  return [...new Set(connection.remoteCandidates.filter((c) => c.type === type).map((c) => `${c.host}:${c.port}`))];
}

interface IcePcInternals {
  iceTransports: { connection: { checkList: { state: number; remoteAddr: [string, number] }[] } }[];
}

/** Local "address:port" of every UDP socket this process holds (ss, as an operator would look). */
function processUdpSockets(): string[] {
  const out = execFileSync("ss", ["-uanp"], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((l) => l.includes(`pid=${process.pid},`))
    .map((l) => l.trim().split(/\s+/)[3]!)
    .sort();
}

function clientSocketPorts(clients: WeriftSoraClient[]): Set<number> {
  const ports = new Set<number>();
  for (const c of clients) {
    for (const t of (c.pc as unknown as { iceTransports: { connection: { protocols: { transport?: { port?: number } }[] } }[] }).iceTransports) {
      for (const p of t.connection.protocols) if (p.transport?.port) ports.add(p.transport.port);
    }
  }
  return ports;
}

describe("one UDP port for all ICE, announced address (node binds 0.0.0.0)", () => {
  let node: MediaNode;
  let url: string;

  beforeAll(async () => {
    // Full ICE: on loopback nothing rewrites the node's replies (sent from 0.0.0.0, so from
    // 127.0.0.1) to the announced 127.0.0.3, and a lite node's answers to the client's checks would
    // come from an address the client did not send to (dropped, RFC 8445 §7.2.5.2.1); a full node
    // gets through with its own checks (peer-reflexive). Behind a real 1:1 NAT the NAT rewrites
    // them and lite works (docs/ARCHITECTURE.md, "ICE-lite").
    node = new MediaNode({ port: 0, iceAddresses: [], udpPort: 0, announcedAddress: ANNOUNCED, iceLite: false });
    await node.start();
    url = `ws://127.0.0.1:${node.port}/signaling`;
  });

  afterAll(async () => {
    await node?.stop();
  });

  it("binds one socket on 0.0.0.0 and offers only the announced address on its port; media flows both ways through it", async () => {
    const mux = node.udpMux!;
    expect(mux.socket.address()).toMatchObject({ address: "0.0.0.0", port: expect.any(Number) });
    const before = processMetrics();
    const [a, b] = await exchangeMedia(url, "mux-media");
    expect(a.messages.some((m) => m.type === "re-offer")).toBe(true); // b's tracks reached a through a re-offer
    expect(a.notifies("connection.created").some((n) => n.connection_id === b.connectionId)).toBe(true);
    // The fast path sends and receives through the shared socket (fast-transport.ts uses the pair's transport).
    const after = processMetrics();
    expect(after.fast_rtp_sent - before.fast_rtp_sent).toBeGreaterThan(40);
    expect(after.fast_rtp_received - before.fast_rtp_received).toBeGreaterThan(40);
    for (const client of [a, b]) {
      const candidates = candidatesOf(client);
      expect(candidates.length).toBeGreaterThan(0);
      for (const c of candidates) expect([c[2]?.toLowerCase(), c[4], c[5], c[7]]).toEqual(["udp", ANNOUNCED, String(mux.port), "host"]);
      expect(remoteCandidates(client)).toEqual([`${ANNOUNCED}:${mux.port}`]);
    }
    expect(mux.size).toBe(2);

    // The validated-pair rule (werift-patches.ts) still holds behind the mux: the node also sent
    // checks to a's other candidate (a's sockets bind 127.0.0.1, so that pair never succeeds); data
    // from that learned but unvalidated address reaches a's connection and is dropped there.
    const ice = (node.sfu.findConnection("mux-media", a.connectionId)!.peer.pc as unknown as IcePcInternals).iceTransports[0]!.connection;
    const unvalidated = ice.checkList.filter((p) => p.state !== 3 /* SUCCEEDED */ && p.remoteAddr[0] !== "127.0.0.1").map((p) => p.remoteAddr);
    if (unvalidated.length > 0) {
      const [ip, port] = unvalidated[0]!;
      const spoofer = createSocket("udp4");
      await new Promise<void>((resolve, reject) => {
        spoofer.once("error", reject);
        spoofer.bind(port, ip, () => resolve());
      });
      const before = processMetrics();
      const dtlsShaped = Buffer.from([0x17, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 4, 1, 2, 3, 4]);
      for (let i = 0; i < 10; i++) spoofer.send(dtlsShaped, mux.port, ANNOUNCED);
      await until("10 foreign datagrams counted", () => processMetrics().ice_foreign_datagrams - before.ice_foreign_datagrams >= 10, 3000);
      const after = processMetrics();
      expect(after.ice_foreign_datagrams - before.ice_foreign_datagrams).toBe(10);
      expect(after.udp_mux_dropped - before.udp_mux_dropped).toBe(0);
      spoofer.close();
      const flowing = b.packetsFrom(a.connectionId, "video");
      await until("media keeps flowing", () => b.packetsFrom(a.connectionId, "video") > flowing + 10);
    }

    await a.close();
    await b.close();
    await until("entries released", () => mux.size === 0);
    expect(mux.addressCount).toBe(0);
    await until("connections gone", () => node.sfu.connectionCount() === 0);
  });

  it("serves 20 clients on that one socket (ss), and closing them leaves the mux empty", async () => {
    const mux = node.udpMux!;
    // Every fourth one switches to DataChannel signaling: SCTP over DTLS over the shared socket.
    const clients = Array.from(
      { length: 20 },
      (_, i) => new WeriftSoraClient({ url, channelId: `mux-many-${i % 4}`, role: "sendonly", ...(i % 4 === 0 ? { dataChannelSignaling: true, ignoreDisconnectWebSocket: false } : {}) }),
    );
    for (let i = 0; i < clients.length; i += 5) await Promise.all(clients.slice(i, i + 5).map((c) => c.connect()));
    expect(mux.size).toBe(20);
    await until("DataChannel signaling switched", () => clients.filter((c) => c.messages.some((m) => m.type === "switched")).length === 5);
    for (const c of clients) expect(remoteCandidates(c)).toEqual([`${ANNOUNCED}:${mux.port}`]);
    const clientPorts = clientSocketPorts(clients);
    const nodeSockets = processUdpSockets().filter((local) => !clientPorts.has(Number(local.slice(local.lastIndexOf(":") + 1))));
    expect(nodeSockets).toEqual([`0.0.0.0:${mux.port}`]);
    await Promise.all(clients.map((c) => c.close()));
    await until("all 20 entries released", () => mux.size === 0);
    expect(mux.addressCount).toBe(0);
    await until("connections gone", () => node.sfu.connectionCount() === 0);
  });

  it("drops and counts datagrams of no connection: unknown ufrag, unknown source", async () => {
    const mux = node.udpMux!;
    const before = processMetrics().udp_mux_dropped;
    const socket = createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
    const send = (data: Buffer) => new Promise<void>((r) => socket.send(data, mux.port, ANNOUNCED, () => r()));
    await send(bindingRequest("nobody00:abcd")); // a check for no connection
    await send(bindingRequest()); // STUN without USERNAME from an address nobody sent to
    await send(Buffer.from([0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3])); // RTP-shaped
    await send(Buffer.from([0x16, 0xfe, 0xfd, 0, 0])); // DTLS-shaped
    let replies = 0;
    socket.on("message", () => replies++);
    await until("4 drops counted", () => processMetrics().udp_mux_dropped - before >= 4, 3000);
    expect(processMetrics().udp_mux_dropped - before).toBe(4);
    expect(replies).toBe(0);
    socket.close();
  });
});

describe("per-connection sockets in a port range, announced address", () => {
  let node: MediaNode;
  let url: string;
  const min = 40_000 + Math.floor(Math.random() * 20_000);
  const range: [number, number] = [min, min + 9];

  beforeAll(async () => {
    // Full ICE, as above: the announced address is a loopback alias, not a NAT.
    node = new MediaNode({ port: 0, iceAddresses: [], udpPortRange: range, announcedAddress: ANNOUNCED, iceLite: false });
    await node.start();
    url = `ws://127.0.0.1:${node.port}/signaling`;
  });

  afterAll(async () => {
    await node?.stop();
  });

  it("offers the announced address on a port of the range, one candidate per connection; media flows", async () => {
    expect(node.udpMux).toBeUndefined();
    const [a, b] = await exchangeMedia(url, "range-media");
    const ports = new Set<string>();
    for (const client of [a, b]) {
      const candidates = candidatesOf(client);
      expect(new Set(candidates.map((c) => c.join(" "))).size).toBe(1); // the same candidate in each bundled m-line
      const [, , , , address, port] = candidates[0]!;
      expect(address).toBe(ANNOUNCED);
      expect(Number(port)).toBeGreaterThanOrEqual(range[0]);
      expect(Number(port)).toBeLessThanOrEqual(range[1]);
      ports.add(port!);
      expect(remoteCandidates(client)).toEqual([`${ANNOUNCED}:${port}`]);
    }
    expect(ports.size).toBe(2);
    await a.close();
    await b.close();
    await until("connections gone", () => node.sfu.connectionCount() === 0);
    // Their sockets are closed: every port of the range binds again.
    expect(processUdpSockets().filter((l) => Number(l.slice(l.lastIndexOf(":") + 1)) >= range[0] && Number(l.slice(l.lastIndexOf(":") + 1)) <= range[1])).toEqual([]);
  });
});
