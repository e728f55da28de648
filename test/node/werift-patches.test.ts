import { createVerify, generateKeyPairSync, randomBytes } from "node:crypto";
import { expect, it } from "vitest";
import { weriftFidm, weriftNacl } from "../../media-node/src/transport/werift-patches.js";

// werift's DTLS key exchange runs on node:crypto's X25519 through the patched tweetnacl; its
// results must be those of tweetnacl's own code (RFC 7748), shapes included.

const nacl = weriftNacl as unknown as {
  box: { keyPair: () => { publicKey: Uint8Array; secretKey: Uint8Array } };
  scalarMult: ((n: Uint8Array, p: Uint8Array) => Uint8Array) & {
    base: (n: Uint8Array) => Uint8Array;
    __native?: boolean;
    __js: (n: Uint8Array, p: Uint8Array) => Uint8Array;
  };
};

it("patched werift's tweetnacl instance", () => {
  expect(nacl.scalarMult.__native).toBe(true);
  expect(typeof nacl.scalarMult.base).toBe("function");
});

it("key pairs: 32-byte keys that own their buffers, public = base · secret", () => {
  const { publicKey, secretKey } = nacl.box.keyPair();
  expect(secretKey.byteLength).toBe(32);
  expect(secretKey.buffer.byteLength).toBe(32); // werift reads them through .buffer
  expect(publicKey.buffer.byteLength).toBe(32);
  expect(Buffer.from(publicKey)).toEqual(Buffer.from(nacl.scalarMult.base(secretKey)));
});

it("shared secrets agree between two sides and equal tweetnacl's own JS result", () => {
  for (let i = 0; i < 20; i++) {
    const a = nacl.box.keyPair();
    const b = nacl.box.keyPair();
    const ab = nacl.scalarMult(a.secretKey, b.publicKey);
    expect(ab.byteLength).toBe(32);
    expect(Buffer.from(ab)).toEqual(Buffer.from(nacl.scalarMult(b.secretKey, a.publicKey)));
    expect(Buffer.from(ab)).toEqual(Buffer.from(nacl.scalarMult.__js(a.secretKey, b.publicKey)));
    const s = new Uint8Array(randomBytes(32));
    const p = new Uint8Array(randomBytes(32));
    p[31]! &= 0x7f; // a u-coordinate as RFC 7748 reads it
    let js: Buffer | Error;
    try {
      js = Buffer.from(nacl.scalarMult.__js(s, p));
    } catch (err) {
      js = err as Error;
    }
    expect(Buffer.from(nacl.scalarMult(s, p))).toEqual(js);
  }
});

it("signs with a cached key that still produces valid ECDSA signatures (werift's ServerKeyExchange path)", () => {
  const fidm = weriftFidm;
  expect(fidm.PrivateKey.prototype.__cachedKey).toBe(true);
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  for (let i = 0; i < 3; i++) {
    const data = randomBytes(100);
    const signature = fidm.PrivateKey.fromPEM(Buffer.from(pem)).sign(data, "sha256");
    expect(createVerify("sha256").update(data).verify(publicKey, signature)).toBe(true);
  }
});
