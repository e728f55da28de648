import { expect, it } from "vitest";
import { packFlights, packRecords } from "../../media-node/src/transport/dtls-flight-packing.js";

const rec = (type: number, len: number, fill = 0) => Buffer.alloc(len, fill).fill(type, 0, 1);

it("packs consecutive records greedily into datagrams of at most the limit, in order", () => {
  const a = rec(22, 100, 1);
  const b = rec(22, 600, 2);
  const c = rec(22, 400, 3);
  const d = rec(22, 300, 4);
  const out = packRecords([a, b, c, d], 1200);
  expect(out.map((x) => x.length)).toEqual([1100, 300]);
  expect(out[0]).toEqual(Buffer.concat([a, b, c]));
  expect(out[1]).toBe(d);
  expect(packRecords([rec(22, 1500), rec(22, 10)], 1200).map((x) => x.length)).toEqual([1500, 10]);
  expect(packRecords([], 1200)).toEqual([]);
});

it("sends a flight written in one synchronous run as one datagram; other records go straight out", async () => {
  const wire: Buffer[] = [];
  const transport = { send: async (buf: Buffer) => void wire.push(buf) };
  packFlights(transport);
  const flight = [rec(22, 90), rec(22, 500), rec(22, 150), rec(22, 25)];
  const sent = Promise.all(flight.map((r) => transport.send(r)));
  expect(wire).toEqual([]);
  await sent;
  expect(wire).toEqual([Buffer.concat(flight)]);

  wire.length = 0;
  await transport.send(rec(23, 50)); // application data (SCTP): not held
  expect(wire.length).toBe(1);

  wire.length = 0;
  const ccs = rec(20, 14);
  const finished = rec(22, 61);
  const alert = rec(21, 31); // joins the open batch: never overtakes the records before it
  await Promise.all([transport.send(ccs), transport.send(finished), transport.send(alert)]);
  expect(wire).toEqual([Buffer.concat([ccs, finished, alert])]);
});

it("reports a failed send to every record of the batch", async () => {
  const transport = { send: async (_buf: Buffer): Promise<void> => Promise.reject(new Error("socket closed")) };
  packFlights(transport);
  const results = await Promise.allSettled([transport.send(rec(22, 10)), transport.send(rec(22, 10))]);
  expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
});
