import { describe, expect, it } from "vitest";
import { COMMAND_HELP, closestVerb, parseCommand, parseRequestId } from "../../src/domain/commands.ts";

describe("parseCommand", () => {
  it.each([
    ["help", { kind: "help" }],
    ["  HELP  ", { kind: "help" }],
    ["help policy", { kind: "help", topic: "policy" }],
    ["vms", { kind: "vms" }],
    ["/vms", { kind: "vms" }],
    ["policy web-01", { kind: "policy", vm: "web-01" }],
    ["Policy rg-web/web-01", { kind: "policy", vm: "rg-web/web-01" }],
  ])("%j → %j", (text, command) => {
    expect(parseCommand(text)).toEqual({ ok: true, command });
  });

  it("policy without a VM → asks which, with an example", () => {
    expect(parseCommand("policy")).toEqual({
      ok: false,
      message: "Which VM? Type `policy <vm>`, e.g. `policy web-01`; `vms` lists them.",
    });
  });
  it("policy with two names → says it takes one", () => {
    const result = parseCommand("policy web-01 web-02");
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain("takes one VM name");
  });
  it("a typo → names the closest command", () => {
    const result = parseCommand("polcy web-01");
    expect(!result.ok && result.message).toBe(
      'I don\'t know "polcy". Did you mean `policy`? Type `help` for what I understand.',
    );
  });
  it("doctor takes no arguments", () => {
    expect(parseCommand("doctor")).toEqual({ ok: true, command: { kind: "doctor" } });
    expect(parseCommand("doctor now").ok).toBe(false);
  });

  it.each([
    ["extend R-17 30m", { kind: "extend", requestId: "R-17", durationMs: 30 * 60_000 }],
    ["extend 1h", { kind: "extend", durationMs: 60 * 60_000 }],
    ["audit", { kind: "audit", sinceMs: 7 * 24 * 3_600_000 }],
    ["audit web-01 30d", { kind: "audit", vm: "web-01", sinceMs: 30 * 24 * 3_600_000 }],
    [
      "break-glass db-01 INC-9 database down, owner asleep",
      { kind: "break_glass", vm: "db-01", incident: "INC-9", reason: "database down, owner asleep" },
    ],
    [
      "bg web-01 inc-12 from 203.0.113.7 for 30m because disk full",
      {
        kind: "break_glass",
        vm: "web-01",
        incident: "INC-12",
        reason: "disk full",
        durationMs: 30 * 60_000,
        source: { text: "203.0.113.7" },
      },
    ],
  ])("%j → %j", (text, command) => {
    expect(parseCommand(text)).toEqual({ ok: true, command });
  });

  it.each([
    ["extend R-17", "Type `extend <request> <duration>`"],
    ["extend R-17 2hrs", "I don't know the unit 'hrs'"],
    ["break-glass db-01", "needs an incident reference"],
    ["break-glass db-01 database down", '"database" is not one'],
    ["bg db-01 INC-9", "needs a reason"],
    ["bg db-01 INC-9 from nowhere db down", "nowhere"],
    ["audit web-01 web-02", "Type `audit [<vm>] [<period>]`"],
  ])("%j → a specific complaint", (text, fragment) => {
    const result = parseCommand(text);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain(fragment);
  });
  it("garbage VM name → refused with the allowed characters", () => {
    const result = parseCommand("policy web;rm");
    expect(!result.ok && result.message).toContain("not a VM name");
  });
  it.each(["", "   ", "\u0000", "💥", "a".repeat(10_000), `policy ${"x/".repeat(500)}`])(
    "never throws on %#",
    (text) => {
      const result = parseCommand(text);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.message.length).toBeGreaterThan(0);
    },
  );
});

describe("closestVerb", () => {
  it("within two edits", () => {
    expect(closestVerb("vm", ["vms", "help"])).toBe("vms");
    expect(closestVerb("hlep", ["vms", "help"])).toBe("help");
  });
  it("nothing close → undefined", () => {
    expect(closestVerb("kubernetes", ["vms", "help"])).toBeUndefined();
  });
});

const H = 3_600_000;
const M = 60_000;

