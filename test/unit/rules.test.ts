import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type ApprovalRules,
  type ApprovalSubject,
  approversFromTags,
  breakGlassRoster,
  EMPTY_RULES,
  parseApprovalRules,
  resolveApprovalPolicy,
} from "../../src/domain/rules.ts";

const SUB = "00000000-0000-4000-8000-00000000c0de";
const H = 3_600_000;

function vm(name: string, approvers: string | undefined, resourceGroup = "rg-web"): ApprovalSubject {
  return {
    vmName: name,
    subscriptionId: SUB,
    resourceGroup,
    tags: approvers === undefined ? { env: "prod" } : { "jit-approvers": approvers },
  };
}

function rules(json: unknown): ApprovalRules {
  const parsed = parseApprovalRules(json);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.rules;
}

const sam = { id: "00000000-0000-4000-8000-000000000100", upn: "sam@contoso.com" };
const alice = { id: "00000000-0000-4000-8000-000000000101", upn: "alice@contoso.com" };

describe("the jit-approvers tag", () => {
  it("splits on ; and , trims, lower-cases, dedupes, keeps object ids", () => {
    expect(
      approversFromTags({
        "JIT-Approvers":
          " Alice@Contoso.com; bob@contoso.com ,alice@contoso.com;;00000000-0000-4000-8000-0000000000AA",
      }),
    ).toEqual({
      approvers: ["alice@contoso.com", "bob@contoso.com", "00000000-0000-4000-8000-0000000000aa"],
      ignored: [],
    });
  });
  it("entries that are neither UPN nor object id are set aside, not trusted", () => {
    expect(approversFromTags({ "jit-approvers": "web-team;alice@contoso.com" })).toEqual({
      approvers: ["alice@contoso.com"],
      ignored: ["web-team"],
    });
  });
});

describe("resolving who approves", () => {
  it("tag only, built-in defaults → one approval, no reason, 24 h cap", () => {
    const result = resolveApprovalPolicy(
      [vm("web-01", "alice@contoso.com;bob@contoso.com")],
      sam,
      EMPTY_RULES,
    );
    expect(result).toEqual({
      ok: true,
      policy: {
        approvers: ["alice@contoso.com", "bob@contoso.com"],
        requiredApprovals: 1,
        configuredApprovals: 1,
        requireReason: false,
        maxDurationMs: 24 * H,
        approvalTimeoutMs: H,
        ignoredEntries: [],
      },
    });
  });

  it("approve when requester is approver → the requester is not on the list", () => {
    const result = resolveApprovalPolicy(
      [vm("web-01", "alice@contoso.com;bob@contoso.com")],
      alice,
      EMPTY_RULES,
    );
    expect(result.ok && result.policy.approvers).toEqual(["bob@contoso.com"]);
  });

  it("the requester matched by object id when the tag lists ids", () => {
    const result = resolveApprovalPolicy(
      [vm("web-01", `${alice.id};bob@contoso.com`)],
      { id: alice.id },
      EMPTY_RULES,
    );
    expect(result.ok && result.policy.approvers).toEqual(["bob@contoso.com"]);
  });

  it("requester is the only approver → refused, saying a second approver is needed", () => {
    const result = resolveApprovalPolicy([vm("web-01", "alice@contoso.com")], alice, EMPTY_RULES);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain("You are the only approver of web-01");
  });

  it("no tag and no rule approvers → refused, saying how to add one", () => {
    const result = resolveApprovalPolicy([vm("jump-01", undefined)], sam, EMPTY_RULES);
    expect(!result.ok && result.message).toContain("Nobody is listed to approve access to jump-01");
  });

  it("2-of-2 with the requester one of them → 1 needed, and the note says why", () => {
    const twoOfTwo = rules({ defaults: { requiredApprovals: 2 } });
    const result = resolveApprovalPolicy(
      [vm("db-01", "frank@contoso.com;grace@contoso.com")],
      { id: "f", upn: "frank@contoso.com" },
      twoOfTwo,
    );
    expect(result.ok && result.policy).toMatchObject({
      approvers: ["grace@contoso.com"],
      requiredApprovals: 1,
      configuredApprovals: 2,
    });
    expect(result.ok && result.policy.note).toBe(
      "db-01 needs 2 approvals, but you are one of its 2 approvers and cannot approve your own request, so the approval of grace@contoso.com is needed.",
    );
  });

  it("N larger than the approvers listed → all of them, said in the note", () => {
    const three = rules({ defaults: { requiredApprovals: 3 } });
    const result = resolveApprovalPolicy([vm("db-01", "frank@contoso.com;grace@contoso.com")], sam, three);
    expect(result.ok && result.policy.requiredApprovals).toBe(2);
    expect(result.ok && result.policy.note).toContain("only 2 approvers are listed");
  });

  it("scopes layer: defaults < subscription < resource group; approvers add up", () => {
    const layered = rules({
      defaults: { approvers: ["sec@contoso.com"], maxDuration: "PT8H", requireReason: false },
      scopes: [
        { resourceGroup: "RG-DATA", requiredApprovals: 2, requireReason: true, maxDuration: "4h" },
        { subscription: SUB.toUpperCase(), requiredApprovals: 3, approvalTimeout: "30m" },
      ],
    });
    const data = resolveApprovalPolicy([vm("db-01", "frank@contoso.com", "rg-data")], sam, layered);
    expect(data.ok && data.policy).toMatchObject({
      approvers: ["frank@contoso.com", "sec@contoso.com"],
      requiredApprovals: 2,
      requireReason: true,
      maxDurationMs: 4 * H,
      approvalTimeoutMs: 30 * 60_000,
    });
    const web = resolveApprovalPolicy([vm("web-01", "alice@contoso.com")], sam, layered);
    expect(web.ok && web.policy).toMatchObject({
      requiredApprovals: 2,
      requireReason: false,
      maxDurationMs: 8 * H,
    });
  });

  it("several VMs → only approvers of all of them, the largest N, the tightest limits", () => {
    const result = resolveApprovalPolicy(
      [
        vm("web-01", "alice@contoso.com;bob@contoso.com"),
        vm("web-02", "alice@contoso.com,carol@contoso.com"),
      ],
      sam,
      EMPTY_RULES,
    );
    expect(result.ok && result.policy.approvers).toEqual(["alice@contoso.com"]);
  });

  it("several VMs with no common approver → refused, asking for separate requests", () => {
    const result = resolveApprovalPolicy(
      [vm("web-01", "bob@contoso.com"), vm("app-01", "dave@contoso.com")],
      sam,
      EMPTY_RULES,
    );
    expect(!result.ok && result.message).toContain("ask for them in separate requests");
  });
});

