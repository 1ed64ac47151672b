/** ISO 8601 durations as JIT uses them ("PT3H", "PT30M", "P1D", "PT1H30M"); no months or years. */
const PATTERN = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** Milliseconds, or undefined when the text is not a day/time ISO 8601 duration. */
export function parseIsoDurationMs(text: string): number | undefined {
  const m = PATTERN.exec(text.trim().toUpperCase());
  if (!m || text.trim().toUpperCase() === "P" || text.trim().toUpperCase() === "PT") return undefined;
  const [, d, h, min, s] = m;
  return (
    Number(d ?? 0) * 86_400_000 +
    Number(h ?? 0) * 3_600_000 +
    Number(min ?? 0) * 60_000 +
    Number(s ?? 0) * 1000
  );
}
