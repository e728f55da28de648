// How every test and script launches Debian's Chromium: fake camera and microphone, ICE on
// loopback, no throttling of background tabs. No vitest import, so scripts can use it too
// (scripts/devtools-screenshot.ts through test/integration/devtools-driver.ts).

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  // ICE must stay on loopback: the node only advertises 127.0.0.1.
  "--allow-loopback-in-peer-connection",
  // Keep timers and media running in background tabs.
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--autoplay-policy=no-user-gesture-required",
];
