import { execFileSync } from "node:child_process";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from "../support/chromium.js";

// Drives the devtools page (devtools/, served by the edge at /devtools/) in headless Chromium with
// fake camera and microphone: used by test/integration/devtools.test.ts and by
// scripts/devtools-screenshot.ts. No vitest import here, so the script can use it too.

export { CHROMIUM_PATH };

const ROOT = path.resolve(import.meta.dirname, "../..");

/** `npm run devtools:build`: wrangler dev serves devtools/dist, so it must be current before the edge starts. */
export function buildDevtools(): void {
  execFileSync(process.execPath, ["--import", "tsx", "devtools/build.ts"], { cwd: ROOT, stdio: "pipe" });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS, headless: true });
}

/** Opens the page from the edge (its `/devtools/` assets) in a new tab. */
export async function openDevtools(browser: Browser, edgeUrl: string, viewport = { width: 1440, height: 900 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  page.on("pageerror", (err) => console.error("[devtools page error]", err.message));
  await page.goto(new URL("devtools/", edgeUrl).toString());
  await page.waitForSelector("form.connect button[name=connect]");
  return page;
}

/** Fills the connect form and connects; answers the connection id once connected. */
export async function connect(
  page: Page,
  opts: { channelId: string; role?: "sendrecv" | "sendonly" | "recvonly"; clientId?: string; options?: Record<string, string | boolean> },
): Promise<string> {
  await page.fill("form.connect input[name=channelId]", opts.channelId);
  await page.selectOption("form.connect select[name=role]", opts.role ?? "sendrecv");
  await page.fill("form.connect input[name=clientId]", opts.clientId ?? "");
  if (opts.options) {
    await page.locator("form.connect details").evaluate((d) => ((d as HTMLDetailsElement).open = true));
    for (const [name, value] of Object.entries(opts.options)) {
      const field = page.locator(`form.connect [name=${name}]`);
      if (typeof value === "boolean") await field.setChecked(value);
      else if ((await field.evaluate((el) => el.tagName)) === "SELECT") await field.selectOption(value);
      else await field.fill(value);
    }
  }
  const before = await page.locator("article.client").count();
  await page.click("form.connect button[name=connect]");
  // New clients are listed first.
  await page.waitForFunction(
    (n) => {
      const cards = document.querySelectorAll("article.client");
      return cards.length > n && cards[0]!.getAttribute("data-state") !== "connecting";
    },
    before,
    { timeout: 30_000 },
  );
  const card = page.locator("article.client").first();
  const state = await card.getAttribute("data-state");
  if (state !== "connected") throw new Error(`devtools client ${state}: ${await card.innerText()}`);
  return (await card.getAttribute("data-connection-id"))!;
}

/** framesDecoded of the video from `senderId`, as the page's stats show it (0 when not shown). */
export async function framesDecodedFrom(page: Page, senderId: string): Promise<number> {
  return page.evaluate((id) => {
    const tile = document.querySelector(`.tile.remote[data-sender-id="${id}"]`);
    return Number(tile?.getAttribute("data-frames-decoded") ?? 0);
  }, senderId);
}

/** The remote video element's decoded size (0 when nothing decoded). */
export async function remoteVideoWidth(page: Page, senderId: string): Promise<number> {
  return page.evaluate((id) => document.querySelector<HTMLVideoElement>(`.tile.remote[data-sender-id="${id}"] video`)?.videoWidth ?? 0, senderId);
}
