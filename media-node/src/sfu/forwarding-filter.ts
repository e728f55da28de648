import { z } from "zod";

// Sora's forwarding filter: a receiving connection's rules about which senders' tracks it gets.
// `rules` is an OR of AND-groups over the sender's connection_id, client_id and the track kind;
// `block` drops the tracks that match, `allow` keeps only those. Given at connect
// (`forwarding_filter`) or by the auth webhook (`forwarding_filter`, `forwarding_filters`). With
// several filters a track is forwarded only if every one of them lets it through (each filter can
// only take tracks away, so their order and `priority` do not change the outcome).

const rule = z.object({
  field: z.enum(["connection_id", "client_id", "kind"]),
  operator: z.enum(["is_in", "is_not_in"]),
  values: z.array(z.string()).max(1000),
});

export const forwardingFilterSchema = z
  .object({
    action: z.enum(["block", "allow"]).default("block"),
    rules: z.array(z.array(rule).min(1).max(100)).min(1).max(100),
    name: z.string().optional(),
    priority: z.number().int().optional(),
    version: z.string().optional(),
    metadata: z.unknown().optional(),
  })
  .loose();
export type ForwardingFilter = z.infer<typeof forwardingFilterSchema>;

/** The sender-side facts a rule can test. */
export interface ForwardedTrack {
  connection_id: string;
  client_id: string;
  kind: "audio" | "video";
}

function matches(filter: ForwardingFilter, track: ForwardedTrack): boolean {
  return filter.rules.some((group) =>
    group.every((r) => r.values.includes(track[r.field]) === (r.operator === "is_in")),
  );
}

/** Whether `track` reaches a receiver with these filters. */
export function forwards(filters: readonly ForwardingFilter[], track: ForwardedTrack): boolean {
  for (const filter of filters) {
    if (matches(filter, track) === (filter.action === "block")) return false;
  }
  return true;
}
