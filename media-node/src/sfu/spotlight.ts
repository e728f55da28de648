import { newSoraId } from "../../../shared/ids.js";

// Spotlight (Sora): in a spotlight channel, `spotlight_number` senders are "focused" and
// delivered at each subscriber's focus rid, the rest at the unfocus rid (or not at all). Who
// is focused follows who speaks, measured from the RFC 6464 audio level every sender's
// browser writes in its audio packets. Decisions are sticky: a focused sender keeps its slot
// until it falls silent and someone else is speaking, so focus does not flap on every breath.

/** Loudness EMA above which a sender counts as speaking (0 = silence, 127 = full scale). */
const SPEAKING_THRESHOLD = 4;
/** Per-packet smoothing (audio is ~50 packets/s: a time constant of about one second). */
const EMA_ALPHA = 0.02;
export const SPOTLIGHT_EVALUATE_INTERVAL_MS = 300;
/** FocusSpotlight (not fixed): a speaker may not take the forced slot before this (Sora: "forcibly focuses"; the hold is ours). */
export const FORCED_FOCUS_HOLD_MS = 5_000;

/** What FocusSpotlight(Fixed) could not do: every slot holds a fixed sender. */
export type FocusRefusal = "SPOTLIGHT-NO-ROOM";

export interface SpotlightChange {
  slot: number;
  spotlightId: string;
  focused?: string;
  unfocused?: string;
}

/** Per-sender loudness, fed from the audio hot path (one multiply-add per packet). */
export class AudioActivity {
  loudness = 0;

  /** `level` is the -dBov value of the audio-level extension (0 loudest … 127 silent). */
  onLevel(level: number): void {
    this.loudness += (127 - level - this.loudness) * EMA_ALPHA;
  }

  get speaking(): boolean {
    return this.loudness > SPEAKING_THRESHOLD;
  }
}

export class Spotlight {
  /** Slot i holds a focused sender's connection id (or undefined), with a stable spotlight id per slot. */
  private readonly slots: (string | undefined)[];
  private readonly slotIds: string[];
  /** FocusSpotlightFixed: never displaced, until UnfocusSpotlight (or it leaves). */
  private readonly fixed = new Set<string>();
  /** FocusSpotlight: not displaced by a speaker before this time (ms). */
  private readonly heldUntil = new Map<string, number>();
  /** UnfocusSpotlight: not refocused by join order; speaking lifts it. */
  private readonly suppressed = new Set<string>();

  constructor(number: number) {
    this.slots = new Array(number).fill(undefined);
    this.slotIds = Array.from({ length: number }, () => newSoraId());
  }

  get number(): number {
    return this.slots.length;
  }

  /**
   * A new spotlight_number for the live session. New slots fill at the next round; the senders of
   * dropped slots (the last ones) are unfocused now: returns those changes.
   */
  resize(number: number): SpotlightChange[] {
    const changes: SpotlightChange[] = [];
    while (this.slots.length > number) {
      const slot = this.slots.length - 1;
      const unfocused = this.slots.pop();
      const spotlightId = this.slotIds.pop()!;
      if (unfocused !== undefined) changes.push({ slot, spotlightId, unfocused });
    }
    while (this.slots.length < number) {
      this.slots.push(undefined);
      this.slotIds.push(newSoraId());
    }
    return changes;
  }

  isFixed(connectionId: string): boolean {
    return this.fixed.has(connectionId);
  }

  /**
   * FocusSpotlight / FocusSpotlightFixed: `connectionId` takes a free slot, else the slot of the
   * quietest sender that is neither fixed nor held. Already focused: only its fixed/held state
   * changes (no notify). Returns the slot change, [] when none, or a refusal.
   */
  focus(connectionId: string, fixed: boolean, loudness: (id: string) => number, nowMs = Date.now()): SpotlightChange[] | FocusRefusal {
    this.suppressed.delete(connectionId);
    if (fixed) this.fixed.add(connectionId);
    else this.heldUntil.set(connectionId, nowMs + FORCED_FOCUS_HOLD_MS);
    if (this.slots.includes(connectionId)) return [];
    let slot = this.slots.indexOf(undefined);
    if (slot < 0) {
      for (let i = 0; i < this.slots.length; i++) {
        if (!this.displaceable(this.slots[i]!, nowMs)) continue;
        if (slot < 0 || loudness(this.slots[i]!) < loudness(this.slots[slot]!)) slot = i;
      }
    }
    if (slot < 0) {
      this.fixed.delete(connectionId);
      this.heldUntil.delete(connectionId);
      return "SPOTLIGHT-NO-ROOM";
    }
    const unfocused = this.slots[slot];
    this.slots[slot] = connectionId;
    return [{ slot, spotlightId: this.slotIds[slot]!, focused: connectionId, unfocused }];
  }