describe("access requests: good input", () => {
  it.each([
    ["ssh web-01", { verb: "ssh", vms: ["web-01"], ports: [22] }],
    ["SSH Web-01", { verb: "ssh", vms: ["Web-01"], ports: [22] }],
    ["rdp app-01 for 30m", { verb: "rdp", vms: ["app-01"], ports: [3389], durationMs: 30 * M }],
    ["ssh web-01 web-02 for 1h", { verb: "ssh", vms: ["web-01", "web-02"], ports: [22], durationMs: H }],
    ["ssh web-01, web-02", { verb: "ssh", vms: ["web-01", "web-02"], ports: [22] }],
    ["ssh web-01,web-02,WEB-01", { verb: "ssh", vms: ["web-01", "web-02"], ports: [22] }],
    ["ssh rg-web/web-01", { verb: "ssh", vms: ["rg-web/web-01"], ports: [22] }],
    ["ssh web-01 for 1h30m", { verb: "ssh", vms: ["web-01"], ports: [22], durationMs: 90 * M }],
    ["ssh web-01 for 1h 30m", { verb: "ssh", vms: ["web-01"], ports: [22], durationMs: 90 * M }],
    ["ssh web-01 for PT2H", { verb: "ssh", vms: ["web-01"], ports: [22], durationMs: 2 * H }],
    [
      "ssh web-01 for 2h because INC-4211",
      { verb: "ssh", vms: ["web-01"], ports: [22], durationMs: 2 * H, reason: "INC-4211" },
    ],
    [
      "ssh web-01 because INC-4211 for 2h",
      { verb: "ssh", vms: ["web-01"], ports: [22], reason: "INC-4211 for 2h" },
    ],
    [
      "ssh web-01 from 198.51.100.7 for 2h",
      { verb: "ssh", vms: ["web-01"], ports: [22], durationMs: 2 * H, source: { text: "198.51.100.7" } },
    ],
    [
      "ssh web-01 for 2h from 198.51.100.0/28",
      { verb: "ssh", vms: ["web-01"], ports: [22], durationMs: 2 * H, source: { text: "198.51.100.0/28" } },
    ],
    [
      "ssh web-01 from 2001:db8::7",
      { verb: "ssh", vms: ["web-01"], ports: [22], source: { text: "2001:db8::7" } },
    ],
    ["access db-01 port 5432", { verb: "access", vms: ["db-01"], ports: [5432] }],
    ["access db-01 port 5432,6432", { verb: "access", vms: ["db-01"], ports: [5432, 6432] }],
    ["access db-01 ports 6432, 5432, 5432", { verb: "access", vms: ["db-01"], ports: [5432, 6432] }],
    [
      "access db-01 for 30m port 5432 because migration   run\t3",
      { verb: "access", vms: ["db-01"], ports: [5432], durationMs: 30 * M, reason: "migration run 3" },
    ],
    [
      "ACCESS db-01 PORT 5432 FROM 198.51.100.7 FOR 1H BECAUSE x",
      {
        verb: "access",
        vms: ["db-01"],
        ports: [5432],
        durationMs: H,
        source: { text: "198.51.100.7" },
        reason: "x",
      },
    ],
  ])("%j → request", (text, fields) => {
    expect(parseCommand(text)).toEqual({ ok: true, command: { kind: "request", ...fields } });
  });
});

describe("access requests: bad input gets a specific sentence", () => {
  it.each([
    ["ssh web-01 for 2hrs", "I don't know the unit 'hrs' — try 2h"],
    ["ssh web-01 for", "`for` needs a duration, e.g. `for 2h`"],
    ["ssh web-01 for because x", "`for` needs a duration, e.g. `for 2h`"],
    ["ssh web-01 for 1h for 2h", "You gave `for` twice"],
    ["ssh web-01 from 198.51.100.7 from 198.51.100.8", "You gave `from` twice"],
    ["access db-01 port 70000", "port 70000 is not a TCP port (1–65535)"],
    ["access db-01 port 0", "port 0 is not a TCP port (1–65535)"],
    ["access db-01 port 5432-5440", '"5432-5440" is not a port number'],
    ["access db-01 port", "`port` needs a number"],
    ["access db-01 port 22 ports 23", "You gave `port` twice"],
    ["access db-01", "`access` needs the port(s)"],
    ["ssh web-01 port 2222", "`ssh` always asks for port 22"],
    ["rdp app-01 port 3390", "`rdp` always asks for port 3389"],
    ["ssh", "Which VM? Type `ssh <vm>`"],
    ["ssh for 2h", "Which VM? Type `ssh <vm>`"],
    ["access port 5432", "Which VM? Type `access <vm>`"],
    ["ssh web;01", '"web;01" is not a VM name'],
    ["ssh -rf", '"-rf" is not a VM name'],
    ["ssh web-01 from", "`from` needs an address"],
    ["ssh web-01 from for 2h", "`from` needs an address"],
    ["ssh web-01 from banana", '"banana" is not an IP address or CIDR prefix'],
    ["ssh web-01 from *", "would open the port to the whole Internet"],
    ["ssh web-01 from 0.0.0.0/0", "would open the port to the whole Internet"],
    [
      "ssh web-01 from 198.51.100.7 198.51.100.8",
      'I didn\'t understand "198.51.100.8" after `from 198.51.100.7`',
    ],
    ["ssh web-01 because", "`because` needs a reason"],
    ["ssh web-01 because    ", "`because` needs a reason"],
    [`ssh web-01 because ${"x".repeat(501)}`, "keep it under 500"],
    ["ssh web-01 for 2h please", 'I didn\'t understand "please" after `for 2h`'],
    ["ssh web-01 for 0m", "longer than zero"],
    [`ssh ${Array.from({ length: 11 }, (_, i) => `vm-${i}`).join(" ")}`, "at most 10"],
  ])("%j → %j", (text, fragment) => {
    const result = parseCommand(text);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain(fragment);
  });
});