describe("the rules file", () => {
  it("env/rules.json is valid and matches the simulated fleet", () => {
    const json: unknown = JSON.parse(readFileSync(new URL("../../env/rules.json", import.meta.url), "utf8"));
    const parsed = parseApprovalRules(json, "env/rules.json");
    expect(parsed.ok, parsed.ok ? "" : parsed.message).toBe(true);
    if (!parsed.ok) return;
    const db01 = resolveApprovalPolicy(
      [vm("db-01", "frank@contoso.com;grace@contoso.com", "rg-data")],
      sam,
      parsed.rules,
    );
    expect(db01.ok && db01.policy).toMatchObject({ requiredApprovals: 2, requireReason: true });
    const jump01 = resolveApprovalPolicy([vm("jump-01", undefined, "rg-data")], sam, parsed.rules);
    expect(jump01.ok && jump01.policy.approvers).toEqual(["heidi@contoso.com"]);
    const web01 = resolveApprovalPolicy(
      [vm("web-01", "alice@contoso.com;bob@contoso.com")],
      sam,
      parsed.rules,
    );
    expect(web01.ok && web01.policy).toMatchObject({
      requiredApprovals: 1,
      requireReason: false,
      maxDurationMs: 8 * H,
    });
    expect(breakGlassRoster(vm("web-01", undefined), parsed.rules).users).toEqual(["olive@contoso.com"]);
  });

  it.each([
    [{ defaults: { maxDuration: "PT25H" } }, "defaults.maxDuration"],
    [{ defaults: { maxDuration: "2hrs" } }, "I don't know the unit 'hrs'"],
    [{ defaults: { requiredApprovals: 0 } }, "defaults.requiredApprovals"],
    [{ defaults: { approvers: ["web-team"] } }, "defaults.approvers.0: must be a UPN"],
    [{ scopes: [{ requiredApprovals: 2 }] }, "a scope needs `subscription`, `resourceGroup` or both"],
    [{ defaults: { requiredApprovals: 1, typo: true } }, "Unrecognized key"],
    ["not an object", "(top level)"],
  ])("%j → refused, naming %s", (json, fragment) => {
    const parsed = parseApprovalRules(json, "env/rules.json");
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.message).toContain(fragment);
    expect(!parsed.ok && parsed.message).toContain("env/rules.json is not valid");
  });
});
