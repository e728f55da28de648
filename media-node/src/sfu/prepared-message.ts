// One signaling message sent unchanged to many connections (a notify to every member of a
// channel): serialized once, on first use, instead of once per recipient. During a 1 → 100 join
// burst each join's `connection.created` goes to up to 99 members.

export class PreparedMessage {
  private json?: string;
  private utf8?: Buffer;

  constructor(readonly message: Readonly<Record<string, unknown>>) {}

  /** The JSON text (DataChannels). */
  get text(): string {
    return (this.json ??= JSON.stringify(this.message));
  }

  /** The JSON text as UTF-8 (a WebSocket text frame's payload); shared, never to be modified. */
  get bytes(): Buffer {
    return (this.utf8 ??= Buffer.from(this.text, "utf8"));
  }
}
