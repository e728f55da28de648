import { CipherContext, RTCCertificate } from "werift";
import { BoundedMemo } from "./bounded-memo.js";

// Per-join work werift 0.25.2 repeats although its result cannot change, kept once instead
// (applied on import, process-wide; imported by werift-patches.ts). In a 1 → 100 join burst
// profile (docs/performance.md, "Connect → connected") these were ≈ 0.9 ms of node CPU per join:
//
// - RTCCertificate.getFingerprints() parses the certificate PEM with @fidm/x509 (ASN.1 in JS) and
//   hashes it, on every `localParameters` read (each offer, each DTLS transport start). The
//   certificate of an RTCCertificate never changes: its fingerprints are kept on the instance.
// - CipherContext.parseX509() parses the same certificate and private key PEMs for every DTLS
//   session (werift's one process-wide certificate): the parsed pair is kept per PEM pair. Both
//   results are read only (the certificate's DER is copied into the Certificate message; the key
//   only signs).

interface CertificateInternals {
  getFingerprints(): unknown[];
  __fingerprints?: unknown[];
}

const certificateProto = RTCCertificate.prototype as unknown as CertificateInternals & { __cachedFingerprints?: boolean };
if (!certificateProto.__cachedFingerprints) {
  const getFingerprints = certificateProto.getFingerprints;
  certificateProto.getFingerprints = function (this: CertificateInternals) {
    this.__fingerprints ??= getFingerprints.call(this);
    return [...this.__fingerprints];
  };
  certificateProto.__cachedFingerprints = true;
}

interface CipherContextInternals {
  localCert: unknown;
  localPrivateKey: unknown;
  signatureHashAlgorithm: unknown;
  parseX509(certPem: string, keyPem: string, signatureHash: unknown): void;
}

/** Parsed local certificate/key pairs by PEM pair (werift has one per process; tests may add a few). */
const parsedPairs = new BoundedMemo<string, { localCert: unknown; localPrivateKey: unknown }>(8);

const cipherProto = CipherContext.prototype as unknown as CipherContextInternals & { __cachedX509?: boolean };
if (!cipherProto.__cachedX509) {
  const parseX509 = cipherProto.parseX509;
  cipherProto.parseX509 = function (this: CipherContextInternals, certPem: string, keyPem: string, signatureHash: unknown) {
    const parsed = parsedPairs.get(`${String(certPem)}\0${String(keyPem)}`, () => {
      parseX509.call(this, certPem, keyPem, signatureHash);
      return { localCert: this.localCert, localPrivateKey: this.localPrivateKey };
    });
    this.localCert = parsed.localCert;
    this.localPrivateKey = parsed.localPrivateKey;
    this.signatureHashAlgorithm = signatureHash;
  };
  cipherProto.__cachedX509 = true;
}
