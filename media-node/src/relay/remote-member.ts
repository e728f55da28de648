import type { Role } from "../sfu/connection-options.js";
import { Publication } from "../sfu/publication.js";
import type { RelayMember, RelayTrack } from "./relay-protocol.js";

// A connection of another node, seen in this node's Channel through a relay link (docs/relay.md):
// what this node's clients are told about it (notify fields, `data` entry, counts) and its
// tracks as Publications fed by the relay PeerConnection, so local subscriptions work on them as
// on local ones. Owned by the RelayLink that pulled it; listed in Channel.remoteMembers.

export class RemoteMember {
  readonly id: string;
  readonly clientId: string;
  readonly bundleId: string;
  readonly role: Role;
  readonly audio: boolean;
  readonly video: boolean;
  readonly createdAt: number;
  readonly connectedAt: number;
  /** Always connected while listed (the serving node lists only connected connections). */
  readonly connected = true;
  readonly publications: Publication[] = [];
  private notify: Record<string, unknown>;

  constructor(
    member: RelayMember,
    /** The node serving it (for logs and the link that owns it). */
    readonly nodeName: string,
  ) {
    this.id = member.connection_id;
    this.clientId = member.client_id;
    this.bundleId = member.bundle_id;
    this.role = member.role;
    this.audio = member.audio;
    this.video = member.video;
    this.createdAt = member.created_at;
    this.connectedAt = member.connected_at;
    this.notify = member.notify;
  }

  /** member.updated: new notify fields (metadata changes). */
  update(member: RelayMember): void {
    this.notify = member.notify;
  }

  /** The fields a notify about this connection carries; ids from the member, never from free fields. */
  notifyFields(): Record<string, unknown> {
    return { ...this.notify, connection_id: this.id, client_id: this.clientId, bundle_id: this.bundleId, role: this.role };
  }

  notifyDataEntry(): Record<string, unknown> {
    const entry: Record<string, unknown> = { connection_id: this.id, client_id: this.clientId, bundle_id: this.bundleId };
    for (const key of ["authn_metadata", "authz_metadata", "metadata"] as const) if (this.notify[key] !== undefined) entry[key] = this.notify[key];
    return entry;
  }

  /** The publication an offered m-line feeds, created on first sight (one per kind). */
  publicationFor(track: RelayTrack): Publication {
    let pub = this.publications.find((p) => p.kind === track.kind);
    if (!pub) {
      pub = new Publication(this.id, track.kind, track.codec, track.kind === "audio" ? 48000 : 90000, track.simulcast);
      this.publications.push(pub);
    }
    return pub;
  }

  /** The link dropped or the serving node said it left: its publications close (their subscriptions with them). */
  close(): void {
    for (const pub of this.publications) pub.close();
  }
}
