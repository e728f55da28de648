import { deflateSync, inflateSync } from "node:zlib";

// DataChannel messaging (`#` labels) as each side asked: every connection declares, per label,
// its own `compress` and `header`. A message is turned into plaintext by the sender's setting
// and re-encoded by each receiver's. Pure (Buffers in, Buffers out), no I/O.
//
// Wire format, from the SDKs: compression is a zlib stream (RFC 1950) — sora-js-sdk
// `CompressionStream("deflate")` (dist/sora.js `N`/`P`), sora-ios-sdk zlib with header and
// checksum, sora-cpp-sdk ZlibHelper; node:zlib deflate/inflate speak the same format. The
// `sender_connection_id` header is the sender's 26-character id, prefixed with no length or
// separator; with compress on, it is prefixed before compression (sora-js-sdk
// e2e-tests/tests/message_header.test.ts runs compress + header and reads the header from the
// decompressed bytes, which the SDK never strips).

/**
 * Largest message accepted and delivered, compressed or not (decompressed size checked while
 * inflating, so a zlib bomb stops there): Chrome's SCTP `a=max-message-size` (256 KiB), the
 * most a browser sender can send in one message anyway.
 */
export const MAX_MESSAGE_BYTES = 262_144;

/** What one side of a label asked for (connect `data_channels` entry). */
export interface MessagingEncoding {
  compress: boolean;
  /** `header: [{type: "sender_connection_id"}]` was given. */
  header: boolean;
}

/** The payload a sender meant (decompressed if it compressed); undefined = malformed or too large: drop it. */
export function decodeMessage(data: Buffer, sender: Pick<MessagingEncoding, "compress">): Buffer | undefined {
  if (data.length > MAX_MESSAGE_BYTES) return undefined;
  if (!sender.compress) return data;
  try {
    return inflateSync(data, { maxOutputLength: MAX_MESSAGE_BYTES });
  } catch {
    // Not a zlib stream, truncated, bad checksum, or inflating beyond the limit.
    return undefined;
  }
}

/** The bytes one receiver gets for `plain` from `senderConnectionId`. */
export function encodeMessage(plain: Buffer, senderConnectionId: string, receiver: MessagingEncoding): Buffer {
  const body = receiver.header ? Buffer.concat([Buffer.from(senderConnectionId, "ascii"), plain]) : plain;
  return receiver.compress ? deflateSync(body) : body;
}

/** The whole decision for one (sender, receiver) pair: bytes out, or undefined when the message is dropped. */
export function relayBytes(data: Buffer, senderConnectionId: string, sender: MessagingEncoding, receiver: MessagingEncoding): Buffer | undefined {
  const plain = decodeMessage(data, sender);
  return plain && encodeMessage(plain, senderConnectionId, receiver);
}

/**
 * One decoded message fanned out to many receivers: each distinct (compress, header) variant
 * is encoded once. The sender's original bytes go out unchanged to receivers whose settings
 * equal the sender's when no header is involved.
 */
export class MessageFanOut {
  private readonly variants = new Map<number, Buffer>();

  constructor(
    private readonly original: Buffer,
    private readonly plain: Buffer,
    private readonly senderConnectionId: string,
    private readonly sender: MessagingEncoding,
  ) {}

  bytesFor(receiver: MessagingEncoding): Buffer {
    if (!receiver.header && receiver.compress === this.sender.compress) return this.original;
    const key = (receiver.compress ? 1 : 0) | (receiver.header ? 2 : 0);
    let bytes = this.variants.get(key);
    if (!bytes) {
      bytes = encodeMessage(this.plain, this.senderConnectionId, receiver);
      this.variants.set(key, bytes);
    }
    return bytes;
  }
}
