// Small display helpers.

export const fmt = (v: number | null | undefined, digits = 0, unit = ""): string =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : `${v.toFixed(digits)}${unit}`;

export const shortId = (id: string | null | undefined): string => (id ? (id.length > 10 ? `${id.slice(0, 6)}…${id.slice(-3)}` : id) : "–");
