/**
 * Can JIT protect this VM, and if not, why? A pure rule over plain facts that azure/ gathers
 * from ARM (VM, NICs, subnets, route tables, firewalls, policies).
 *
 * Follows Defender for Cloud's own split: Configured (listed in a JIT policy), Not configured
 * (JIT could be enabled: ARM VM with an NSG on its NIC or subnet, or behind an Azure Firewall
 * with classic rules), Unsupported (everything else), always with a reason sentence.
 */
import type { JitState, VmPolicy } from "./vm.ts";

export interface FirewallFact {
  readonly name: string;
  /** "classic_rules": rules on the firewall itself; "firewall_policy": managed by a Firewall Policy / Firewall Manager. */
  readonly managedBy: "classic_rules" | "firewall_policy";
}

export interface EligibilityFacts {
  readonly vmName: string;
  /** Azure Service Manager (Microsoft.ClassicCompute) VM. */
  readonly classic: boolean;
  /** NSGs attached to the VM's network interfaces. */
  readonly nicNsgs: readonly string[];
  /** NSGs attached to the subnets those interfaces sit in. */
  readonly subnetNsgs: readonly string[];
  /** The Azure Firewall the VM's subnet routes through, if any. */
  readonly firewall?: FirewallFact;
  /** Why JIT is switched off for this VM by an Azure Policy / tag, when that is known. */
  readonly jitDisabledBy?: string;
  /** Set when the network facts could not be read (e.g. the NIC is in another subscription). */
  readonly networkUnreadable?: string;
}

function nsgPhrase(facts: EligibilityFacts): string {
  const parts: string[] = [];
  if (facts.nicNsgs.length > 0) parts.push(`${facts.nicNsgs.join(", ")} on its network interface`);
  if (facts.subnetNsgs.length > 0) parts.push(`${facts.subnetNsgs.join(", ")} on its subnet`);
  return parts.join(" and ");
}

/** The JIT state of one VM. A VM listed in a policy is configured whatever else is true. */
export function classifyJit(facts: EligibilityFacts, policy: VmPolicy | undefined): JitState {
  const vm = facts.vmName;
  if (policy) return { kind: "configured", policy };
  if (facts.classic) {
    return {
      kind: "unsupported",
      reason: `${vm} is a classic (Azure Service Manager) VM; JIT works only for Azure Resource Manager VMs, so it has to be migrated first.`,
    };
  }
  if (facts.jitDisabledBy) {
    return {
      kind: "unsupported",
      reason: `JIT is switched off for ${vm} by ${facts.jitDisabledBy}; an admin has to lift that before it can be enabled.`,
    };
  }
  if (facts.firewall?.managedBy === "firewall_policy") {
    return {
      kind: "unsupported",
      reason: `${vm} sits behind Azure Firewall ${facts.firewall.name}, which is managed by a Firewall Policy; JIT supports only firewalls with classic rules.`,
    };
  }
  if (facts.nicNsgs.length > 0 || facts.subnetNsgs.length > 0) {
    return {
      kind: "not_configured",
      reason: `${vm} has a network security group (${nsgPhrase(facts)}) but no JIT policy; an admin can enable JIT for it in Defender for Cloud.`,
    };
  }
  if (facts.firewall) {
    return {
      kind: "not_configured",
      reason: `${vm} sits behind Azure Firewall ${facts.firewall.name} (classic rules) but has no JIT policy; an admin can enable JIT for it in Defender for Cloud.`,
    };
  }
  if (facts.networkUnreadable) {
    return {
      kind: "unsupported",
      reason: `I could not read ${vm}'s network setup (${facts.networkUnreadable}), so I cannot tell whether JIT can protect it.`,
    };
  }
  return {
    kind: "unsupported",
    reason: `${vm} has no network security group on its network interface or subnet and no Azure Firewall in front of it, so JIT has nothing to open and close.`,
  };
}
