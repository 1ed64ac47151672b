import { describe, expect, it } from "vitest";
import { type CheckInput, checkRequest } from "../../src/domain/request-check.ts";
import { EMPTY_RULES, parseApprovalRules } from "../../src/domain/rules.ts";
import type { PortRule, VmWithJit } from "../../src/domain/vm.ts";

const H = 3_600_000;
const M = 60_000;
const SUB = "00000000-0000-4000-8000-00000000c0de";
const sam = { id: "id-sam", upn: "sam@contoso.com" };

function vm(
  name: string,
  rules: readonly PortRule[] | { kind: "not_configured" | "unsupported"; reason: string },
  extra: Partial<VmWithJit> = {},
): VmWithJit {
  const ref = {
    subscriptionId: SUB,
    resourceGroup: "rg-web",
    name,
    id: `/subscriptions/${SUB}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/${name}`,
  };
  return {
    ref,
    location: "westeurope",
    osType: "Linux",
    powerState: "running",
    tags: { "jit-approvers": "alice@contoso.com;bob@contoso.com" },
    connectAddress: "198.51.100.11",
    jit: Array.isArray(rules)
      ? {
          kind: "configured",
          policy: {
            policyId: "p",
            policyName: "default",
            resourceGroup: "rg-web",
            location: "westeurope",
            rules,
            requests: [],
          },
        }
      : (rules as { kind: "not_configured" | "unsupported"; reason: string }),
    ...extra,
  };
}

const ssh = (allowed: string[] = ["*"], max = "PT3H"): PortRule => ({
  number: 22,
  protocol: "TCP",
  allowedSourceAddressPrefixes: allowed,
  maxRequestAccessDuration: max,
});

function input(overrides: Partial<CheckInput> = {}): CheckInput {
  return { vms: [vm("web-01", [ssh()])], ports: [22], requester: sam, rules: EMPTY_RULES, ...overrides };
}

