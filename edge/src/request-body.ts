// Request bodies: read with a size limit; an oversized one is read to its end, never cancelled.
//
// Cancelling a chunked body (no Content-Length) part-way takes `wrangler dev` down (wrangler
// 4.86, seen with a 2 MiB POST): the dev proxy's connection to the Worker is left with body bytes
// in flight, the next request forwarded on it fails with "Network connection lost" (a 500), and
// the proxy reports that as fatal, so wrangler exits (workers-sdk#15203, #15447; fix proposed in
// #15448). A body we never touch (an early 4xx) and one whose Content-Length is over the limit
// (answered at once) are skipped by workerd itself; test/integration/edge-request-bodies.test.ts
// covers all three. Draining costs wall time, not CPU, and on Cloudflare the platform bounds a
// body's size before it reaches the Worker.

/** The body as text, or "too-large" past `maxBytes` (checked while reading, not after). */
export async function readBody(request: Request, maxBytes: number): Promise<string | "too-large"> {
  const lengthHeader = request.headers.get("content-length");
  const declared = Number(lengthHeader ?? "0");
  if (declared > maxBytes) return "too-large";
  if (!request.body) return "";
  if (lengthHeader !== null && Number.isSafeInteger(declared) && declared >= 0) {
    // HTTP/1.1 framing ends the body at its declared length, which is within the limit: read it
    // in one native call (the chunk loop below costs several promise turns per call, measurable
    // at hundreds of API calls a second). Checked again after, in case a proxy framed it otherwise.
    const text = await request.text();
    return text.length > maxBytes ? "too-large" : text;
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await drain(reader);
      return "too-large";
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  for (;;) {
    const { done } = await reader.read();
    if (done) return;
  }
}
