import { describe, expect, it } from "vitest";
import { describeStart, parseStart, resolveStart } from "../../src/domain/start-time.ts";

const at = (iso: string) => new Date(iso);

describe("parseStart", () => {
  it.each([
    [["02:00"], { kind: "clock", day: "next", hour: 2, minute: 0 }],
    [["tomorrow", "2:30"], { kind: "clock", day: "tomorrow", hour: 2, minute: 30 }],
    [["Today", "23:59"], { kind: "clock", day: "today", hour: 23, minute: 59 }],
    [["2026-11-25T02:00Z"], { kind: "instant", iso: "2026-11-25T02:00Z" }],
    [["2026-11-25T02:00"], { kind: "instant", iso: "2026-11-25T02:00" }],
  ])("%j → %j", (words, spec) => {
    expect(parseStart(words)).toEqual({ ok: true, spec });
  });
  it.each([[[]], [["24:00"]], [["2pm"]], [["tomorrow"]], [["02:00", "sharp"]], [["2026-13-45T02:00Z"]]])(
    "%j → a message naming the accepted forms",
    (words) => {
      const result = parseStart(words);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.message).toContain("at 02:00");
    },
  );
});

describe("resolveStart", () => {
  it("next 02:00 in UTC: tomorrow when today's has passed, today when it is ahead", () => {
    const spec = { kind: "clock", day: "next", hour: 2, minute: 0 } as const;
    expect(resolveStart(spec, at("2026-11-24T09:00Z"), undefined).toISOString()).toBe(
      "2026-11-25T02:00:00.000Z",
    );
    expect(resolveStart(spec, at("2026-11-24T01:00Z"), undefined).toISOString()).toBe(
      "2026-11-24T02:00:00.000Z",
    );
  });
  it("clock times are in the requester's zone, across a date line for the zone", () => {
    const spec = { kind: "clock", day: "tomorrow", hour: 9, minute: 30 } as const;
    // 2026-11-24 20:00 UTC is already the 25th in Tokyo (UTC+9): tomorrow there is the 26th.
    expect(resolveStart(spec, at("2026-11-24T20:00Z"), "Asia/Tokyo").toISOString()).toBe(
      "2026-11-26T00:30:00.000Z",
    );
  });
  it("daylight saving: 03:30 on the night Berlin moves to summer time is summer time", () => {
    const spec = { kind: "instant", iso: "2026-03-29T03:30" } as const;
    expect(resolveStart(spec, at("2026-03-28T12:00Z"), "Europe/Berlin").toISOString()).toBe(
      "2026-03-29T01:30:00.000Z",
    );
  });
  it("in the spring-forward gap: Berlin 02:30 → 03:00 local (01:00 UTC), never back to 01:30", () => {
    const now = at("2026-03-28T12:00Z");
    const clock = { kind: "clock", day: "tomorrow", hour: 2, minute: 30 } as const;
    expect(resolveStart(clock, now, "Europe/Berlin").toISOString()).toBe("2026-03-29T01:00:00.000Z");
    const instant = { kind: "instant", iso: "2026-03-29T02:30" } as const;
    expect(resolveStart(instant, now, "Europe/Berlin").toISOString()).toBe("2026-03-29T01:00:00.000Z");
    expect(describeStart(resolveStart(instant, now, "Europe/Berlin"), "Europe/Berlin")).toBe(
      "2026-03-29 03:00 Europe/Berlin (01:00 UTC)",
    );
  });
  it.each([
    ["2026-03-29T02:00", "Europe/Berlin", "2026-03-29T01:00:00.000Z"],
    ["2026-03-29T02:59", "Europe/Berlin", "2026-03-29T01:00:00.000Z"],
    ["2026-03-29T01:59", "Europe/Berlin", "2026-03-29T00:59:00.000Z"],
    ["2026-03-08T02:30", "America/New_York", "2026-03-08T07:00:00.000Z"],
    // Lord Howe Island moves by half an hour: 02:00 → 02:30.
    ["2026-10-04T02:15", "Australia/Lord_Howe", "2026-10-03T15:30:00.000Z"],
  ])("the gap, elsewhere: %s in %s → %s (the first valid local time)", (iso, zone, expected) => {
    expect(resolveStart({ kind: "instant", iso }, at("2026-01-01T00:00Z"), zone).toISOString()).toBe(
      expected,
    );
  });
  it("a time that happens twice (clocks going back) is the first of the two", () => {
    const spec = { kind: "instant", iso: "2026-10-25T02:30" } as const;
    expect(resolveStart(spec, at("2026-10-24T12:00Z"), "Europe/Berlin").toISOString()).toBe(
      "2026-10-25T00:30:00.000Z",
    );
  });
  it("an unknown zone falls back to UTC rather than failing", () => {
    const spec = { kind: "clock", day: "tomorrow", hour: 2, minute: 0 } as const;
    expect(resolveStart(spec, at("2026-11-24T09:00Z"), "Mars/Olympus").toISOString()).toBe(
      "2026-11-25T02:00:00.000Z",
    );
  });
});

describe("describeStart", () => {
  it("echoes local and UTC", () => {
    expect(describeStart(at("2026-11-25T01:00Z"), "Europe/Berlin")).toBe(
      "2026-11-25 02:00 Europe/Berlin (01:00 UTC)",
    );
    expect(describeStart(at("2026-11-25T01:00Z"), undefined)).toBe("2026-11-25 01:00 UTC");
  });
});
