import { createSocket } from "node:dgram";
import { readFile } from "node:fs/promises";

// UDP ports for plain RTP receivers (ffmpeg) in the RTP forwarding tests.

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    s.once("error", () => resolve(false));
    s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** An even port whose RTCP neighbour (port + 1, which ffmpeg also binds) is free too. */
export async function freeRtpPort(avoid: number[] = []): Promise<number> {
  for (;;) {
    const port = 20_000 + 2 * Math.floor(Math.random() * 15_000);
    if (avoid.some((p) => Math.abs(p - port) < 2)) continue;
    if ((await canBind(port)) && (await canBind(port + 1))) return port;
  }
}

/** Whether some process listens on this UDP port (read from /proc so the probe never takes the port itself). */
export async function udpListening(port: number): Promise<boolean> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const table = await readFile("/proc/net/udp", "utf8");
  return table.split("\n").some((line) => line.trim().split(/\s+/)[1]?.endsWith(hex));
}
