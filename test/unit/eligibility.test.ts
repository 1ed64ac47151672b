import { describe, expect, it } from "vitest";
import { classifyJit, type EligibilityFacts } from "../../src/domain/eligibility.ts";
import type { VmPolicy } from "../../src/domain/vm.ts";

const bare: EligibilityFacts = { vmName: "web-01", classic: false, nicNsgs: [], subnetNsgs: [] };

const policy: VmPolicy = {
  policyId:
    "/subscriptions/s/resourceGroups/rg-web/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default",
  policyName: "default",
  resourceGroup: "rg-web",
  location: "westeurope",
  rules: [
    { number: 22, protocol: "*", allowedSourceAddressPrefixes: ["*"], maxRequestAccessDuration: "PT3H" },
  ],
  requests: [],
};

describe("JIT eligibility", () => {
  it("listed in a policy → configured, carrying the policy", () => {
    expect(classifyJit({ ...bare, nicNsgs: ["nsg-web"] }, policy)).toEqual({ kind: "configured", policy });
  });

  it("listed in a policy wins over anything else the network says", () => {
    const facts: EligibilityFacts = { ...bare, firewall: { name: "afw", managedBy: "firewall_policy" } };
    expect(classifyJit(facts, policy).kind).toBe("configured");
  });

  it("NSG on the NIC, no policy → not configured, naming the NSG", () => {
    const state = classifyJit({ ...bare, nicNsgs: ["nsg-web"] }, undefined);
    expect(state).toEqual({
      kind: "not_configured",
      reason: expect.stringContaining("nsg-web on its network interface"),
    });
  });

  it("NSG on the subnet only, no policy → not configured", () => {
    const state = classifyJit({ ...bare, subnetNsgs: ["nsg-snet-data"] }, undefined);
    expect(state.kind).toBe("not_configured");
    expect(state.kind !== "configured" && state.reason).toContain("nsg-snet-data on its subnet");
  });

  it("behind a classic-rules Azure Firewall without NSG, no policy → not configured", () => {
    const state = classifyJit(
      { ...bare, firewall: { name: "afw-weu", managedBy: "classic_rules" } },
      undefined,
    );
    expect(state.kind).toBe("not_configured");
    expect(state.kind !== "configured" && state.reason).toContain("afw-weu (classic rules)");
  });

  it("behind a Firewall-Policy-managed firewall → unsupported, even with an NSG", () => {
    const state = classifyJit(
      { ...bare, nicNsgs: ["nsg-hub-app"], firewall: { name: "afw-neu", managedBy: "firewall_policy" } },
      undefined,
    );
    expect(state.kind).toBe("unsupported");
    expect(state.kind !== "configured" && state.reason).toMatch(/afw-neu.*Firewall Policy/);
  });

  it("classic VM → unsupported, saying why", () => {
    const state = classifyJit({ ...bare, vmName: "legacy-01", classic: true }, undefined);
    expect(state.kind).toBe("unsupported");
    expect(state.kind !== "configured" && state.reason).toMatch(/^legacy-01 is a classic/);
  });

  it("JIT switched off by policy → unsupported", () => {
    const state = classifyJit(
      { ...bare, nicNsgs: ["n"], jitDisabledBy: "the Azure Policy 'no-jit'" },
      undefined,
    );
    expect(state.kind).toBe("unsupported");
    expect(state.kind !== "configured" && state.reason).toContain("the Azure Policy 'no-jit'");
  });

  it("no NSG and no firewall → unsupported", () => {
    const state = classifyJit({ ...bare, vmName: "legacy-02" }, undefined);
    expect(state.kind).toBe("unsupported");
    expect(state.kind !== "configured" && state.reason).toMatch(/legacy-02 has no network security group/);
  });

  it("network not readable and nothing else known → unsupported with that reason", () => {
    const state = classifyJit({ ...bare, networkUnreadable: "its NIC is elsewhere" }, undefined);
    expect(state.kind !== "configured" && state.reason).toContain("its NIC is elsewhere");
  });

  it("every reason is one sentence ending with a full stop", () => {
    const cases: EligibilityFacts[] = [
      { ...bare, classic: true },
      { ...bare, nicNsgs: ["a"], subnetNsgs: ["b"] },
      { ...bare, firewall: { name: "f", managedBy: "classic_rules" } },
      { ...bare, firewall: { name: "f", managedBy: "firewall_policy" } },
      bare,
    ];
    for (const facts of cases) {
      const state = classifyJit(facts, undefined);
      if (state.kind === "configured") throw new Error("unexpected");
      expect(state.reason).toMatch(/^[^\n]+\.$/);
    }
  });
});
