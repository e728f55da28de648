// The one polling wait for Node tests: re-checks `probe` until it returns something truthy (which
// is returned) or `timeoutMs` passes (a failure naming what was awaited). For conditions that
// change on their own (network, timers); a test that can await an event should await that.

export async function until<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
