// Sora's connection_id / session_id: a UUIDv4 written as 26 Crockford Base32 characters
// (e.g. "WCJC78EWK935N7P7Z8FYAKFW9M"). Works in Node and in Workers (Web Crypto global).
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export function newSoraId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  // 128 bits -> 26 base32 digits (130 bits, two leading zero bits).
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let out = "";
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

export const SORA_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
