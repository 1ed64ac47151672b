/**
 * Issue 10, item 6: durations are finite and sane on every path, with one floor (5 min) and one
 * ceiling (24 h) for access windows, on real parts (store, simulator through the SDK).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { breakGlass } from "../../src/app/break-glass.ts";
import { decide } from "../../src/app/decide.ts";
import { extendAccess } from "../../src/app/extend.ts";
import { requestAccess } from "../../src/app/request-access.ts";
import type { RequestRecord } from "../../src/app/request-record.ts";
import { type BreakGlassCommand, parseCommand, type RequestCommand } from "../../src/domain/commands.ts";
import { alice, type Harness, olive, sam, startHarness } from "../support/app-harness.ts";

const MINUTE = 60_000;

describe("the parser: one range, one floor", () => {
  it.each([
    [
      "extend R-1 99999999999h",
      '"99999999999h" is longer than any access window: Azure JIT opens a port for at most 24 h. Ask for less, and extend later if you need to.',
    ],
    [
      "extend R-1 25h",
      '"25h" is longer than any access window: Azure JIT opens a port for at most 24 h. Ask for less, and extend later if you need to.',
    ],
    ["extend R-1 1s", '"1s" is too short to be approved and used; ask for at least 5 min.'],
    ["bg web-01 INC-9 for 1s db down", '"1s" is too short to be approved and used; ask for at least 5 min.'],
    [
      "bg web-01 INC-9 for 4m59s db down",
      '"4m59s" is too short to be approved and used; ask for at least 5 min.',
    ],
    [
      "bg web-01 INC-9 for 99999999999h db down",
      '"99999999999h" is longer than any access window: Azure JIT opens a port for at most 24 h. Ask for less, and extend later if you need to.',
    ],
    ["ssh web-01 for 1m", '"1m" is too short to be approved and used; ask for at least 5 min.'],
    ["ssh web-01 for 90s", '"90s" is too short to be approved and used; ask for at least 5 min.'],
    [
      "ssh web-01 for P400D",
      '"P400D" is longer than any access window: Azure JIT opens a port for at most 24 h. Ask for less, and extend later if you need to.',
    ],
    ["audit 99999999999d", '"99999999999d" is longer than any period I work with (at most 366 days).'],
    ["audit 367d", '"367d" is longer than any period I work with (at most 366 days).'],
  ])("%j → %j", (text, message) => {
    expect(parseCommand(text)).toEqual({ ok: false, message });
  });

  it.each([
    ["extend R-1 5m", { kind: "extend", requestId: "R-1", durationMs: 5 * MINUTE }],
    ["extend R-1 24h", { kind: "extend", requestId: "R-1", durationMs: 24 * 60 * MINUTE }],
    ["audit 366d", { kind: "audit", sinceMs: 366 * 24 * 60 * MINUTE }],
  ])("the edges are in range: %j", (text, command) => {
    expect(parseCommand(text)).toEqual({ ok: true, command });
  });
});

describe("on real parts", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  async function open(): Promise<string> {
    const parsed = parseCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1");
    if (!parsed.ok || parsed.command.kind !== "request") throw new Error("not a request");
    const asked = await requestAccess(h.app, sam, parsed.command as RequestCommand);
    const id = asked.requestId ?? "";
    expect((await decide(h.app, alice, id, "approve")).outcome).toBe("decided");
    await h.settle();
    return id;
  }

  it("extend by an impossible amount: a clear refusal, no extension row, no card, the window unchanged", async () => {
    const id = await open();
    const before = await h.store.requests.get<RequestRecord>(id);
    const sent = h.notifier.sent.length;
    for (const extra of [Number.POSITIVE_INFINITY, Number.NaN, 99_999_999_999 * 3_600_000]) {
      expect(await extendAccess(h.app, sam, id, extra)).toBe(
        "An extension is at most 24 h, the longest Azure JIT opens a port for.",
      );
    }
    expect(await extendAccess(h.app, sam, id, 1000)).toBe(
      "An extension of 1 s is too short to be approved and used; ask for at least 5 min.",
    );
    expect(await h.store.requests.get<RequestRecord>("R-2")).toBeUndefined();
    expect((await h.store.requests.get<RequestRecord>(id))?.data.request.grant).toEqual(
      before?.data.request.grant,
    );
    expect(h.notifier.sent.length).toBe(sent);
  });

  it("break-glass under 5 minutes is refused like a normal request, and nothing opens", async () => {
    // Past the parser (which refuses `for 1s` itself): the domain check has the same floor.
    const command: BreakGlassCommand = {
      kind: "break_glass",
      vm: "web-01",
      incident: "INC-9",
      reason: "db down",
      durationMs: 1000,
      source: { text: "203.0.113.7" },
    };
    expect(await breakGlass(h.app, olive, command)).toBe(
      "1 s is too short to be approved and used; ask for at least 5 min.",
    );
    await h.settle();
    expect(await h.store.requests.get<RequestRecord>("R-1")).toBeUndefined();
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
  });
});
