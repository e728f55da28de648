// Which DTLS records of a datagram werift's DtlsSocket may see. werift 0.25.2 treats every record
// of an unknown content type as an alert and closes the session, believes a plaintext alert in
// any epoch, and answers an epoch-0 ClientHello after the handshake by resetting the session
// (DtlsServer "renegotiation"). RFC 6347 §4.1.2.7 / RFC 9147 §4.5.2: invalid records are
// silently discarded. Here:
// - a record that does not fit the datagram ends the parse (the rest cannot be delimited);
// - unknown content types (not 20..23) are dropped;
// - after the handshake, epoch-0 records are dropped (nothing legitimate is sent in epoch 0
//   then; a lost final flight is asked for again with the epoch-1 Finished, which passes);
// - alerts in epoch > 0 are authenticated here (AEAD of the session); one that fails is dropped,
//   one that passes is reported to `onAlert` and not handed to werift (werift would first try
//   to read it as plaintext). Epoch-0 alerts during the handshake pass (unauthenticated by nature).

export const DTLS_RECORD_HEADER = 13;
const CHANGE_CIPHER_SPEC = 20;
const ALERT = 21;
const APPLICATION_DATA = 23;

export interface DtlsRecordHeader {
  contentType: number;
  versionMajor: number;
  versionMinor: number;
  epoch: number;
  sequenceNumber: number;
}

export interface DtlsFilterContext {
  /** The handshake has completed (werift's DtlsSocket.connected). */
  connected: boolean;
  /** Decrypts and authenticates a record's fragment; undefined if it does not authenticate. */
  authenticate(header: DtlsRecordHeader, fragment: Buffer): Buffer | undefined;
  /** An authenticated alert (level 1 warning / 2 fatal, RFC 5246 §7.2). */
  onAlert(level: number, description: number): void;
  /** A record was dropped. */
  onDrop(): void;
}

/**
 * The part of `data` werift may parse: `data` itself when every record passes, undefined when
 * none does, else the passing records copied together (hostile or broken input only).
 */
export function filterDtlsDatagram(data: Buffer, ctx: DtlsFilterContext): Buffer | undefined {
  let pos = 0;
  let kept: Buffer[] | undefined;
  let allKept = true;
  while (pos < data.length) {
    if (pos + DTLS_RECORD_HEADER > data.length) {
      ctx.onDrop();
      allKept = false;
      break;
    }
    const type = data[pos]!;
    const epoch = data.readUInt16BE(pos + 3);
    const end = pos + DTLS_RECORD_HEADER + data.readUInt16BE(pos + 11);
    if (end > data.length) {
      ctx.onDrop();
      allKept = false;
      break;
    }
    let keep = type >= CHANGE_CIPHER_SPEC && type <= APPLICATION_DATA && !(ctx.connected && epoch === 0);
    if (keep && type === ALERT && epoch > 0) {
      keep = false;
      const header = {
        contentType: type,
        versionMajor: data[pos + 1]!,
        versionMinor: data[pos + 2]!,
        epoch,
        sequenceNumber: data.readUIntBE(pos + 5, 6),
      };
      const alert = ctx.authenticate(header, data.subarray(pos + DTLS_RECORD_HEADER, end));
      if (alert !== undefined && alert.length >= 2) ctx.onAlert(alert[0]!, alert[1]!);
      else ctx.onDrop();
    } else if (!keep) {
      ctx.onDrop();
    }
    if (keep) (kept ??= []).push(data.subarray(pos, end));
    else allKept = false;
    pos = end;
  }
  if (allKept) return data;
  return kept === undefined ? undefined : Buffer.concat(kept);
}
