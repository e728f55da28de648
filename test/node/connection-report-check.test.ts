import { describe, expect, it } from "vitest";
import { CONNECTION_KEYS, CREATED_KEYS, DESTROYED_KEYS, checkedConnectionReport } from "../../shared/connection-report-check.js";
import { connectionInfoSchema, nodeReportSchema } from "../../shared/control-protocol.js";

// The edge's zod-free check of connection reports (shared/connection-report-check.ts) must accept
// only what nodeReportSchema accepts, and return it exactly as zod would; it may send anything
// else to zod. Held to that on valid reports and on thousands of mutations of them.

const created = {
  type: "connection.created",
  seq: 7,
  channel_id: "room",
  session_id: "S1",
  connection: {
    connection_id: "C1",
    client_id: "c",
    bundle_id: "b",
    role: "sendrecv",
    simulcast: false,
    spotlight: true,
    audio: true,
    video: false,
    signaling_notify_metadata: { a: [1, { b: null }] },
    created_at: 1_700_000_000_000,
  },
};
const destroyed = { type: "connection.destroyed", seq: 8, channel_id: "room", session_id: "S1", connection_id: "C1" };
const minimalCreated = { ...created, seq: undefined, connection: { ...created.connection, audio: undefined, video: undefined, signaling_notify_metadata: undefined } };

/** Strange values a field may be given. */
const ODD: unknown[] = [undefined, null, 0, -1, 1.5, 2 ** 53, Number.NaN, Infinity, "", "x", "sendonly", "r0", true, false, [], {}, ["a"], { x: 1 }, "connection.created", "connection.destroyed"];

/** Deterministic pseudo-random numbers (the run is the same every time). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function mutate(base: Record<string, unknown>, rnd: () => number): unknown {
  const report = clone(base) as Record<string, unknown>;
  const target = rnd() < 0.5 && typeof report.connection === "object" ? (report.connection as Record<string, unknown>) : report;
  const keys = Object.keys(target);
  const pick = rnd();
  if (pick < 0.6) target[keys[Math.floor(rnd() * keys.length)]!] = clone(ODD[Math.floor(rnd() * ODD.length)]);
  else if (pick < 0.8) delete target[keys[Math.floor(rnd() * keys.length)]!];
  else if (pick < 0.9) target[["extra", "__proto__", "constructor", "toString"][Math.floor(rnd() * 4)]!] = 1;
  else return [report, null, "connection.created", 5][Math.floor(rnd() * 4)];
  return report;
}

function agreesWithZod(raw: unknown): boolean | undefined {
  const checked = checkedConnectionReport(raw);
  const parsed = nodeReportSchema.safeParse(raw);
  if (checked === undefined) return undefined;
  expect(parsed.success, JSON.stringify(raw)).toBe(true);
  expect(checked).toEqual(parsed.data);
  return true;
}

describe("checkedConnectionReport", () => {
  it("accepts valid connection reports unchanged (the fast path is taken)", () => {
    for (const report of [created, destroyed, clone(minimalCreated), { ...destroyed, seq: 0 }]) {
      expect(agreesWithZod(report)).toBe(true);
      expect(checkedConnectionReport(report)).toBe(report);
    }
  });

  it("knows exactly the schemas' keys (a field added to a schema must be checked here too)", () => {
    const shapeOf = (type: string) => Object.keys(nodeReportSchema.options.find((o) => o.shape.type.value === type)!.shape).sort();
    expect([...CREATED_KEYS].sort()).toEqual(shapeOf("connection.created"));
    expect([...DESTROYED_KEYS].sort()).toEqual(shapeOf("connection.destroyed"));
    expect([...CONNECTION_KEYS].sort()).toEqual(Object.keys(connectionInfoSchema.shape).sort());
  });

  it("leaves every other report type to zod", () => {
    for (const raw of [{ type: "load", seq: 1, load: {} }, { type: "hello" }, { type: "ack", id: 1, ok: true }, null, "x", [created]]) {
      expect(checkedConnectionReport(raw)).toBeUndefined();
    }
  });

  it("never accepts what zod refuses, nor returns anything but zod's result (5,000 mutations)", () => {
    const rnd = random(12);
    let accepted = 0;
    let refusedByBoth = 0;
    for (let i = 0; i < 5_000; i++) {
      const raw = mutate(rnd() < 0.7 ? created : destroyed, rnd);
      const outcome = agreesWithZod(raw);
      if (outcome) accepted++;
      else if (!nodeReportSchema.safeParse(raw).success) refusedByBoth++;
    }
    // Both kinds occur: the mutations reach the check's every branch, not only one side.
    expect(accepted).toBeGreaterThan(100);
    expect(refusedByBoth).toBeGreaterThan(1_000);
  });

  it("leaves a report with an inherited or own __proto__ key to zod", () => {
    const own = JSON.parse(`{"type":"connection.destroyed","channel_id":"a","session_id":"b","connection_id":"c","__proto__":{"x":1}}`);
    expect(checkedConnectionReport(own)).toBeUndefined();
    const inherited = Object.assign(Object.create({ extra: 1 }), destroyed);
    expect(checkedConnectionReport(inherited)).toBeUndefined();
  });
});
