import { createSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Message, classes, methods } from "werift";
import { MediaNode } from "../../media-node/src/media-node.js";
import { processMetrics } from "../../media-node/src/metrics/process-json.js";
import { clientSilent, stunIntegrityValid, sweepIntervalMs } from "../../media-node/src/transport/ice-lite.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";
import { until } from "../support/wait.js";

// ICE-lite on the node's offering PeerConnections (transport/ice-lite.ts): the offer says so at
// session level, only authenticated checks are answered, and a client that goes silent (no
// WebSocket to lose: DataChannel signaling with ignore_disconnect_websocket) is ended after the
// silence timeout, the job werift's consent checks did for a full-ICE node.

function bindingRequest(username: string, key: string, useCandidate = false): Buffer {
  const request = new Message(methods.BINDING, classes.REQUEST);
  request.setAttribute("USERNAME", username).setAttribute("PRIORITY", 1853824767).setAttribute("ICE-CONTROLLING", 1n);
  if (useCandidate) request.setAttribute("USE-CANDIDATE", null);
  request.addMessageIntegrity(Buffer.from(key, "utf8")).addFingerprint();
  return request.bytes;
}

describe("ICE-lite units", () => {
  it("checks MESSAGE-INTEGRITY against the key, the bytes it covers and its own length", () => {
    const key = Buffer.from("abcdefghijklmnopqrstuv");
    const good = bindingRequest("node:client", key.toString());
    expect(stunIntegrityValid(good, key)).toBe(true);
    expect(stunIntegrityValid(good, Buffer.from("wrong-password-0000000"))).toBe(false);
    const tampered = Buffer.from(good);
    tampered[30] = tampered[30]! ^ 1; // inside USERNAME
    expect(stunIntegrityValid(tampered, key)).toBe(false);
    const unsigned = new Message(methods.BINDING, classes.REQUEST).setAttribute("USERNAME", "node:client").bytes;
    expect(stunIntegrityValid(unsigned, key)).toBe(false);
    expect(stunIntegrityValid(good.subarray(0, 40), key)).toBe(false); // cut inside an attribute
    expect(stunIntegrityValid(Buffer.alloc(8), key)).toBe(false);
  });

  it("calls a client silent only past the timeout, and sweeps at a quarter of it within 250 ms..5 s", () => {
    expect(clientSilent(1_000, 31_000, 30_000)).toBe(false);
    expect(clientSilent(1_000, 31_001, 30_000)).toBe(true);
    expect(sweepIntervalMs(30_000)).toBe(5_000);
    expect(sweepIntervalMs(8_000)).toBe(2_000);
    expect(sweepIntervalMs(500)).toBe(250);
  });
});

