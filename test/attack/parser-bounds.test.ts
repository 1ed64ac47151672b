/**
 * Issue 10, item 4: the parser's work is bounded and linear, measured in steps, not wall-clock.
 *
 * The measure: parseCommand takes a WorkMeter, and every loop and every call of a linear helper in
 * commands.ts and duration.ts adds the number of characters (or tokens) it reads. It is an honest
 * upper bound only because those helpers are linear (anchored regexes without nested quantifiers,
 * split, slice, toLowerCase, Map/Set inserts); the meter does not instrument V8. What it shows:
 * a message over MAX_COMMAND_LENGTH is refused after one step, whatever its size, and anything
 * under it costs at most a constant times its length — no step rescans a digit run or compares
 * every name with every other. The lower bound (steps ≥ length) shows the meter is really wired in.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_COMMAND_LENGTH, MAX_VMS, parseCommand, type WorkMeter } from "../../src/domain/commands.ts";

/** Steps per character the parser may take, plus a constant for the fixed sentences and tables. */
const PER_CHAR = 12;
const CONSTANT = 400;

function metered(text: string): { result: ReturnType<typeof parseCommand>; steps: number } {
  let steps = 0;
  const meter: WorkMeter = {
    add(count) {
      steps += count;
    },
  };
  const result = parseCommand(text, meter);
  return { result, steps };
}

const tooLong = (length: number) =>
  `That message is ${length} characters; I read commands of up to ${MAX_COMMAND_LENGTH}. Put the details in a ticket and give its id with \`because\`.`;

describe("input over the cap is refused before it is read", () => {
  it("a 30,000-name ssh: one step, a sentence that says why", () => {
    const text = `ssh ${Array.from({ length: 30_000 }, (_, i) => `vm-${i}`).join(" ")}`;
    const { result, steps } = metered(text);
    expect(result).toEqual({ ok: false, message: tooLong(text.length) });
    expect(steps).toBe(1);
  });

  it("60,000 digits in a duration: one step", () => {
    const text = `ssh web-01 for ${"9".repeat(60_000)}h`;
    const { result, steps } = metered(text);
    expect(result).toEqual({ ok: false, message: tooLong(text.length) });
    expect(steps).toBe(1);
  });

  it("one character over the cap is refused; exactly at the cap is read", () => {
    const at = `ssh web-01 because ${"x".repeat(MAX_COMMAND_LENGTH - 19)}`;
    expect(at.length).toBe(MAX_COMMAND_LENGTH);
    expect(metered(at).result).toEqual({
      ok: false,
      message: `That reason is ${MAX_COMMAND_LENGTH - 19} characters; keep it under 500 (a ticket id and a line is plenty).`,
    });
    expect(metered(`${at} `).result).toEqual({ ok: false, message: tooLong(MAX_COMMAND_LENGTH + 1) });
  });
});