describe("checks before anyone is asked", () => {
  it("a plain `ssh web-01` → default duration 1 h, one target, approvers from the tag", () => {
    const result = checkRequest(input());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.request.durationMs).toBe(H);
    expect(result.request.maxDurationMs).toBe(3 * H);
    expect(result.request.source).toBeUndefined();
    expect(result.request.approval.approvers).toEqual(["alice@contoso.com", "bob@contoso.com"]);
    expect(result.request.targets).toEqual([
      {
        vmId: `/subscriptions/${SUB}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01`,
        vmName: "web-01",
        resourceGroup: "rg-web",
        location: "westeurope",
        policyName: "default",
        ports: [22],
        osType: "Linux",
        connectAddress: "198.51.100.11",
      },
    ]);
  });

  it("policy max below 1 h → the default is the policy max", () => {
    const result = checkRequest(input({ vms: [vm("web-02", [ssh(["*"], "PT30M")])] }));
    expect(result.ok && result.request.durationMs).toBe(30 * M);
  });

  it("duration over the rule's max → refused, naming the maximum", () => {
    const result = checkRequest(input({ vms: [vm("web-02", [ssh(["*"], "PT1H")])], durationMs: 2 * H }));
    expect(!result.ok && result.message).toBe(
      "2 h is too long: web-02's JIT rule for port 22 allows at most 1 h. Ask for 1 h or less.",
    );
  });

  it("duration over the rules file cap → refused, naming it", () => {
    const rules = parseApprovalRules({ defaults: { maxDuration: "PT2H" } });
    if (!rules.ok) throw new Error(rules.message);
    const result = checkRequest(
      input({ vms: [vm("web-01", [ssh(["*"], "P1D")])], durationMs: 3 * H, rules: rules.rules }),
    );
    expect(!result.ok && result.message).toContain("the approval rules allow at most 2 h");
  });

  it("more than 24 h → refused by Azure's ceiling", () => {
    const result = checkRequest(input({ vms: [vm("web-01", [ssh(["*"], "P2D")])], durationMs: 25 * H }));
    expect(!result.ok && result.message).toContain("Azure JIT allows at most 24 h");
  });

  it("under 5 minutes → refused", () => {
    expect(checkRequest(input({ durationMs: M })).ok).toBe(false);
  });

  it("a VM that is not configured → refused with the eligibility reason", () => {
    const result = checkRequest(
      input({ vms: [vm("db-01", { kind: "not_configured", reason: "it has an NSG but no JIT policy." })] }),
    );
    expect(!result.ok && result.problems[0]).toEqual({
      code: "not_configured",
      message: "db-01 is not configured for JIT: it has an NSG but no JIT policy.",
    });
  });

  it("a port the policy does not cover → refused, listing the covered ports", () => {
    const result = checkRequest(input({ ports: [5432] }));
    expect(!result.ok && result.message).toBe("web-01's JIT policy covers port 22, not 5432.");
  });

  it("reason required by the rules and missing → refused", () => {
    const rules = parseApprovalRules({ defaults: { requireReason: true } });
    if (!rules.ok) throw new Error(rules.message);
    const result = checkRequest(input({ rules: rules.rules }));
    expect(!result.ok && result.problems.map((p) => p.code)).toEqual(["reason_required"]);
    expect(checkRequest(input({ rules: rules.rules, reason: "INC-1" })).ok).toBe(true);
  });

  it("typed source → canonical and checked against every rule", () => {
    const result = checkRequest(
      input({ vms: [vm("web-02", [ssh(["203.0.113.0/24"])])], source: { text: "203.0.113.7/32" } }),
    );
    expect(result.ok && result.request.source).toEqual({ prefix: "203.0.113.7", origin: "typed" });
    const outside = checkRequest(
      input({ vms: [vm("web-02", [ssh(["203.0.113.0/24"])])], source: { text: "8.8.8.8" } }),
    );
    expect(!outside.ok && outside.message).toBe("8.8.8.8 is not within the allowed sources 203.0.113.0/24.");
  });

  it("several VMs: the source must pass each VM's rule, and the answer says which failed", () => {
    const result = checkRequest(
      input({
        vms: [
          vm("web-01", [ssh(["*"])]),
          vm("web-02", [ssh(["203.0.113.0/24"])], { tags: { "jit-approvers": "alice@contoso.com" } }),
        ],
        source: { text: "8.8.8.8" },
      }),
    );
    expect(!result.ok && result.message).toBe(
      "web-02 port 22: 8.8.8.8 is not within the allowed sources 203.0.113.0/24.",
    );
  });

  it("requester is the only approver → refused before anyone is asked", () => {
    const result = checkRequest(
      input({
        requester: { id: "id-alice", upn: "alice@contoso.com" },
        vms: [vm("web-01", [ssh()], { tags: { "jit-approvers": "alice@contoso.com" } })],
      }),
    );
    expect(!result.ok && result.problems[0]?.code).toBe("no_approver");
  });

  it("rules need 2 approvals, one approver left once the requester is removed → refused, never 1 approval", () => {
    const twoApprovals = parseApprovalRules({ defaults: { requiredApprovals: 2 } });
    if (!twoApprovals.ok) throw new Error(twoApprovals.message);
    const result = checkRequest(
      input({
        requester: { id: "id-alice", upn: "alice@contoso.com" },
        rules: twoApprovals.rules,
      }),
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([expect.objectContaining({ code: "too_few_approvers" })]);
    expect(!result.ok && result.message).toContain(
      "web-01 needs 2 approvals (the rules' defaults), but you are one of its 2 approvers and nobody approves their own request, so only 1 can approve yours (bob@contoso.com).",
    );
    expect(!result.ok && result.message).toContain("`jit-approvers` tag");
    // With a third approver the rules can be met, and N stays 2.
    const three = checkRequest(
      input({
        requester: { id: "id-alice", upn: "alice@contoso.com" },
        rules: twoApprovals.rules,
        vms: [
          vm("web-01", [ssh()], {
            tags: { "jit-approvers": "alice@contoso.com;bob@contoso.com;carol@contoso.com" },
          }),
        ],
      }),
    );
    expect(three.ok && three.request.approval.requiredApprovals).toBe(2);
  });

  it("several problems → all of them, one per line", () => {
    const result = checkRequest(input({ ports: [5432], durationMs: 48 * H }));
    expect(!result.ok && result.problems.length).toBe(2);
    expect(!result.ok && result.message.split("\n")).toHaveLength(2);
  });

  it("firewall-fronted VM → connects via the firewall; the mapped port is not known before the grant", () => {
    const fronted = vm("sftp-01", [ssh()]);
    const withFirewall: VmWithJit =
      fronted.jit.kind === "configured"
        ? {
            ...fronted,
            jit: { ...fronted.jit, policy: { ...fronted.jit.policy, publicIpAddress: "203.0.113.10" } },
          }
        : fronted;
    const result = checkRequest(input({ vms: [withFirewall] }));
    expect(result.ok && result.request.targets[0]).toMatchObject({
      connectAddress: "203.0.113.10",
      viaFirewall: true,
    });
  });
});