describe("ICE-lite node", () => {
  let node: MediaNode;
  let url: string;
  // Above werift's consent interval (5 s ± 20 %, between request starts), so the clients that stay
  // alive keep their connections: the observer below proves it by outliving the silent one.
  const SILENCE_MS = 8_000;

  beforeAll(async () => {
    node = new MediaNode({ port: 0, iceSilenceTimeoutMs: SILENCE_MS });
    await node.start();
    url = `ws://127.0.0.1:${node.port}/signaling`;
  });

  afterAll(async () => {
    await node?.stop();
  });

  it("offers a=ice-lite at session level and answers only checks signed with its password", async () => {
    const client = new WeriftSoraClient({ url, channelId: "lite-auth", role: "sendrecv" });
    await client.connect();
    try {
      const sdp = String(client.offer.sdp);
      const session = sdp.slice(0, sdp.indexOf("\r\nm="));
      expect(session).toContain("\r\na=ice-lite");
      const ufrag = /a=ice-ufrag:(\S+)/.exec(sdp)![1]!;
      const candidate = /a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host/.exec(sdp)!;
      const socket = createSocket("udp4");
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
      const answers: Buffer[] = [];
      socket.on("message", (data) => answers.push(data));
      try {
        const before = processMetrics().ice_unauthenticated_requests;
        // The right USERNAME but a made-up password, with USE-CANDIDATE: a lite agent would nominate it.
        socket.send(bindingRequest(`${ufrag}:evil`, "not-the-node-password!!", true), Number(candidate[2]), candidate[1]);
        await until("counted", () => processMetrics().ice_unauthenticated_requests > before, 3000);
        await new Promise((r) => setTimeout(r, 200));
        expect(answers).toEqual([]);
        expect(processMetrics().ice_unauthenticated_requests - before).toBe(1);
      } finally {
        socket.close();
      }
      // The client's own (authenticated) checks made the connection: it is still up and carries media.
      expect(client.pc.connectionState).toBe("connected");
    } finally {
      await client.close();
    }
  });

  it("moves its selected pair to the client's later USE-CANDIDATE check, if signed", async () => {
    const client = new WeriftSoraClient({ url, channelId: "lite-renominate", role: "sendrecv" });
    await client.connect();
    const socket = createSocket("udp4");
    try {
      const sdp = String(client.offer.sdp);
      const ufrag = /a=ice-ufrag:(\S+)/.exec(sdp)![1]!;
      const password = /a=ice-pwd:(\S+)/.exec(sdp)![1]!;
      const candidate = /a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host/.exec(sdp)!;
      const ice = (node.sfu.findConnection("lite-renominate", client.connectionId)!.peer.pc as unknown as {
        iceTransports: { connection: { nominated?: { remoteAddr: [string, number] } } }[];
      }).iceTransports[0]!.connection;
      const first = ice.nominated!.remoteAddr;
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
      const answers: Buffer[] = [];
      socket.on("message", (data) => answers.push(data));
      const port = socket.address().port;
      // As the client itself would from a second address: a check signed with the node's password.
      socket.send(bindingRequest(`${ufrag}:moved`, "wrong password, not moved", true), Number(candidate[2]), candidate[1]);
      await new Promise((r) => setTimeout(r, 200));
      expect(ice.nominated!.remoteAddr).toEqual(first);
      socket.send(bindingRequest(`${ufrag}:moved`, password, true), Number(candidate[2]), candidate[1]);
      await until("answered", () => answers.length > 0, 3000);
      expect(ice.nominated!.remoteAddr).toEqual(["127.0.0.1", port]);
      expect(first[1]).not.toBe(port);
    } finally {
      socket.close();
      await client.close();
    }
  });

  it("ends a connection whose client goes silent (no WebSocket, no STUN) after the silence timeout", async () => {
    const channelId = "lite-silence";
    const observer = new WeriftSoraClient({ url, channelId, role: "recvonly" });
    await observer.connect();
    const gone = new WeriftSoraClient({ url, channelId, role: "sendrecv", dataChannelSignaling: true, ignoreDisconnectWebSocket: true });
    await gone.connect();
    try {
      await until("switched", () => gone.messages.some((m) => m.type === "switched"));
      gone.ws.close(); // ignore_disconnect_websocket: losing the WebSocket does not end it
      await until("observer sees it", () => observer.notifies("connection.created").some((n) => n.connection_id === gone.connectionId));

      // Freeze the client: nothing it sends (consent checks, DTLS, SCTP) leaves any more.
      const silenced = processMetrics().ice_silent_connections;
      const ice = (gone.pc as unknown as { iceTransports: { connection: { protocols: { transport: { send: unknown } }[] } }[] }).iceTransports;
      for (const t of ice) for (const p of t.connection.protocols) p.transport.send = async () => undefined;
      const destroyed = await until(
        "observer gets connection.destroyed",
        () => observer.notifies("connection.destroyed").find((n) => n.connection_id === gone.connectionId),
        SILENCE_MS * 2 + 5_000,
      );
      expect(destroyed).toBeDefined();
      // The observer, connected as long, kept sending consent checks and is still there.
      expect(processMetrics().ice_silent_connections - silenced).toBe(1);
      expect(observer.pc.connectionState).toBe("connected");
    } finally {
      await gone.close();
      await observer.close();
    }
  });
});
