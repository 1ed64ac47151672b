import { describe, expect, it } from "vitest";
import {
  formatDuration,
  parseAccessDuration,
  parseIsoDuration,
  parseUserDuration,
} from "../../src/domain/duration.ts";

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

describe("a finite range (issue 10, item 6)", () => {
  it.each([
    ["99999999999h", '"99999999999h" is longer than any period I work with (at most 366 days).'],
    ["367d", '"367d" is longer than any period I work with (at most 366 days).'],
    ["P9999D", '"P9999D" is longer than any period I work with (at most 366 days).'],
    // Too long to be a duration: refused unread, quoted clipped.
    [`${"9".repeat(40)}h`, `"${"9".repeat(20)}…" is not a duration I can read — try 30m, 2h or 1h30m.`],
  ])("%j → %j", (text, message) => {
    expect(parseUserDuration(text)).toEqual({ ok: false, message });
  });
  it("366 days is the longest", () => {
    expect(parseUserDuration("366d")).toEqual({ ok: true, ms: 366 * 24 * H });
  });
  it("an ISO text longer than any Azure writes → undefined, unread", () => {
    expect(parseIsoDuration(`PT${"1".repeat(60_000)}H`)).toBeUndefined();
  });
});

describe("access windows: one floor, one ceiling", () => {
  it.each([
    ["5m", 5 * M],
    ["24h", 24 * H],
    ["PT5M", 5 * M],
    ["P1D", 24 * H],
  ])("%s → %d ms", (text, ms) => {
    expect(parseAccessDuration(text)).toEqual({ ok: true, ms });
  });
  it.each([
    ["1s", '"1s" is too short to be approved and used; ask for at least 5 min.'],
    ["4m59s", '"4m59s" is too short to be approved and used; ask for at least 5 min.'],
    [
      "24h1s",
      '"24h1s" is longer than any access window: Azure JIT opens a port for at most 24 h. Ask for less, and extend later if you need to.',
    ],
    [
      "99999999999h",
      '"99999999999h" is longer than any access window: Azure JIT opens a port for at most 24 h. Ask for less, and extend later if you need to.',
    ],
  ])("%j → %j", (text, message) => {
    expect(parseAccessDuration(text)).toEqual({ ok: false, message });
  });
});

describe("formatting", () => {
  it.each([
    [30 * M, "30 min"],
    [H, "1 h"],
    [90 * M, "1 h 30 min"],
    [24 * H, "24 h"],
    [1000, "1 s"],
  ])("%d ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
