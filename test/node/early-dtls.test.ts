import { afterEach, expect, it } from "vitest";
import { RTCPeerConnection } from "werift";
import { startDtlsClientImmediately } from "../../media-node/src/transport/werift-patches.js";

// A DTLS ClientHello that arrives before this side has started its DTLS transport (the peer's ICE
// connected first) must not be lost: werift dropped it and the handshake waited for the peer's
// retransmission. Two in-process werift PeerConnections: the answerer is the DTLS client and
// starts at once; the offerer's DTLS start is held back 300 ms; the client's retransmissions of
// its first ClientHello are dropped, so only the early one can make the handshake.

const config = { iceServers: [], iceInterfaceAddresses: { udp4: "127.0.0.1" }, iceAdditionalHostAddresses: ["127.0.0.1"], iceUseIpv6: false };
const pcs: RTCPeerConnection[] = [];

afterEach(async () => {
  await Promise.all(pcs.splice(0).map((pc) => pc.close()));
  startDtlsClientImmediately(false);
});

const connected = (pc: RTCPeerConnection) =>
  new Promise<void>((resolve) => {
    if (pc.connectionState === "connected") return resolve();
    pc.connectionStateChange.subscribe((s) => s === "connected" && resolve());
  });

/** DTLS record type 22 (handshake) whose message is type 1 (ClientHello), first record (sequence 1). */
const isFirstClientHello = (buf: Buffer) => buf[0] === 22 && buf[13] === 1 && buf.readUIntBE(5, 6) === 1;

it("keeps a ClientHello that arrives before the DTLS transport starts", async () => {
  startDtlsClientImmediately(true);
  const server = new RTCPeerConnection(config);
  const client = new RTCPeerConnection(config);
  pcs.push(server, client);
  server.createDataChannel("probe");
  await server.setLocalDescription(await server.createOffer());
  await client.setRemoteDescription(server.localDescription!);
  await client.setLocalDescription(await client.createAnswer());
  await server.setRemoteDescription(client.localDescription!);

  type Transport = { iceTransport: { connection: any }; start: () => Promise<void> };
  const serverDtls = (server as unknown as { sctpTransport: { dtlsTransport: Transport } }).sctpTransport.dtlsTransport;
  const clientIce = (client as unknown as { sctpTransport: { dtlsTransport: Transport } }).sctpTransport.dtlsTransport.iceTransport.connection;

  let helloArrivedAt = 0;
  serverDtls.iceTransport.connection.onData.subscribe((buf: Buffer) => {
    if (isFirstClientHello(buf) && !helloArrivedAt) helloArrivedAt = Date.now();
  });
  let retransmissionsDropped = 0;
  let helloSent = false;
  const send = clientIce.send.bind(clientIce);
  clientIce.send = async (data: Buffer) => {
    if (isFirstClientHello(data)) {
      if (helloSent) return void retransmissionsDropped++;
      helloSent = true;
    }
    return send(data);
  };
  let startedAt = 0;
  const start = serverDtls.start;
  serverDtls.start = async function (this: unknown) {
    await new Promise((r) => setTimeout(r, 300));
    startedAt = Date.now();
    return start.call(this);
  };

  await Promise.race([
    Promise.all([connected(server), connected(client)]),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no DTLS handshake within 4 s (${retransmissionsDropped} retransmissions dropped)`)), 4_000)),
  ]);
  expect(startedAt).toBeGreaterThan(0);
  expect(helloArrivedAt).toBeGreaterThan(0);
  expect(helloArrivedAt).toBeLessThan(startedAt); // it did arrive before the DTLS transport started
});
