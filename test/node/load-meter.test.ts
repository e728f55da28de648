import { expect, it } from "vitest";
import { LoadMeter, loadRates } from "../../media-node/src/control/load-meter.js";

// The node's load report (media-node/src/control/load-meter.ts).

it("turns two cumulative readings into CPU % of one core and packets per second", () => {
  // 1.5 s of CPU time over 2 s of wall time = 75 %; 4000 packets over 2 s = 2000/s.
  expect(loadRates({ timeMs: 1_000, cpuUs: 500_000, packetsSent: 1_000 }, { timeMs: 3_000, cpuUs: 2_000_000, packetsSent: 5_000 })).toEqual({
    cpu_percent: 75,
    forwarded_packets_per_second: 2000,
  });
});

it("answers zero rates for a zero or negative interval and never a negative rate", () => {
  expect(loadRates({ timeMs: 5, cpuUs: 10, packetsSent: 10 }, { timeMs: 5, cpuUs: 20, packetsSent: 20 })).toEqual({ cpu_percent: 0, forwarded_packets_per_second: 0 });
  expect(loadRates({ timeMs: 0, cpuUs: 10, packetsSent: 10 }, { timeMs: 1000, cpuUs: 0, packetsSent: 0 })).toEqual({ cpu_percent: 0, forwarded_packets_per_second: 0 });
});

it("samples a load the edge's schema accepts, with the node's cap", async () => {
  const { nodeLoadSchema } = await import("../../shared/control-protocol.js");
  const meter = new LoadMeter();
  await new Promise((r) => setTimeout(r, 30));
  const load = meter.sample(3, 10);
  meter.stop();
  expect(nodeLoadSchema.parse(load)).toMatchObject({ connections: 3, max_connections: 10 });
  expect(load.cpu_percent).toBeGreaterThanOrEqual(0);
});
