import { describe, expect, it } from "vitest";
import { closestVerb, parseCommand } from "../../src/domain/commands.ts";

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
  it("a planned verb → says it is not served yet, not 'unknown'", () => {
    const result = parseCommand("ssh web-01");
    expect(!result.ok && result.message).toContain("does not serve it yet");
  });
  it("garbage VM name → refused with the allowed characters", () => {
    const result = parseCommand("policy web;rm");
    expect(!result.ok && result.message).toContain("not a VM name");
  });
  it.each(["", "   ", "\u0000", "💥", "a".repeat(10_000), "policy " + "x/".repeat(500)])(
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
