/**
 * SDK (or raw ARM JSON) shapes → the plain types in domain/vm.ts.
 *
 * Inputs are typed loosely on purpose: the same functions parse what @azure/arm-security
 * deserialised (Dates, known fields) and the raw JSON of the official examples (ISO strings),
 * and they must survive values outside the spec's enums (the initiate example answers
 * `"status": "Initiating"`).
 */
import type { JitRequestPort, JitRequestRecord, PortRule, VmPolicy, VmRef } from "../domain/vm.ts";
import { parseVmId } from "../domain/vm.ts";

type DateLike = Date | string;

export interface WirePortRule {
  readonly number: number;
  readonly protocol?: string;
  readonly allowedSourceAddressPrefix?: string;
  readonly allowedSourceAddressPrefixes?: readonly string[];
  readonly maxRequestAccessDuration?: string;
}

export interface WirePolicyVm {
  readonly id: string;
  readonly ports?: readonly WirePortRule[];
  readonly publicIpAddress?: string;
}

export interface WireRequestPort {
  readonly number: number;
  readonly allowedSourceAddressPrefix?: string;
  readonly allowedSourceAddressPrefixes?: readonly string[];
  readonly endTimeUtc: DateLike;
  readonly status?: string;
  readonly statusReason?: string;
  readonly mappedPort?: number;
}

export interface WireRequest {
  readonly virtualMachines?: readonly { readonly id: string; readonly ports?: readonly WireRequestPort[] }[];
  readonly startTimeUtc: DateLike;
  readonly requestor?: string;
  readonly justification?: string;
}

/** The SDK flattens `properties`; raw ARM JSON keeps them nested. Both are accepted. */
export interface WirePolicy {
  readonly id?: string;
  readonly name?: string;
  readonly location?: string;
  readonly virtualMachines?: readonly WirePolicyVm[];
  readonly requests?: readonly WireRequest[];
  readonly properties?: {
    readonly virtualMachines?: readonly WirePolicyVm[];
    readonly requests?: readonly WireRequest[];
  };
}

export function parseDate(value: DateLike, field: string): Date {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new TypeError(`${field} is not a date: ${String(value)}`);
  return date;
}

/**
 * Same VM? ARM ids are case-insensitive, and Azure has been seen answering with another
 * subscription id than the one asked about (the initiate example), so fall back on
 * resource group + VM name.
 */
export function sameVm(a: string, b: string): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  const left = parseVmId(a);
  const right = parseVmId(b);
  if (!left || !right) return false;
  return (
    left.resourceGroup.toLowerCase() === right.resourceGroup.toLowerCase() &&
    left.name.toLowerCase() === right.name.toLowerCase()
  );
}

function prefixesOf(value: {
  readonly allowedSourceAddressPrefix?: string | undefined;
  readonly allowedSourceAddressPrefixes?: readonly string[] | undefined;
}): string[] {
  const list = [...(value.allowedSourceAddressPrefixes ?? [])];
  if (value.allowedSourceAddressPrefix && !list.includes(value.allowedSourceAddressPrefix)) {
    list.unshift(value.allowedSourceAddressPrefix);
  }
  return list.filter((prefix) => prefix.length > 0);
}

export function toPortRule(rule: WirePortRule): PortRule {
  const prefixes = prefixesOf(rule);
  return {
    number: rule.number,
    protocol: rule.protocol ?? "*",
    // The spec says one of the two is set; an empty rule means "any source" in the portal.
    allowedSourceAddressPrefixes: prefixes.length > 0 ? prefixes : ["*"],
    // No mappedPort here: the spec has it on request ports only (toRequestPort), never on a rule.
    maxRequestAccessDuration: rule.maxRequestAccessDuration ?? "PT3H",
  };
}

