/** What the bot knows about a VM and its JIT policy. Plain data, no Azure SDK types. */

export type OsType = "Linux" | "Windows";

/** Resource group + name identify a VM inside the configured subscription. */
export interface VmRef {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  /** The full ARM id as Azure spells it. Compare case-insensitively (see vmIdEquals). */
  readonly id: string;
}

export interface PortRule {
  readonly number: number;
  /** "TCP" | "UDP" | "*" */
  readonly protocol: string;
  /** Either one prefix ("*", "203.0.113.0/24", "Internet") or a list; never both empty. */
  readonly allowedSourceAddressPrefixes: readonly string[];
  /** ISO 8601 duration as Azure stores it, e.g. "PT3H". */
  readonly maxRequestAccessDuration: string;
}

export type PortRequestStatus = "Initiated" | "Revoked" | (string & {});

export interface JitRequestPort {
  readonly number: number;
  readonly allowedSourceAddressPrefix: string;
  readonly endTimeUtc: Date;
  readonly status: PortRequestStatus;
  readonly statusReason?: string;
  /** VMs behind Azure Firewall: the firewall port that forwards to `number` for this request (spec: request ports only). */
  readonly mappedPort?: number;
}

/** One entry of a policy's `requests` history, narrowed to one VM. */
export interface JitRequestRecord {
  readonly vmId: string;
  readonly startTimeUtc: Date;
  readonly requestor: string;
  readonly justification?: string;
  readonly ports: readonly JitRequestPort[];
}

/** The policy that covers a VM: where it lives (needed to initiate) and the VM's rules. */
export interface VmPolicy {
  readonly policyId: string;
  readonly policyName: string;
  readonly resourceGroup: string;
  readonly location: string;
  readonly rules: readonly PortRule[];
  /** Firewall-fronted VMs: the address users connect to. */
  readonly publicIpAddress?: string;
  readonly requests: readonly JitRequestRecord[];
}

export type JitState =
  | { readonly kind: "configured"; readonly policy: VmPolicy }
  | { readonly kind: "not_configured"; readonly reason: string }
  | { readonly kind: "unsupported"; readonly reason: string };

export interface Vm {
  readonly ref: VmRef;
  readonly location: string;
  readonly osType: OsType | "Unknown";
  readonly powerState: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Public or private address a user would connect to, when one is known. */
  readonly connectAddress?: string;
}

export interface VmWithJit extends Vm {
  readonly jit: JitState;
}

/** An inbound Allow rule on an NSG that filters a VM: what JIT's initiate adds and expiry removes. */
export interface NsgAllowRule {
  readonly nsgName: string;
  readonly name: string;
  readonly priority: number;
  /** "22", "3389", "1000-2000", "*". */
  readonly destinationPorts: readonly string[];
  /** "203.0.113.7", "203.0.113.0/24", "*", service tags. */
  readonly sourcePrefixes: readonly string[];
}

/** ARM ids are case-insensitive; Azure itself returns them in mixed case. */
export function vmIdEquals(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Parses `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}`. */
export function parseVmId(id: string): VmRef | undefined {
  const match =
    /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachines\/([^/]+)$/i.exec(
      id,
    );
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { subscriptionId: match[1], resourceGroup: match[2], name: match[3], id };
}