describe("under the cap, work is linear", () => {
  it("as many names as fit: counted with a Set, refused on the count before any name is checked", () => {
    const names = Array.from({ length: 600 }, (_, i) => `v${i}`);
    const text = `ssh ${names.join(",")}`;
    expect(text.length).toBeLessThanOrEqual(MAX_COMMAND_LENGTH);
    const { result, steps } = metered(text);
    expect(result).toEqual({
      ok: false,
      message: `That is 600 VMs; one request covers at most ${MAX_VMS}. Split it up.`,
    });
    expect(steps).toBeLessThanOrEqual(PER_CHAR * text.length + CONSTANT);
  });

  it("the cap comes before per-name checks: eleven names with a bad one → the cap, not the name", () => {
    const text = `ssh ${Array.from({ length: 10 }, (_, i) => `vm-${i}`).join(" ")} bad;name`;
    expect(parseCommand(text)).toEqual({
      ok: false,
      message: "That is 11 VMs; one request covers at most 10. Split it up.",
    });
  });

  it("the same name 500 times is one VM, in linear work", () => {
    const text = `ssh ${Array.from({ length: 500 }, (_, i) => (i % 2 ? "WEB-01" : "web-01")).join(" ")}`;
    expect(text.length).toBeLessThanOrEqual(MAX_COMMAND_LENGTH);
    const { result, steps } = metered(text);
    expect(result).toEqual({
      ok: true,
      command: { kind: "request", verb: "ssh", vms: ["web-01"], ports: [22] },
    });
    expect(steps).toBeLessThanOrEqual(PER_CHAR * text.length + CONSTANT);
  });

  it.each([
    ["a digit run in `for`", `ssh web-01 for ${"1".repeat(3900)}`],
    ["a digit run with a unit", `ssh web-01 for ${"1".repeat(3900)}h`],
    ["a digit run in `extend`", `extend R-1 ${"9".repeat(3900)}h`],
    ["a digit run in an audit period", `audit ${"9".repeat(3900)}d`],
    ["digits and letters in `for`", `ssh web-01 for ${"1h".repeat(1900)}`],
    ["a port list", `access db-01 port ${Array.from({ length: 700 }, (_, i) => i + 1).join(",")}`],
    ["an address", `ssh web-01 from ${"1".repeat(3900)}`],
    ["a break-glass duration", `bg web-01 INC-9 for ${"9".repeat(3900)} down`],
    ["a long unknown verb", "x".repeat(3990)],
  ])("%s: refused with a sentence, in linear work", (_, text) => {
    expect(text.length).toBeLessThanOrEqual(MAX_COMMAND_LENGTH);
    const { result, steps } = metered(text);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message.length).toBeLessThan(400);
    expect(steps).toBeGreaterThanOrEqual(text.length);
    expect(steps).toBeLessThanOrEqual(PER_CHAR * text.length + CONSTANT);
  });
});

describe("property: no input makes the parser do more than a small bound of work", () => {
  const word = fc.oneof(
    fc.constantFrom(
      "ssh",
      "rdp",
      "access",
      "bg",
      "break-glass",
      "extend",
      "audit",
      "policy",
      "done",
      "cancel",
      "help",
      "for",
      "from",
      "because",
      "port",
      "ports",
      "at",
      "web-01",
      "WEB-01",
      "rg/web-02",
      "INC-9",
      "R-17",
      "2h",
      "1h30m",
      "PT2H",
      "P1D",
      "0m",
      "1s",
      "99999999999h",
      "198.51.100.7",
      "::ffff:1.2.3.4",
      ",",
      "\u0000",
      "\ud800",
      "💥",
      "tomorrow",
      "02:30",
    ),
    fc.string({ maxLength: 40 }),
    fc.stringMatching(/^[0-9]{1,200}[a-z]{0,3}$/),
    fc.stringMatching(/^[a-z0-9,-]{1,300}$/),
  );
  // Sentences of up to 400 words: most are under the cap, a good share run far over it.
  const sentence = fc
    .tuple(fc.array(word, { maxLength: 400 }), fc.constantFrom(" ", ",", " , ", "\t"))
    .map(([words, glue]) => words.join(glue));
  const huge = fc.tuple(sentence, fc.integer({ min: 1, max: 20 })).map(([text, times]) => text.repeat(times));

  it("steps ≤ 12 × length + 400 under the cap, and exactly 1 over it", () => {
    fc.assert(
      fc.property(fc.oneof(sentence, huge), (text) => {
        const { result, steps } = metered(text);
        if (text.length > MAX_COMMAND_LENGTH) {
          expect(result).toEqual({ ok: false, message: tooLong(text.length) });
          expect(steps).toBe(1);
        } else {
          expect(steps).toBeGreaterThanOrEqual(text.length);
          expect(steps).toBeLessThanOrEqual(PER_CHAR * text.length + CONSTANT);
          if (!result.ok) expect(result.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 2000, seed: 20261205 },
    );
  });
});