describe("status, done, cancel", () => {
  it.each([
    ["status", { kind: "status" }],
    ["done", { kind: "done" }],
    ["done R-17", { kind: "done", requestId: "R-17" }],
    ["done r-17", { kind: "done", requestId: "R-17" }],
    ["done 17", { kind: "done", requestId: "R-17" }],
    ["cancel R-17", { kind: "cancel", requestId: "R-17" }],
  ])("%j → %j", (text, command) => {
    expect(parseCommand(text)).toEqual({ ok: true, command });
  });
  it.each([
    ["status now", "`status` takes no arguments"],
    ["done R-17 R-18", "`done` takes one request id"],
    ["done web-01", "`done` takes one request id"],
    ["cancel", "Which request?"],
    ["cancel it", "`cancel` takes one request id"],
  ])("%j → %j", (text, fragment) => {
    const result = parseCommand(text);
    expect(!result.ok && result.message).toContain(fragment);
  });
  it("request ids: R-017 → R-17; garbage → undefined", () => {
    expect(parseRequestId("R-017")).toBe("R-17");
    expect(parseRequestId("R-")).toBeUndefined();
    expect(parseRequestId("R-1e3")).toBeUndefined();
  });
});

describe("help", () => {
  it("lists every verb the parser serves, each example parsing", () => {
    const verbs = COMMAND_HELP.map((entry) => entry.verb);
    expect(verbs).toEqual(
      expect.arrayContaining(["ssh", "rdp", "access", "status", "done", "cancel", "vms", "policy"]),
    );
    for (const entry of COMMAND_HELP) expect(parseCommand(entry.example).ok, entry.example).toBe(true);
  });
});

describe("the parser never throws", () => {
  // A seeded generator: the same strings every run, so a failure is reproducible.
  function random(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state * 1_664_525 + 1_013_904_223) >>> 0;
      return state / 2 ** 32;
    };
  }
  const pieces = [
    "ssh",
    "rdp",
    "access",
    "status",
    "done",
    "cancel",
    "policy",
    "help",
    "vms",
    "for",
    "from",
    "because",
    "port",
    "ports",
    "web-01",
    "rg/web-02",
    "2h",
    "1h30m",
    "PT2H",
    "P",
    "PT",
    "0m",
    "99999999999999h",
    "hrs",
    "198.51.100.7",
    "::ffff:1.2.3.4",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "*",
    "::",
    "fe80::1%eth0",
    "5432,",
    ",",
    ",,",
    "65536",
    "-1",
    "R-17",
    "R-",
    "💥",
    "\u0000",
    "\u202e",
    "\t",
    "\n",
    " ",
    "/",
    "\\",
    "`",
    "<at>bot</at>",
    "é",
    "%",
    "$",
    "(",
    ")",
    "'",
    '"',
  ];
  const next = random(20261122);
  const inputs = Array.from({ length: 3000 }, () => {
    const length = Math.floor(next() * 12);
    let text = "";
    for (let i = 0; i < length; i++) {
      const roll = next();
      if (roll < 0.7) text += `${pieces[Math.floor(next() * pieces.length)] ?? ""} `;
      else text += String.fromCharCode(Math.floor(next() * 0x3000));
    }
    return text;
  });
  it("on 3000 random strings: always a result with a command or a non-empty message", () => {
    for (const text of inputs) {
      let result: ReturnType<typeof parseCommand> | undefined;
      expect(() => {
        result = parseCommand(text);
      }, JSON.stringify(text)).not.toThrow();
      if (result?.ok === false) expect(result.message.length, JSON.stringify(text)).toBeGreaterThan(0);
      if (result?.ok && result.command.kind === "request") {
        expect(result.command.vms.length).toBeGreaterThan(0);
        expect(result.command.ports.every((port) => port >= 1 && port <= 65535)).toBe(true);
      }
    }
  });
});
