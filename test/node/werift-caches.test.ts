import { CipherContext, RTCCertificate, RTCDtlsTransport } from "werift";
import { expect, it } from "vitest";
import "../../media-node/src/transport/werift-patches.js";

// werift's per-join certificate work is done once: the results must be what werift computes.

async function certificate(): Promise<RTCCertificate> {
  return (await (RTCDtlsTransport as unknown as { SetupCertificate(): Promise<RTCCertificate> }).SetupCertificate());
}

it("keeps an RTCCertificate's fingerprints, equal to a fresh computation", async () => {
  const cert = await certificate();
  const first = cert.getFingerprints();
  const second = cert.getFingerprints();
  expect(second).toEqual(first);
  expect(second).not.toBe(first); // callers get their own array
  const fresh = new RTCCertificate(
    (cert as unknown as { privateKey: string }).privateKey,
    cert.certPem,
    (cert as unknown as { signatureHash: never }).signatureHash,
  );
  expect(fresh.getFingerprints()).toEqual(first);
  expect(first[0]!.algorithm).toBe("sha-256");
  expect(first[0]!.value).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

it("parses a DTLS context's certificate and key once per PEM pair, same results", async () => {
  const cert = await certificate();
  const keyPem = (cert as unknown as { privateKey: string }).privateKey;
  const hash = { hash: 4, signature: 3 };
  const a = new (CipherContext as unknown as new (...args: unknown[]) => { localCert: Buffer; localPrivateKey: unknown; signatureHashAlgorithm: unknown })(1, cert.certPem, keyPem, hash);
  const b = new (CipherContext as unknown as new (...args: unknown[]) => { localCert: Buffer; localPrivateKey: unknown; signatureHashAlgorithm: unknown })(1, cert.certPem, keyPem, hash);
  expect(b.localCert).toBe(a.localCert);
  expect(b.localPrivateKey).toBe(a.localPrivateKey);
  expect(b.signatureHashAlgorithm).toBe(hash);
  // The DER of the PEM's certificate.
  const der = Buffer.from(cert.certPem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  expect(Buffer.from(a.localCert).equals(der)).toBe(true);
});
