import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaNode } from "../../media-node/src/media-node.js";
import { forwardingFilterSchema, forwards } from "../../media-node/src/sfu/forwarding-filter.js";
import { WeriftSoraClient } from "../support/werift-sora-client.js";

// Sora's forwarding filter: the rules on their own, then werift clients through a node.

const filter = (f: unknown) => forwardingFilterSchema.parse(f);
const track = (connection_id: string, client_id: string, kind: "audio" | "video") => ({ connection_id, client_id, kind });

describe("rules", () => {
  const blockAliceVideo = filter({
    action: "block",
    rules: [[{ field: "client_id", operator: "is_in", values: ["alice"] }, { field: "kind", operator: "is_in", values: ["video"] }]],
  });

  it("block drops what matches an AND-group, and nothing else", () => {
    expect(forwards([blockAliceVideo], track("A", "alice", "video"))).toBe(false);
    expect(forwards([blockAliceVideo], track("A", "alice", "audio"))).toBe(true);
    expect(forwards([blockAliceVideo], track("B", "bob", "video"))).toBe(true);
  });

  it("allow keeps only what matches; groups are ORed; is_not_in negates", () => {
    const onlyBobOrAudio = filter({
      action: "allow",
      rules: [[{ field: "connection_id", operator: "is_in", values: ["B"] }], [{ field: "kind", operator: "is_not_in", values: ["video"] }]],
    });
    expect(forwards([onlyBobOrAudio], track("B", "bob", "video"))).toBe(true);
    expect(forwards([onlyBobOrAudio], track("A", "alice", "audio"))).toBe(true);
    expect(forwards([onlyBobOrAudio], track("A", "alice", "video"))).toBe(false);
  });

  it("several filters: a track passes only if each lets it through; action defaults to block", () => {
    const blockBob = filter({ rules: [[{ field: "client_id", operator: "is_in", values: ["bob"] }]] });
    expect(blockBob.action).toBe("block");
    expect(forwards([blockAliceVideo, blockBob], track("B", "bob", "audio"))).toBe(false);
    expect(forwards([blockAliceVideo, blockBob], track("C", "carol", "video"))).toBe(true);
    expect(forwards([], track("A", "alice", "video"))).toBe(true);
  });

  it("refuses malformed filters", () => {
    expect(forwardingFilterSchema.safeParse({ action: "drop", rules: [[]] }).success).toBe(false);
    expect(forwardingFilterSchema.safeParse({ rules: [[{ field: "role", operator: "is_in", values: ["x"] }]] }).success).toBe(false);
    expect(forwardingFilterSchema.safeParse({ rules: [] }).success).toBe(false);
  });
});

describe("through a node", () => {
  let node: MediaNode;
  let url: string;
  const clients: WeriftSoraClient[] = [];

  beforeAll(async () => {
    node = new MediaNode({ port: 0 });
    await node.start();
    url = `ws://127.0.0.1:${node.port}/signaling`;
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await node?.stop();
  });

  const client = (role: "sendrecv" | "recvonly", extra: Record<string, unknown>) => {
    const c = new WeriftSoraClient({ url, channelId: "filtered", role, extra });
    clients.push(c);
    return c;
  };

  it("a receiver's connect forwarding_filter keeps the blocked sender's video away and lets the rest through", async () => {
    const alice = client("sendrecv", { client_id: "alice" });
    const bob = client("sendrecv", { client_id: "bob" });
    await alice.connect();
    alice.startMedia(50, 300);
    await bob.connect();
    bob.startMedia(50, 300);
    const viewer = client("recvonly", {
      forwarding_filter: {
        action: "block",
        rules: [[{ field: "client_id", operator: "is_in", values: ["alice"] }, { field: "kind", operator: "is_in", values: ["video"] }]],
      },
    });
    await viewer.connect();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(viewer.packetsFrom(bob.connectionId, "video") > 20 && viewer.packetsFrom(alice.connectionId, "audio") > 10)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(viewer.packetsFrom(bob.connectionId, "video")).toBeGreaterThan(20);
    expect(viewer.packetsFrom(bob.connectionId, "audio")).toBeGreaterThan(10);
    expect(viewer.packetsFrom(alice.connectionId, "audio")).toBeGreaterThan(10);
    expect(viewer.packetsFrom(alice.connectionId, "video")).toBe(0);
    // Not even offered: no track of alice's video in the viewer's SDP.
    const sections = (viewer.pc.remoteDescription?.sdp ?? "").split(/\r?\nm=/);
    expect(sections.filter((s) => s.startsWith("video") && s.includes(`a=msid:${alice.connectionId}`))).toHaveLength(0);
    // Bob, without a filter, gets alice's video.
    expect(bob.packetsFrom(alice.connectionId, "video")).toBeGreaterThan(20);
  });

  it("refuses a connect whose forwarding_filter is malformed", async () => {
    const bad = client("recvonly", { forwarding_filter: { action: "drop", rules: [] } });
    await expect(bad.connect()).rejects.toThrow(/closed 4400/);
  });
});
