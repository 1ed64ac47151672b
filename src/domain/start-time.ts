/**
 * Future windows: `at 02:00`, `at tomorrow 02:00`, `at 2026-11-25T02:00Z`. Clock times are in the
 * requester's time zone (from Teams) or UTC; the resolved instant is always echoed back in both.
 * Pure: `now` and the zone come in. Hand-written on Intl because the grammar is three shapes.
 */

export type StartSpec =
  | {
      readonly kind: "clock";
      readonly day: "today" | "tomorrow" | "next";
      readonly hour: number;
      readonly minute: number;
    }
  | { readonly kind: "instant"; readonly iso: string };

export type StartParse =
  | { readonly ok: true; readonly spec: StartSpec }
  | { readonly ok: false; readonly message: string };

/** Words after `at`: "02:00", "tomorrow 02:00", "today 14:30", or an ISO 8601 date-time. */
export function parseStart(words: readonly string[]): StartParse {
  const usage = "try `at 02:00`, `at tomorrow 02:00` or `at 2026-11-25T02:00Z`";
  const [first, second, ...extra] = words.map((word) => word.toLowerCase());
  if (first === undefined) return { ok: false, message: `\`at\` needs a start time — ${usage}.` };
  if (/^\d{4}-\d{2}-\d{2}t\d{2}:\d{2}/.test(first) && second === undefined) {
    const iso = first.toUpperCase();
    const withZone = /(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`;
    if (Number.isNaN(Date.parse(withZone))) {
      return { ok: false, message: `"${words[0]}" is not a date and time I can read — ${usage}.` };
    }
    return { ok: true, spec: { kind: "instant", iso } };
  }
  const day = first === "today" || first === "tomorrow" ? first : "next";
  const time = day === "next" ? first : second;
  if (time === undefined || (day === "next" ? second !== undefined : extra.length > 0)) {
    return { ok: false, message: `I read "${words.join(" ")}" as a start time but can't — ${usage}.` };
  }
  const match = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(time);
  if (!match) return { ok: false, message: `"${time}" is not a time of day (HH:MM, 24-hour) — ${usage}.` };
  return { ok: true, spec: { kind: "clock", day, hour: Number(match[1]), minute: Number(match[2]) } };
}

/**
 * The instant a spec means at `now` in `timeZone` (IANA; undefined → UTC). "next": today if still
 * ahead, else tomorrow. An ISO time without an offset is read in the same zone.
 */
export function resolveStart(spec: StartSpec, now: Date, timeZone: string | undefined): Date {
  const zone = validZone(timeZone);
  if (spec.kind === "instant") {
    if (/(Z|[+-]\d{2}:?\d{2})$/.test(spec.iso)) return new Date(spec.iso);
    const [date, clock] = spec.iso.split("T");
    const [y, m, d] = (date ?? "").split("-").map(Number);
    const [hh, mm] = (clock ?? "").split(":").map(Number);
    return zonedInstant(y ?? 1970, (m ?? 1) - 1, d ?? 1, hh ?? 0, mm ?? 0, zone);
  }
  const today = partsIn(now, zone);
  const candidate = (offsetDays: number) =>
    zonedInstant(today.year, today.month, today.day + offsetDays, spec.hour, spec.minute, zone);
  if (spec.day === "today") return candidate(0);
  if (spec.day === "tomorrow") return candidate(1);
  const todays = candidate(0);
  return todays.getTime() > now.getTime() ? todays : candidate(1);
}

/** "2026-11-25 02:00 Europe/Berlin (01:00 UTC)", or "2026-11-25 02:00 UTC". */
export function describeStart(start: Date, timeZone: string | undefined): string {
  const zone = validZone(timeZone);
  const utcText = `${start.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  if (zone === "UTC") return utcText;
  const p = partsIn(start, zone);
  const local = `${p.year}-${pad(p.month + 1)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}`;
  return `${local} ${zone} (${utcText.slice(11)})`;
}

function validZone(timeZone: string | undefined): string {
  if (!timeZone) return "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return timeZone;
  } catch {
    return "UTC";
  }
}

function partsIn(date: Date, zone: string) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  }).formatToParts(date);
  const get = (type: string) => Number(parts.find((part) => part.type === type)?.value ?? 0);
  return {
    year: get("year"),
    month: get("month") - 1,
    day: get("day"),
    hour: get("hour"),
    minute: get("minute"),
  };
}

/**
 * The UTC instant at which the wall clock in `zone` shows the given time. A time that happens twice
 * (clocks going back) is the first of the two; a time that never happens (the spring-forward gap,
 * Berlin 02:30 on the last Sunday of March) moves forward to the first valid local time after the
 * gap (03:00), never back: a window must not open before the time asked for.
 */
function zonedInstant(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  zone: string,
): Date {
  const wanted = Date.UTC(year, month, day, hour, minute);
  // Zone offsets a day either side: at most one transition lies between them.
  const offsetBefore = offsetAt(wanted - DAY, zone);
  const offsetAfter = offsetAt(wanted + DAY, zone);
  const candidates = [wanted - offsetBefore, wanted - offsetAfter]
    .filter((instant) => wallClock(instant, zone) === wanted)
    .sort((a, b) => a - b);
  const [first] = candidates;
  if (first !== undefined) return new Date(first);
  // In the gap: the transition lies between the two readings; find its minute (≤ 12 halvings).
  let before = Math.min(wanted - offsetBefore, wanted - offsetAfter);
  let after = Math.max(wanted - offsetBefore, wanted - offsetAfter);
  while (after - before > MINUTE) {
    const middle = before + Math.floor((after - before) / 2 / MINUTE) * MINUTE;
    if (wallClock(middle, zone) >= wanted) after = middle;
    else before = middle;
  }
  return new Date(after);
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** What the wall clock in `zone` reads at `instant`, as if that reading were UTC (minute precision). */
function wallClock(instant: number, zone: string): number {
  const p = partsIn(new Date(instant), zone);
  return Date.UTC(p.year, p.month, p.day, p.hour, p.minute);
}

function offsetAt(instant: number, zone: string): number {
  const whole = Math.floor(instant / MINUTE) * MINUTE;
  return wallClock(whole, zone) - whole;
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}
