import { expect, it } from "vitest";
import { nodeAndBrowser, waitFor, type SoraPage } from "./harness.js";

// Audio as the application configured it, with the real sora-js-sdk in Chromium:
// - a stereo source (440 Hz left, 660 Hz right, synthesized with WebAudio because Chromium's
//   fake microphone is mono) reaches every subscriber that asks for stereo output as stereo: each
//   channel of the decoded track, analysed with an FFT in the page, has its own frequency (Sora
//   e2e stereo_audio.test.ts). The sender encodes stereo because the offer's Opus fmtp says
//   `stereo=1`; a subscriber decodes two channels only when its own answer says `stereo=1`,
//   which Chromium does not echo from the offer, so subscribers use the SDK's `forceStereoOutput`
//   (as Sora's e2e test does; a plain subscriber gets Chromium's mono downmix, logged below).
//   `audioOpusParamsStereo: false` on the sender collapses the source to one mixed signal, which
//   shows the analysis tells the two apart;
// - `audioBitRate` (kbps) becomes the sender's outbound `targetBitrate` (bit_rate × 1000,
//   Sora e2e sendonly_audio.test.ts).

const ctx = nodeAndBrowser();

interface Peak {
  frequency: number;
  level: number;
}
type Peaks = Record<string, { left: Peak; right: Peak }>;

const peaksOf = (page: SoraPage, id: number) => page.page.evaluate((i) => (window as unknown as { audioChannelPeaks(i: number): Promise<Peaks> }).audioChannelPeaks(i), id);
const outboundAudio = (page: SoraPage, id: number) =>
  page.page.evaluate(
    (i) => (window as unknown as { outboundAudio(i: number): Promise<{ targetBitrate: number | null; packetsSent: number; sdpFmtpLine: string | null } | null> }).outboundAudio(i),
    id,
  );

/** FFT bins are 48000 / 8192 ≈ 5.9 Hz wide. */
const near = (frequency: number, target: number) => Math.abs(frequency - target) < 15;

it("delivers a stereo sender to every subscriber asking for stereo output as two distinct channels", async () => {
  const page = await ctx.browser.newPage();
  const run = async (channelId: string, senderOptions: Record<string, unknown>) => {
    // Subscribers first (like Sora's e2e test), in two roles, plus a plain one for the log.
    const recvonly = await page.start({ url: ctx.url, channelId, role: "recvonly", options: { forceStereoOutput: true } });
    const sendrecv = await page.start({ url: ctx.url, channelId, role: "sendrecv", options: { forceStereoOutput: true }, video: false });
    const plain = await page.start({ url: ctx.url, channelId, role: "recvonly" });
    const sender = await page.start({ url: ctx.url, channelId, role: "sendonly", options: senderOptions, audio: { tones: [440, 660] }, video: false });
    expect([recvonly.error, sendrecv.error, plain.error, sender.error]).toEqual([null, null, null, null]);
    const peaks: Record<string, { left: Peak; right: Peak }> = {};
    for (const [name, sub] of [["recvonly", recvonly], ["sendrecv", sendrecv], ["plain", plain]] as const) {
      // Wait for a loud spectrum at one of the two tones (the decoder and the analyser need a moment).
      await waitFor(`${name} subscriber hears the sender`, async () => {
        const p = (await peaksOf(page, sub.id))[sender.connectionId!];
        return p && p.left.level > -60 && p.right.level > -60 && (near(p.left.frequency, 440) || near(p.left.frequency, 660));
      });
      // A later reading decides, so a transient at the start does not.
      await new Promise((r) => setTimeout(r, 500));
      peaks[name] = (await peaksOf(page, sub.id))[sender.connectionId!]!;
    }
    for (const c of [recvonly, sendrecv, plain, sender]) await page.disconnect(c.id);
    return peaks;
  };

  const stereo = await run(`stereo-${Math.random().toString(36).slice(2)}`, {});
  console.log("stereo sender, per-channel peaks at the subscribers:", JSON.stringify(stereo));
  for (const name of ["recvonly", "sendrecv"]) {
    expect(near(stereo[name]!.left.frequency, 440), `${name} left`).toBe(true);
    expect(near(stereo[name]!.right.frequency, 660), `${name} right`).toBe(true);
  }

  // Control: the same source offered mono reaches both channels as one signal.
  const mono = await run(`mono-${Math.random().toString(36).slice(2)}`, { audioOpusParamsStereo: false });
  console.log("mono sender, per-channel peaks at the subscribers:", JSON.stringify(mono));
  for (const name of ["recvonly", "sendrecv"]) expect(mono[name]!.left.frequency, name).toBe(mono[name]!.right.frequency);
  await page.page.close();
}, 120_000);

it("applies audio bit_rate as the sender's Opus target bitrate", async () => {
  const page = await ctx.browser.newPage();
  for (const kbps of [32, 64, 128]) {
    const channelId = `abr-${kbps}-${Math.random().toString(36).slice(2)}`;
    const sender = await page.start({ url: ctx.url, channelId, role: "sendonly", options: { audioBitRate: kbps }, video: false });
    expect(sender.error).toBeNull();
    const out = await waitFor(`outbound audio at ${kbps} kbps`, async () => {
      const o = await outboundAudio(page, sender.id);
      return o && o.packetsSent > 10 && o.targetBitrate !== null ? o : false;
    });
    console.log(`audioBitRate ${kbps}: ${JSON.stringify(out)}`);
    if (!out) throw new Error("no outbound audio");
    expect(out.targetBitrate).toBe(kbps * 1000);
    await page.disconnect(sender.id);
  }
  await page.page.close();
}, 60_000);