  /** UnfocusSpotlight: frees its slot (fixed or not); the next round gives the slot to someone else. */
  unfocus(connectionId: string): SpotlightChange[] {
    this.fixed.delete(connectionId);
    this.heldUntil.delete(connectionId);
    this.suppressed.add(connectionId);
    const slot = this.slots.indexOf(connectionId);
    if (slot < 0) return [];
    this.slots[slot] = undefined;
    return [{ slot, spotlightId: this.slotIds[slot]!, unfocused: connectionId }];
  }

  private displaceable(id: string, nowMs: number): boolean {
    return !this.fixed.has(id) && (this.heldUntil.get(id) ?? 0) <= nowMs;
  }

  isFocused(connectionId: string): boolean {
    return this.slots.includes(connectionId);
  }

  focused(): string[] {
    return this.slots.filter((s): s is string => s !== undefined);
  }

  /**
   * One decision round. `senders` are the channel's video senders in join order with their
   * audio activity. Returns what changed (empty if nothing did).
   */
  evaluate(senders: readonly { id: string; activity?: AudioActivity }[], nowMs = Date.now()): SpotlightChange[] {
    const before = [...this.slots];
    const present = new Map(senders.map((s) => [s.id, s.activity]));
    const set = (slot: number, id: string | undefined) => {
      this.slots[slot] = id;
    };
    // Leavers free their slots and lose what the API set for them.
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i] !== undefined && !present.has(this.slots[i]!)) set(i, undefined);
    for (const ids of [this.fixed, this.suppressed]) for (const id of ids) if (!present.has(id)) ids.delete(id);
    for (const id of this.heldUntil.keys()) if (!present.has(id) || this.heldUntil.get(id)! <= nowMs) this.heldUntil.delete(id);
    // An unfocused sender that speaks competes again.
    for (const s of senders) if (s.activity?.speaking) this.suppressed.delete(s.id);
    // Speakers without a slot take a free one, else the slot of the quietest silent focused sender.
    const loudness = (id: string) => present.get(id)?.loudness ?? 0;
    const speakers = senders
      .filter((s) => s.activity?.speaking && !this.slots.includes(s.id))
      .sort((a, b) => loudness(b.id) - loudness(a.id));
    for (const speaker of speakers) {
      let slot = this.slots.indexOf(undefined);
      if (slot < 0) {
        let quietest = -1;
        for (let i = 0; i < this.slots.length; i++) {
          const id = this.slots[i]!;
          if (present.get(id)?.speaking || !this.displaceable(id, nowMs)) continue;
          if (quietest < 0 || loudness(id) < loudness(this.slots[quietest]!)) quietest = i;
        }
        slot = quietest;
      }
      if (slot < 0) break; // every slot holds someone who is speaking
      set(slot, speaker.id);
    }
    // Nobody speaking yet (or fewer speakers than slots): fill by join order so there is always a focus.
    for (const s of senders) {
      const free = this.slots.indexOf(undefined);
      if (free < 0) break;
      if (!this.slots.includes(s.id) && !this.suppressed.has(s.id)) set(free, s.id);
    }
    // One change per slot whose occupant differs at the end of the round (a leaver replaced in
    // the same round is one change, not an empty slot and then a refill).
    const changes: SpotlightChange[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      if (before[i] !== this.slots[i]) {
        changes.push({ slot: i, spotlightId: this.slotIds[i]!, focused: this.slots[i], unfocused: before[i] });
      }
    }
    return changes;
  }
}
