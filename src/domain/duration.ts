/**
 * Durations as milliseconds. Users type `30m`, `2h`, `1h30m`, `PT2H`; Azure stores ISO 8601
 * (`PT3H`, `P1D`). Hand-written: the grammar is tiny and a library would accept more than we want.
 *
 * Every duration a user types goes through `parseUserDuration`, which reads each character once
 * (no regex that rescans digit runs) and has a finite range; access windows (requests,
 * break-glass, extensions) add one minimum and one maximum in `parseAccessDuration` (issue 10, item 6).
 */

export type DurationResult =
  | { readonly ok: true; readonly ms: number }
  | { readonly ok: false; readonly message: string };

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The longest duration anything accepts (an audit period of a year); beyond it is a typo or an attack. */
export const MAX_DURATION_MS = 366 * DAY;
/** Azure's floor for maxRequestAccessDuration; shorter windows would close before anyone approves. */
export const MIN_ACCESS_DURATION_MS = 5 * MINUTE;
/** Azure's ceiling for maxRequestAccessDuration: no JIT window is longer. */
export const MAX_ACCESS_DURATION_MS = DAY;

/** No duration anyone means is longer than this as text ("1d 23h 59m 59s" is 14); longer is refused unread. */
const MAX_DURATION_TEXT = 32;
/** Digits in one amount: 366 days is 31,622,400 s, eight digits; more cannot be in range. */
const MAX_AMOUNT_DIGITS = 8;

const ISO = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i;

/** `PT3H`, `PT90M`, `P1D`, `P1DT2H` → ms; undefined for anything else (including `P` and `PT`). */
export function parseIsoDuration(text: string): number | undefined {
  // Length first: the regex is anchored and linear, and it only ever sees a short string.
  if (text.length > MAX_DURATION_TEXT) return undefined;
  const trimmed = text.trim();
  const match = ISO.exec(trimmed);
  if (!match || /T$/i.test(trimmed) || trimmed.length <= 1) return undefined;
  const [, days, hours, minutes, seconds] = match;
  if (days === undefined && hours === undefined && minutes === undefined && seconds === undefined)
    return undefined;
  return (
    Number(days ?? 0) * DAY +
    Number(hours ?? 0) * HOUR +
    Number(minutes ?? 0) * MINUTE +
    Number(seconds ?? 0) * SECOND
  );
}

const UNITS: Readonly<Record<string, number>> = { d: DAY, h: HOUR, m: MINUTE, s: SECOND };

/**
 * What users type: `30m`, `2h`, `1h30m`, `1h 30m`, `1d`, `90s`, or ISO 8601; at most 366 days.
 * `steps`, when given, counts the characters read (the parser's work meter, see commands.ts).
 */
export function parseUserDuration(text: string, steps?: { add(count: number): void }): DurationResult {
  return parseDuration(text, tooLongForAnything, steps);
}

/**
 * How long a port is open: requests, break-glass and extensions. The user's duration, then one
 * floor (5 min) and one ceiling (24 h, Azure's) for every path; policy and rules caps come later.
 */
export function parseAccessDuration(text: string, steps?: { add(count: number): void }): DurationResult {
  const parsed = parseDuration(text, tooLongForAccess, steps);
  if (!parsed.ok) return parsed;
  const typed = text.trim();
  if (parsed.ms < MIN_ACCESS_DURATION_MS) return { ok: false, message: tooShort(`"${typed}"`) };
  if (parsed.ms > MAX_ACCESS_DURATION_MS) return tooLongForAccess(typed);
  return parsed;
}

/** The one sentence for a window under the floor, whichever path it came by. */
export function tooShort(what: string): string {
  return `${what} is too short to be approved and used; ask for at least ${formatDuration(MIN_ACCESS_DURATION_MS)}.`;
}

function tooLongForAnything(typed: string): DurationResult {
  return { ok: false, message: `"${clip(typed)}" is longer than any period I work with (at most 366 days).` };
}

function tooLongForAccess(typed: string): DurationResult {
  return {
    ok: false,
    message: `"${clip(typed)}" is longer than any access window: Azure JIT opens a port for at most ${formatDuration(MAX_ACCESS_DURATION_MS)}. Ask for less, and extend later if you need to.`,
  };
}

function parseDuration(
  text: string,
  outOfRange: (typed: string) => DurationResult,
  steps: { add(count: number): void } | undefined,
): DurationResult {
  if (text.length > MAX_DURATION_TEXT) {
    steps?.add(1);
    return { ok: false, message: `"${clip(text)}" is not a duration I can read — try 30m, 2h or 1h30m.` };
  }
  steps?.add(text.length);
  const trimmed = text.trim();
  if (trimmed.startsWith("P") || trimmed.startsWith("p")) {
    const ms = parseIsoDuration(trimmed);
    if (ms === undefined || ms <= 0)
      return {
        ok: false,
        message: `"${trimmed}" is not an ISO 8601 duration I can read — try PT2H or PT30M.`,
      };
    return ms > MAX_DURATION_MS ? outOfRange(trimmed) : { ok: true, ms };
  }
  const unreadable = {
    ok: false,
    message: `"${trimmed}" is not a duration I can read — try 30m, 2h or 1h30m.`,
  } as const;
  // One pass: <digits> [spaces] <letters>, repeated, spaces allowed between the parts.
  let ms = 0;
  let index = 0;
  let parts = 0;
  const lower = trimmed.toLowerCase();
  while (index < lower.length) {
    while (lower[index] === " " || lower[index] === "\t") index++;
    if (index >= lower.length) break;
    const amountStart = index;
    while (index < lower.length && isDigit(lower[index])) index++;
    if (index === amountStart) return unreadable;
    if (index - amountStart > MAX_AMOUNT_DIGITS) return outOfRange(trimmed);
    const amount = Number(lower.slice(amountStart, index));
    while (lower[index] === " " || lower[index] === "\t") index++;
    const unitStart = index;
    while (index < lower.length && isLetter(lower[index])) index++;
    if (index === unitStart) return unreadable;
    const unit = lower.slice(unitStart, index);
    const size = UNITS[unit];
    if (size === undefined)
      return { ok: false, message: `I don't know the unit '${clip(unit)}' — try 2h, 30m or 1h30m.` };
    ms += amount * size;
    parts++;
  }
  if (parts === 0) return unreadable;
  if (ms > MAX_DURATION_MS) return outOfRange(trimmed);
  return ms > 0
    ? { ok: true, ms }
    : { ok: false, message: "A duration must be longer than zero — try 30m or 1h." };
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= "0" && char <= "9";
}

function isLetter(char: string | undefined): boolean {
  return char !== undefined && char >= "a" && char <= "z";
}

function clip(text: string): string {
  return text.length > 20 ? `${text.slice(0, 20)}…` : text;
}

/** 5400000 → "1 h 30 min"; 86400000 → "24 h". */
export function formatDuration(ms: number): string {
  // Under a minute only reaches a sentence that refuses it; "0 min" would read as nothing.
  if (ms > 0 && ms < 30 * SECOND) return `${Math.round(ms / SECOND)} s`;
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
