import { spawn } from "node:child_process";
import { expect, it } from "vitest";
import { WeriftSoraClient } from "../support/werift-sora-client.js";

// The media node as a real process: it prints its signaling URL, serves a client, and on
// SIGTERM tells its clients (close 1000 "SHUTDOWN") before exiting cleanly.

it("starts from the CLI, serves, and shuts down gracefully on SIGTERM", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", "media-node/src/main.ts", "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOG_LEVEL: "warn" },
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /signaling on (ws:\/\/\S+\/signaling)/.exec(out);
      if (m) resolve(m[1]!);
    });
    setTimeout(() => reject(new Error(`no signaling URL printed: ${out}`)), 20_000);
  });
  const client = new WeriftSoraClient({ url, channelId: "lifecycle", role: "sendrecv" });
  await client.connect();
  const closed = new Promise<void>((resolve) => client.ws.once("close", () => resolve()));
  child.kill("SIGTERM");
  await closed;
  expect(client.closeInfo).toEqual({ code: 1000, reason: "SHUTDOWN" });
  expect(await exited).toBe(0);
  await client.close();
});
