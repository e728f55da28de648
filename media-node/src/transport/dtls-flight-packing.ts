// DTLS handshake flights in as few datagrams as fit (RFC 6347 §4.1.1: "Multiple DTLS records
// may be placed in a single datagram"). werift sends each record of a flight as its own
// datagram: the server's flight 4 (ServerHello, Certificate, ServerKeyExchange,
// CertificateRequest, ServerHelloDone) took five sends and the peer five receives, CCS + Finished
// two. Records a DtlsSocket sends in one synchronous run (a flight's `Promise.all`) are packed
// into datagrams of at most MAX_DATAGRAM_BYTES, in order, at the end of that run (a microtask).
// Only handshake and ChangeCipherSpec records start a batch; anything sent while a batch is
// open joins it, so records never overtake each other.

/** werift fragments handshake messages to 1 200 bytes by default: a packed datagram stays as small. */
export const MAX_DATAGRAM_BYTES = 1200;

const CONTENT_CHANGE_CIPHER_SPEC = 20;
const CONTENT_HANDSHAKE = 22;

/** Consecutive records packed greedily into datagrams of at most `max` bytes (a larger record goes alone). */
export function packRecords(records: readonly Buffer[], max = MAX_DATAGRAM_BYTES): Buffer[] {
  const out: Buffer[] = [];
  let group: Buffer[] = [];
  let size = 0;
  for (const r of records) {
    if (group.length > 0 && size + r.length > max) {
      out.push(group.length === 1 ? group[0]! : Buffer.concat(group, size));
      group = [];
      size = 0;
    }
    group.push(r);
    size += r.length;
  }
  if (group.length > 0) out.push(group.length === 1 ? group[0]! : Buffer.concat(group, size));
  return out;
}

export interface RecordSender {
  send(buf: Buffer): Promise<unknown>;
}

/** Wraps werift's DTLS TransportContext (`dtls.transport`) so a flight leaves packed. */
export function packFlights(transport: RecordSender): void {
  const send = transport.send;
  let batch: Buffer[] | undefined;
  let sent: Promise<void> | undefined;
  transport.send = (buf: Buffer) => {
    if (batch === undefined) {
      const type = buf[0];
      if (type !== CONTENT_HANDSHAKE && type !== CONTENT_CHANGE_CIPHER_SPEC) return send(buf);
      const records: Buffer[] = (batch = []);
      sent = new Promise<void>((resolve, reject) => {
        queueMicrotask(() => {
          batch = undefined;
          Promise.all(packRecords(records).map((d) => send(d))).then(() => resolve(), reject);
        });
      });
    }
    batch.push(buf);
    return sent!;
  };
}
