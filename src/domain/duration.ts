/**
 * Durations as milliseconds. Users type `30m`, `2h`, `1h30m`, `PT2H`; Azure stores ISO 8601
 * (`PT3H`, `P1D`). Hand-written: the grammar is tiny and a library would accept more than we want.
 */

export type DurationResult =
  | { readonly ok: true; readonly ms: number }
  | { readonly ok: false; readonly message: string };

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const ISO = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i;

/** `PT3H`, `PT90M`, `P1D`, `P1DT2H` → ms; undefined for anything else (including `P` and `PT`). */
export function parseIsoDuration(text: string): number | undefined {
  const match = ISO.exec(text.trim());
  if (!match || /T$/i.test(text.trim()) || text.trim().length <= 1) return undefined;
  const [, days, hours, minutes, seconds] = match;
  if (days === undefined && hours === undefined && minutes === undefined && seconds === undefined)
    return undefined;
  return (
    Number(days ?? 0) * DAY +
    Number(hours ?? 0) * HOUR +
    Number(minutes ?? 0) * MINUTE +
    Number(seconds ?? 0) * 1000
  );
}

const UNITS: Readonly<Record<string, number>> = { d: DAY, h: HOUR, m: MINUTE, s: 1000 };

/** What users type: `30m`, `2h`, `1h30m`, `1d`, `90s`, or ISO 8601. */
export function parseUserDuration(text: string): DurationResult {
  const trimmed = text.trim();
  if (/^p/i.test(trimmed)) {
    const ms = parseIsoDuration(trimmed);
    return ms === undefined || ms <= 0
      ? { ok: false, message: `"${trimmed}" is not an ISO 8601 duration I can read — try PT2H or PT30M.` }
      : { ok: true, ms };
  }
  const parts = [...trimmed.toLowerCase().matchAll(/(\d+)\s*([a-z]+)/g)];
  if (
    parts.length === 0 ||
    parts.map((part) => part[0]).join("") !== trimmed.toLowerCase().replace(/\s+/g, "")
  ) {
    return { ok: false, message: `"${trimmed}" is not a duration I can read — try 30m, 2h or 1h30m.` };
  }
  let ms = 0;
  for (const [, amount, unit] of parts) {
    const size = UNITS[unit ?? ""];
    if (size === undefined)
      return { ok: false, message: `I don't know the unit '${unit}' — try 2h, 30m or 1h30m.` };
    ms += Number(amount) * size;
  }
  return ms > 0
    ? { ok: true, ms }
    : { ok: false, message: "A duration must be longer than zero — try 30m or 1h." };
}

/** 5400000 → "1 h 30 min"; 86400000 → "24 h". */
export function formatDuration(ms: number): string {
  const totalMinutes = Math.round(ms / MINUTE);
  const hours = Math.floor(totalMinutes / 60);
  const minutes = totalMinutes % 60;
  if (hours === 0) return `${minutes} min`;
  return minutes === 0 ? `${hours} h` : `${hours} h ${minutes} min`;
}

/** "2026-11-23 14:05 UTC": how every chat message and card names an instant. */
export function utcText(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}
