import { describe, expect, it } from "vitest";
import { formatDuration, parseIsoDuration, parseUserDuration } from "../../src/domain/duration.ts";

const H = 3_600_000;
const M = 60_000;

describe("ISO 8601 durations as Azure stores them", () => {
  it.each([
    ["PT3H", 3 * H],
    ["PT90M", 90 * M],
    ["P1D", 24 * H],
    ["P1DT2H", 26 * H],
    ["PT5M", 5 * M],
    ["pt1h30m", 90 * M],
  ])("%s → %d ms", (text, ms) => {
    expect(parseIsoDuration(text)).toBe(ms);
  });
  it.each(["", "P", "PT", "3H", "PTH", "P1H", "PT1X"])("%j → undefined", (text) => {
    expect(parseIsoDuration(text)).toBeUndefined();
  });
});

describe("durations users type", () => {
  it.each([
    ["30m", 30 * M],
    ["2h", 2 * H],
    ["1h30m", 90 * M],
    ["1h 30m", 90 * M],
    ["PT2H", 2 * H],
    ["1d", 24 * H],
  ])("%s → %d ms", (text, ms) => {
    expect(parseUserDuration(text)).toEqual({ ok: true, ms });
  });
  it("unknown unit → names the unit and an example", () => {
    expect(parseUserDuration("2hrs")).toEqual({
      ok: false,
      message: "I don't know the unit 'hrs' — try 2h, 30m or 1h30m.",
    });
  });
  it.each(["", "abc", "h2", "-1h", "2h!", "PTX"])("%j → a message, never a throw", (text) => {
    const result = parseUserDuration(text);
    expect(result.ok).toBe(false);
  });
  it("zero → refused", () => {
    expect(parseUserDuration("0m").ok).toBe(false);
  });
});

describe("formatting", () => {
  it.each([
    [30 * M, "30 min"],
    [H, "1 h"],
    [90 * M, "1 h 30 min"],
    [24 * H, "24 h"],
  ])("%d ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