export function toRequestPort(port: WireRequestPort): JitRequestPort {
  return {
    number: port.number,
    allowedSourceAddressPrefix: prefixesOf(port).join(","),
    endTimeUtc: parseDate(port.endTimeUtc, "endTimeUtc"),
    // Unknown strings ("Initiating") pass through untouched; callers compare against known ones.
    status: port.status ?? "Unknown",
    ...(port.statusReason === undefined ? {} : { statusReason: port.statusReason }),
    ...(port.mappedPort === undefined ? {} : { mappedPort: port.mappedPort }),
  };
}

/** One JitRequestRecord per VM in the request; `onlyVmId` narrows to one VM. */
export function toRequestRecords(request: WireRequest, onlyVmId?: string): JitRequestRecord[] {
  const startTimeUtc = parseDate(request.startTimeUtc, "startTimeUtc");
  return (request.virtualMachines ?? [])
    .filter((vm) => onlyVmId === undefined || sameVm(vm.id, onlyVmId))
    .map((vm) => ({
      vmId: vm.id,
      startTimeUtc,
      requestor: request.requestor ?? "",
      ...(request.justification === undefined ? {} : { justification: request.justification }),
      ports: (vm.ports ?? []).map(toRequestPort),
    }));
}

/** `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/locations/loc/jitNetworkAccessPolicies/name`. */
export function parsePolicyId(
  id: string,
): { readonly resourceGroup: string; readonly location: string; readonly name: string } | undefined {
  const match =
    /\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Security\/locations\/([^/]+)\/jitNetworkAccessPolicies\/([^/]+)$/i.exec(
      id,
    );
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { resourceGroup: match[1], location: match[2], name: match[3] };
}

export function policyVms(policy: WirePolicy): readonly WirePolicyVm[] {
  return policy.virtualMachines ?? policy.properties?.virtualMachines ?? [];
}

function policyRequests(policy: WirePolicy): readonly WireRequest[] {
  return policy.requests ?? policy.properties?.requests ?? [];
}

/** The policy narrowed to one VM, or undefined when the VM is not listed in it. */
export function toVmPolicy(policy: WirePolicy, vmId: string): VmPolicy | undefined {
  const vm = policyVms(policy).find((candidate) => sameVm(candidate.id, vmId));
  if (!vm) return undefined;
  const where = parsePolicyId(policy.id ?? "");
  const requests = policyRequests(policy)
    .flatMap((request) => toRequestRecords(request, vmId))
    // Newest first: that is what "status" and "audit" show, and what supersedes older ones.
    .sort((a, b) => b.startTimeUtc.getTime() - a.startTimeUtc.getTime());
  return {
    policyId: policy.id ?? "",
    policyName: policy.name ?? where?.name ?? "default",
    resourceGroup: where?.resourceGroup ?? parseVmId(vm.id)?.resourceGroup ?? "",
    location: policy.location ?? where?.location ?? "",
    rules: (vm.ports ?? []).map(toPortRule),
    ...(vm.publicIpAddress ? { publicIpAddress: vm.publicIpAddress } : {}),
    requests,
  };
}

/** Compute's `PowerState/running` → "running"; anything else → "unknown". */
export function powerStateOf(statuses: readonly { readonly code?: string }[] | undefined): string {
  const code = statuses?.find((status) => status.code?.toLowerCase().startsWith("powerstate/"))?.code;
  return code ? code.slice("PowerState/".length) : "unknown";
}

export function osTypeOf(value: string | undefined): "Linux" | "Windows" | "Unknown" {
  const lower = value?.toLowerCase();
  if (lower === "linux") return "Linux";
  if (lower === "windows") return "Windows";
  return "Unknown";
}

/** A VmRef for an id; falls back on splitting by hand for non-Compute ids (classic VMs). */
export function vmRefOf(id: string): VmRef | undefined {
  const parsed = parseVmId(id);
  if (parsed) return parsed;
  const match = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/[^/]+\/[^/]+\/([^/]+)$/i.exec(
    id,
  );
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { subscriptionId: match[1], resourceGroup: match[2], name: match[3], id };
}
