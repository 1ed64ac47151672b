import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type ApprovalRules,
  type ApprovalSubject,
  approvalFacts,
  approversFromTags,
  breakGlassRoster,
  EMPTY_RULES,
  eligibleApprovers,
  parseApprovalRules,
  requiredApprovalsFor,
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

  it("2-of-2 with the requester one of them → refused, not lowered to 1, saying why and who can fix it", () => {
    const twoOfTwo = rules({ defaults: { requiredApprovals: 2 } });
    const result = resolveApprovalPolicy(
      [vm("db-01", "frank@contoso.com;grace@contoso.com")],
      { id: "f", upn: "frank@contoso.com" },
      twoOfTwo,
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.code).toBe("too_few_approvers");
    expect(!result.ok && result.message).toBe(
      "db-01 needs 2 approvals (the rules' defaults), but you are one of its 2 approvers and nobody approves their own request, so only 1 can approve yours (grace@contoso.com). I won't ask for fewer approvals than the rules require. To fix it, a VM owner adds approvers to db-01's `jit-approvers` tag (UPNs separated by ;), or a Portcullis admin (ADMINS) adds approvers for it in the approval rules file (RULES_FILE).",
    );
  });

  it("N larger than the approvers listed → refused for everyone, naming the rule that sets N", () => {
    const three = rules({ scopes: [{ resourceGroup: "rg-web", requiredApprovals: 3 }] });
    const result = resolveApprovalPolicy([vm("db-01", "frank@contoso.com;grace@contoso.com")], sam, three);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain(
      "db-01 needs 3 approvals (the rules for resource group rg-web), but only 2 approvers are listed (frank@contoso.com, grace@contoso.com).",
    );
    expect(!result.ok && result.message).toContain("`jit-approvers` tag");
    expect(!result.ok && result.message).toContain("Portcullis admin (ADMINS)");
  });

  it("N exactly met once the requester is removed → N stays as the rules say", () => {
    const two = rules({ defaults: { requiredApprovals: 2 } });
    const result = resolveApprovalPolicy(
      [vm("db-01", "frank@contoso.com;grace@contoso.com;heidi@contoso.com")],
      { id: "f", upn: "frank@contoso.com" },
      two,
    );
    expect(result.ok && result.policy).toMatchObject({
      approvers: ["grace@contoso.com", "heidi@contoso.com"],
      requiredApprovals: 2,
    });
  });

  it("several VMs → the strictest N applies to the approvers they share; too few → refused", () => {
    const layered = rules({ scopes: [{ resourceGroup: "rg-data", requiredApprovals: 2 }] });
    const result = resolveApprovalPolicy(
      [vm("web-01", "alice@contoso.com;bob@contoso.com"), vm("db-01", "alice@contoso.com", "rg-data")],
      sam,
      layered,
    );
    expect(!result.ok && result.message).toContain(
      "web-01, db-01 need 2 approvals (the rules for resource group rg-data), but only 1 approver is listed (alice@contoso.com).",
    );
  });

  it("who may click and who reviews break-glass → everyone eligible, even when too few for N", () => {
    const two = rules({ defaults: { requiredApprovals: 2 } });
    const subjects = [vm("db-01", "frank@contoso.com;grace@contoso.com")];
    expect(eligibleApprovers(subjects, { id: "f", upn: "frank@contoso.com" }, two)).toEqual([
      "grace@contoso.com",
    ]);
    expect(requiredApprovalsFor(subjects, two)).toBe(2);
    expect(requiredApprovalsFor(subjects, EMPTY_RULES)).toBe(1);
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
    const web = resolveApprovalPolicy([vm("web-01", "alice@contoso.com;bob@contoso.com")], sam, layered);
    expect(web.ok && web.policy).toMatchObject({
      requiredApprovals: 3,
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

describe("what `policy <vm>` says about approval", () => {
  const layered = rules({
    defaults: { approvers: ["sec@contoso.com"] },
    scopes: [
      {
        resourceGroup: "rg-data",
        approvers: ["heidi@contoso.com"],
        requiredApprovals: 2,
        requireReason: true,
      },
    ],
  });

  it("approvers from the tag and every rules layer, with where each is listed; N and the reason rule with their source", () => {
    expect(
      approvalFacts(vm("db-01", "frank@contoso.com;heidi@contoso.com;web-team", "rg-data"), layered),
    ).toEqual({
      approvers: [
        { principal: "frank@contoso.com", from: ["the VM's `jit-approvers` tag"] },
        {
          principal: "heidi@contoso.com",
          from: ["the VM's `jit-approvers` tag", "the rules for resource group rg-data"],
        },
        { principal: "sec@contoso.com", from: ["the rules' defaults"] },
      ],
      requiredApprovals: 2,
      requiredFrom: "the rules for resource group rg-data",
      requireReason: true,
      requireReasonFrom: "the rules for resource group rg-data",
      approvalTimeoutMs: H,
      maxDurationMs: 24 * H,
      ignoredEntries: ["web-team"],
    });
  });

  it("fewer listed than N → shortfall for everyone; exactly N → an approver asking for themselves falls short", () => {
    expect(approvalFacts(vm("db-01", "frank@contoso.com", "rg-data"), layered).shortfall).toBeUndefined();
    const strict = rules({
      scopes: [{ resourceGroup: "rg-data", approvers: ["heidi@contoso.com"], requiredApprovals: 2 }],
    });
    expect(approvalFacts(vm("jump-01", undefined, "rg-data"), strict).shortfall).toBe("everyone");
    expect(approvalFacts(vm("ops-01", "grace@contoso.com", "rg-data"), strict).shortfall).toBe("approvers");
    expect(approvalFacts(vm("web-01", "alice@contoso.com"), EMPTY_RULES)).toMatchObject({
      requiredApprovals: 1,
      requiredFrom: "the built-in default",
      requireReason: false,
      shortfall: "approvers",
    });
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
    // jump-01 has no tag: only heidi (from the rules) is listed, and rg-data needs 2 → refused, never 1.
    const jump01 = resolveApprovalPolicy([vm("jump-01", undefined, "rg-data")], sam, parsed.rules);
    expect(!jump01.ok && jump01.message).toContain(
      "jump-01 needs 2 approvals (the rules for resource group rg-data), but only 1 approver is listed (heidi@contoso.com).",
    );
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
