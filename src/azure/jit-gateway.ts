/**
 * JitGateway on the Azure SDK: @azure/arm-security for JIT policies, arm-compute and arm-network
 * for the reads that tell whether JIT can protect a VM. The only module that builds Azure clients.
 */
import { ComputeManagementClient } from "@azure/arm-compute";
import type {
  AzureFirewall,
  NetworkInterface,
  PublicIPAddress,
  RouteTable,
  SecurityRule,
  Subnet,
} from "@azure/arm-network";
import { NetworkManagementClient } from "@azure/arm-network";
import type { JitNetworkAccessPolicy, JitNetworkAccessPolicyInitiateRequest } from "@azure/arm-security";
import { SecurityCenter } from "@azure/arm-security";
import type { TokenCredential } from "@azure/core-auth";
import { createPipelineRequest, type RetryStrategy, retryPolicy } from "@azure/core-rest-pipeline";
import pino, { type Logger } from "pino";
import type { Clock, InitiateInput, JitGateway, PolicyRef } from "../app/ports.ts";
import { systemClock } from "../app/ports.ts";
import { classifyJit, type EligibilityFacts, type FirewallFact } from "../domain/eligibility.ts";
import { ErrorCode, PortcullisError } from "../domain/errors.ts";
import type { InboundPath, InboundRule, NsgView } from "../domain/inbound-access.ts";
import { carriesTag, nonceFromJustification, requestIdFromJustification } from "../domain/justification.ts";
import type { JitRequestRecord, VmPolicy, VmWithJit } from "../domain/vm.ts";
import { armAuth } from "./credentials.ts";
import {
  type ErrorContext,
  isOutcomeUnknown,
  type RestErrorLike,
  serverErrorOf,
  serverFailure,
  toPortcullisError,
} from "./errors.ts";
import {
  osTypeOf,
  policyVms,
  powerStateOf,
  sameVm,
  toRequestRecords,
  toVmPolicy,
  vmRefOf,
  type WirePolicy,
  type WireRequest,
} from "./mapping.ts";

export interface JitGatewayOptions {
  /** e.g. https://management.azure.com, or http://127.0.0.1:3979 for a local simulator. */
  readonly armEndpoint: string;
  readonly subscriptionId: string;
  /** Used for https endpoints; DefaultAzureCredential (created lazily) when absent. Never sent to loopback http. */
  readonly credential?: TokenCredential;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /**
   * Handed to every SDK client's retry policy for reads. Tests shorten the delays; production keeps
   * the SDK defaults. The initiate POST never takes these: it is retried only after a 429 (below).
   */
  readonly retryOptions?: {
    readonly maxRetries?: number;
    readonly retryDelayInMs?: number;
    readonly maxRetryDelayInMs?: number;
  };
  /** Per-attempt timeout for ARM calls (default 30 s). A timed-out initiate is reconciled like a dropped one. */
  readonly requestTimeoutMs?: number;
  /** Pauses before each look at the policy's history after an initiate whose outcome is unknown. */
  readonly reconcileDelaysMs?: readonly number[];
}

/** Classic (ASM) VMs are not Microsoft.Compute resources; ARM still lists them under this provider. */
const CLASSIC_COMPUTE_API_VERSION = "2017-04-01";

const DEFAULT_TIMEOUT_MS = 30_000;
/** How often a throttled (429) initiate is sent again, as Retry-After says; ARM did not act on it. */
const INITIATE_THROTTLE_RETRIES = 3;
/** A Retry-After longer than this is not waited for: the grant's own retry (a timer) takes over. */
const INITIATE_MAX_THROTTLE_WAIT_MS = 60_000;
const DEFAULT_RECONCILE_DELAYS_MS = [0, 2_000];

/** What the policy's history says about an initiate whose outcome is unknown. */
type Reconciled =
  | { readonly kind: "found"; readonly records: JitRequestRecord[] }
  /** Read, and no entry carries it. */
  | { readonly kind: "absent" }
  /** Could not be read: nobody can say. */
  | { readonly kind: "unreadable" };

/** The ARM reads listVms needs, gathered once per call. */
interface Estate {
  readonly policies: readonly JitNetworkAccessPolicy[];
  readonly vms: readonly ArmVm[];
  readonly classicVms: readonly ClassicVm[];
  readonly nics: readonly NetworkInterface[];
  readonly subnets: readonly Subnet[];
  readonly routeTables: readonly RouteTable[];
  readonly firewalls: readonly AzureFirewall[];
  readonly publicIps: readonly PublicIPAddress[];
  /** VM id (lower case) → power state, from the statusOnly list; empty when that call failed. */
  readonly powerStates: ReadonlyMap<string, string>;
}

interface ArmVm {
  readonly id?: string;
  readonly name?: string;
  readonly location?: string;
  readonly tags?: Record<string, string>;
  readonly storageProfile?: { readonly osDisk?: { readonly osType?: string } };
  readonly networkProfile?: { readonly networkInterfaces?: readonly { id?: string; primary?: boolean }[] };
  readonly instanceView?: { readonly statuses?: readonly { code?: string }[] };
}

interface ClassicVm {
  readonly id?: string;
  readonly name?: string;
  readonly location?: string;
  readonly tags?: Record<string, string>;
  readonly properties?: {
    readonly instanceView?: {
      readonly status?: string;
      readonly powerState?: string;
      readonly privateIpAddress?: string;
    };
    readonly storageProfile?: { readonly operatingSystemDisk?: { readonly operatingSystem?: string } };
  };
}

/** Classic VMs say Started/Stopped; speak Compute's words (running/stopped) like the rest of the list. */
function classicPowerState(value: string | undefined): string {
  const lower = value?.toLowerCase();
  if (lower === "started") return "running";
  return lower ?? "unknown";
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const sameId = (a: string | undefined, b: string | undefined): boolean =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

const lastSegment = (id: string | undefined): string => id?.split("/").pop() ?? "";

const resourceGroupOf = (id: string): string => /\/resourceGroups\/([^/]+)\//i.exec(id)?.[1] ?? "";

/** An ARM security rule as inboundAccess reads it. */
function toInboundRule(rule: SecurityRule): InboundRule {
  const list = (one: string | undefined, many: readonly string[] | undefined) =>
    [one, ...(many ?? [])].filter((value): value is string => value !== undefined && value !== "");
  return {
    name: rule.name ?? "",
    priority: rule.priority ?? 0,
    access: rule.access === "Allow" ? "Allow" : "Deny",
    protocol: rule.protocol ?? "*",
    sourcePrefixes: list(rule.sourceAddressPrefix, rule.sourceAddressPrefixes),
    destinationPrefixes: list(rule.destinationAddressPrefix, rule.destinationAddressPrefixes),
    destinationPorts: list(rule.destinationPortRange, rule.destinationPortRanges),
    ...((rule.sourceApplicationSecurityGroups ?? []).length > 0
      ? { sourceApplicationSecurityGroups: true }
      : {}),
    ...((rule.destinationApplicationSecurityGroups ?? []).length > 0
      ? { destinationApplicationSecurityGroups: true }
      : {}),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** "203.0.113.7" and "203.0.113.7/32" name the same source; Azure may echo either. */
const samePrefix = (a: string, b: string): boolean => {
  const bare = (prefix: string) =>
    prefix
      .trim()
      .toLowerCase()
      .replace(/\/(32|128)$/, "");
  return bare(a) === bare(b);
};

/** Same end time, to the second: Azure may store more (or fewer) fractional digits than we sent. */
const sameInstant = (a: Date, b: Date): boolean => Math.abs(a.getTime() - b.getTime()) < 1_000;

/**
 * Retries a response that is 429 with a usable Retry-After, and nothing else: not a 5xx, not a
 * transport error, not a timeout — after those Azure may have recorded the initiate.
 */
function throttledOnly(): RetryStrategy {
  return {
    name: "initiateThrottledOnly",
    retry({ response }) {
      if (response?.status !== 429) return { skipStrategy: true };
      const waitMs = retryAfterMs(
        response.headers.get("retry-after-ms"),
        response.headers.get("retry-after"),
      );
      if (waitMs === undefined || waitMs > INITIATE_MAX_THROTTLE_WAIT_MS) return { skipStrategy: true };
      return { retryAfterInMs: waitMs };
    },
  };
}

/** Retry-After in seconds or as an HTTP date (retry-after-ms wins), as milliseconds; undefined if absent or bad. */
function retryAfterMs(milliseconds: string | undefined, header: string | undefined): number | undefined {
  if (milliseconds !== undefined && /^\d+$/.test(milliseconds.trim())) return Number(milliseconds);
  if (header === undefined) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

export function createJitGateway(options: JitGatewayOptions): JitGateway {
  const auth = armAuth(options.armEndpoint, options.credential);
  const logger = options.logger ?? pino({ level: "silent" });
  const clock = options.clock ?? systemClock;
  const timeout = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const reconcileDelays = options.reconcileDelaysMs ?? DEFAULT_RECONCILE_DELAYS_MS;
  const { subscriptionId } = options;
  const retryOptions = options.retryOptions ? { ...options.retryOptions } : undefined;
  const endpoint = auth.endpoint.url;
  const requestOptions = { timeout };

  const security = new SecurityCenter(auth.credential, subscriptionId, {
    endpoint,
    credentialScopes: [...auth.credentialScopes],
    ...(retryOptions ? { retryOptions } : {}),
  });
  const compute = new ComputeManagementClient(auth.credential, subscriptionId, {
    endpoint,
    credentials: { scopes: [...auth.credentialScopes] },
    ...(retryOptions ? { retryOptions } : {}),
  });
  const network = new NetworkManagementClient(auth.credential, subscriptionId, {
    endpoint,
    credentials: { scopes: [...auth.credentialScopes] },
    ...(retryOptions ? { retryOptions } : {}),
  });
  // Initiate is not idempotent: a resend after a lost reply records a second grant in Azure. Its
  // client has no automatic retry but one after 429 (ARM refused it unprocessed and said when to
  // come back). Anything else whose outcome is unknown goes to `reconcile`; a 5xx the history shows
  // no trace of is sent once more with the identical body (`initiate`), anything else is left to the
  // grant's own retry, which looks in the history before it initiates again.
  const initiator = new SecurityCenter(auth.credential, subscriptionId, {
    endpoint,
    credentialScopes: [...auth.credentialScopes],
    retryOptions: { maxRetries: 0 },
  });
  initiator.pipeline.addPolicy(retryPolicy([throttledOnly()], { maxRetries: INITIATE_THROTTLE_RETRIES }), {
    phase: "Retry",
  });
  auth.configure(security);
  auth.configure(initiator);
  auth.configure(compute);
  auth.configure(network);
  logger.info(
    { armEndpoint: endpoint, subscriptionId, devToken: auth.endpoint.loopback },
    auth.endpoint.loopback
      ? "ARM endpoint is loopback http: using the static development token"
      : "ARM endpoint is https: using Azure credentials",
  );

  async function call<T>(context: ErrorContext, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const mapped = toPortcullisError(error, context);
      logger.warn({ err: error, code: mapped.code, action: context.action }, "ARM call failed");
      throw mapped;
    }
  }

  async function listClassicVms(): Promise<ClassicVm[]> {
    const url = `${endpoint}/subscriptions/${encodeURIComponent(subscriptionId)}/providers/Microsoft.ClassicCompute/virtualMachines?api-version=${CLASSIC_COMPUTE_API_VERSION}`;
    try {
      const out: ClassicVm[] = [];
      let next: string | undefined = url;
      while (next) {
        const response = await security.sendRequest(
          createPipelineRequest({ url: next, method: "GET", timeout }),
        );
        if (response.status !== 200) {
          // Classic VMs are retired; most subscriptions no longer have the provider registered (404/409).
          // A 401/403 means the role lacks Microsoft.ClassicCompute/virtualMachines/read: say so in the log.
          const forbidden = response.status === 401 || response.status === 403;
          logger[forbidden ? "warn" : "debug"](
            { status: response.status },
            "classic VM list unavailable; classic VMs will be missing from the list",
          );
          return out;
        }
        const body = JSON.parse(response.bodyAsText ?? "{}") as { value?: ClassicVm[]; nextLink?: string };
        out.push(...(body.value ?? []));
        next = body.nextLink;
      }
      return out;
    } catch (error) {
      logger.warn({ err: error }, "classic VM list failed; classic VMs will be missing from the list");
      return [];
    }
  }

  async function listPowerStates(): Promise<Map<string, string>> {
    const states = new Map<string, string>();
    try {
      for await (const vm of compute.virtualMachines.listAll({ statusOnly: "true", requestOptions })) {
        const state = powerStateOf(vm.instanceView?.statuses);
        if (vm.id && state !== "unknown") states.set(vm.id.toLowerCase(), state);
      }
    } catch (error) {
      // Power state is a nicety for the VM list; never fail the list for it.
      logger.warn({ err: error }, "VM power states unavailable");
    }
    return states;
  }

  async function readEstate(): Promise<Estate> {
    const context: ErrorContext = { action: "list the subscription's virtual machines and their networks" };
    return call(context, async () => {
      const [policies, vms, classicVms, nics, vnets, routeTables, firewalls, publicIps, powerStates] =
        await Promise.all([
          collect(security.jitNetworkAccessPolicies.list({ requestOptions })),
          collect(compute.virtualMachines.listAll({ requestOptions })),
          listClassicVms(),
          collect(network.networkInterfaces.listAll({ requestOptions })),
          collect(network.virtualNetworks.listAll({ requestOptions })),
          collect(network.routeTables.listAll({ requestOptions })),
          collect(network.azureFirewalls.listAll({ requestOptions })),
          collect(network.publicIPAddresses.listAll({ requestOptions })),
          listPowerStates(),
        ]);
      return {
        policies,
        vms,
        classicVms,
        nics,
        subnets: vnets.flatMap((vnet) => vnet.subnets ?? []),
        routeTables,
        firewalls,
        publicIps,
        powerStates,
      };
    });
  }

  function firewallFor(subnet: Subnet | undefined, estate: Estate): FirewallFact | undefined {
    const table = estate.routeTables.find((candidate) => sameId(candidate.id, subnet?.routeTable?.id));
    const hops = (table?.routes ?? [])
      .filter((route) => route.addressPrefix === "0.0.0.0/0" && route.nextHopType === "VirtualAppliance")
      .map((route) => route.nextHopIpAddress)
      .filter((ip): ip is string => ip !== undefined);
    const firewall = estate.firewalls.find(
      (candidate) =>
        (candidate.ipConfigurations ?? []).some((config) => hops.includes(config.privateIPAddress ?? "")) ||
        hops.includes(candidate.hubIPAddresses?.privateIPAddress ?? ""),
    );
    if (!firewall) return undefined;
    return {
      name: firewall.name ?? lastSegment(firewall.id),
      managedBy: firewall.firewallPolicy?.id ? "firewall_policy" : "classic_rules",
    };
  }

  function armVmWithJit(vm: ArmVm, estate: Estate): VmWithJit | undefined {
    const ref = vm.id ? vmRefOf(vm.id) : undefined;
    if (!ref) return undefined;
    const nicIds = (vm.networkProfile?.networkInterfaces ?? []).map((nic) => nic.id);
    const nics = estate.nics.filter(
      (nic) => nicIds.some((id) => sameId(id, nic.id)) || sameId(nic.virtualMachine?.id, ref.id),
    );
    const ipConfigs = nics.flatMap((nic) => nic.ipConfigurations ?? []);
    const subnets = ipConfigs
      .map((config) => estate.subnets.find((subnet) => sameId(subnet.id, config.subnet?.id)))
      .filter((subnet): subnet is Subnet => subnet !== undefined);
    const firewalls = subnets
      .map((subnet) => firewallFor(subnet, estate))
      .filter((fw): fw is FirewallFact => fw !== undefined);
    // A Firewall-Policy-managed firewall wins: JIT cannot manage it even if another NIC is fine.
    const firewall = firewalls.find((fw) => fw.managedBy === "firewall_policy") ?? firewalls[0];
    const facts: EligibilityFacts = {
      vmName: ref.name,
      classic: false,
      nicNsgs: nics.map((nic) => lastSegment(nic.networkSecurityGroup?.id)).filter((name) => name !== ""),
      subnetNsgs: subnets
        .map((subnet) => lastSegment(subnet.networkSecurityGroup?.id))
        .filter((name) => name !== ""),
      ...(firewall ? { firewall } : {}),
      ...(nicIds.length > 0 && nics.length === 0
        ? { networkUnreadable: "its network interface is not visible in this subscription" }
        : {}),
    };
    const policy = findVmPolicy(ref.id, estate.policies);
    const primary = ipConfigs.find((config) => config.primary) ?? ipConfigs[0];
    const publicIp = estate.publicIps.find((pip) => sameId(pip.id, primary?.publicIPAddress?.id))?.ipAddress;
    const connectAddress = policy?.publicIpAddress ?? publicIp ?? primary?.privateIPAddress;
    return {
      ref,
      location: vm.location ?? "",
      osType: osTypeOf(vm.storageProfile?.osDisk?.osType),
      powerState: estate.powerStates.get(ref.id.toLowerCase()) ?? powerStateOf(vm.instanceView?.statuses),
      tags: { ...(vm.tags ?? {}) },
      ...(connectAddress ? { connectAddress } : {}),
      jit: classifyJit(facts, policy),
    };
  }

  function classicVmWithJit(vm: ClassicVm): VmWithJit | undefined {
    const ref = vm.id ? vmRefOf(vm.id) : undefined;
    if (!ref) return undefined;
    const view = vm.properties?.instanceView;
    return {
      ref,
      location: vm.location ?? "",
      osType: osTypeOf(vm.properties?.storageProfile?.operatingSystemDisk?.operatingSystem),
      powerState: classicPowerState(view?.powerState),
      tags: { ...(vm.tags ?? {}) },
      ...(view?.privateIpAddress ? { connectAddress: view.privateIpAddress } : {}),
      jit: classifyJit({ vmName: ref.name, classic: true, nicNsgs: [], subnetNsgs: [] }, undefined),
    };
  }

  function findVmPolicy(vmId: string, policies: readonly JitNetworkAccessPolicy[]): VmPolicy | undefined {
    for (const policy of policies) {
      if (!policyVms(policy as WirePolicy).some((vm) => sameVm(vm.id, vmId))) continue;
      return toVmPolicy(policy as WirePolicy, vmId);
    }
    return undefined;
  }

  async function listVms(): Promise<readonly VmWithJit[]> {
    const estate = await readEstate();
    const arm = estate.vms.map((vm) => armVmWithJit(vm, estate));
    const classic = estate.classicVms.map(classicVmWithJit);
    return [...arm, ...classic]
      .filter((vm): vm is VmWithJit => vm !== undefined)
      .sort(
        (a, b) =>
          a.ref.name.localeCompare(b.ref.name) || a.ref.resourceGroup.localeCompare(b.ref.resourceGroup),
      );
  }

  async function readPolicy(policy: PolicyRef, context: ErrorContext): Promise<JitNetworkAccessPolicy> {
    return call(context, () =>
      security.jitNetworkAccessPolicies.get(policy.resourceGroup, policy.location, policy.name, {
        requestOptions,
      }),
    );
  }

  async function getVmPolicy(policy: PolicyRef, vmId: string): Promise<VmPolicy> {
    const vmName = vmRefOf(vmId)?.name ?? vmId;
    const context: ErrorContext = { action: `read the JIT policy of ${vmName}`, vmName, policy };
    const raw = await readPolicy(policy, context);
    const narrowed = toVmPolicy(raw as WirePolicy, vmId);
    if (!narrowed) {
      throw new PortcullisError(
        ErrorCode.PolicyNotFound,
        `${vmName} has no JIT policy any more: policy "${policy.name}" in ${policy.resourceGroup}/${policy.location} no longer lists it. Ask an admin to enable JIT on it in Defender for Cloud.`,
        { detail: `VM ${vmId} not in policy ${raw.id ?? policy.name}` },
      );
    }
    return narrowed;
  }

  /** The records of `request` for the VMs asked about, with the ids as the caller spelled them. */
  function recordsFor(request: WireRequest, input: InitiateInput): JitRequestRecord[] {
    return input.virtualMachines.flatMap((asked) =>
      toRequestRecords(request, asked.vmId).map((record) => ({ ...record, vmId: asked.vmId })),
    );
  }

  /**
   * Does this history entry carry exactly what `input` asked for? Our nonce when the justification
   * has one (Azure may shorten the rest), else the identical text; and every VM, port, source, end.
   */
  function matchesInput(request: WireRequest, input: InitiateInput): boolean {
    const nonce = nonceFromJustification(input.justification);
    const requestId = requestIdFromJustification(input.justification);
    const ours =
      nonce !== undefined && requestId !== undefined
        ? carriesTag(request.justification, { requestId, nonce })
        : request.justification === input.justification;
    if (!ours) return false;
    return input.virtualMachines.every((asked) => {
      const records = toRequestRecords(request, asked.vmId);
      return asked.ports.every((port) =>
        records.some((record) =>
          record.ports.some(
            (got) =>
              got.number === port.number &&
              samePrefix(got.allowedSourceAddressPrefix, port.allowedSourceAddressPrefix) &&
              sameInstant(got.endTimeUtc, port.endTimeUtc),
          ),
        ),
      );
    });
  }

  /**
   * After an initiate whose outcome is unknown (network error, timeout, 5xx after the SDK's
   * retries): did Azure record it? Looks for the newest history entry with our justification
   * (it carries the Portcullis request id) and the same VMs, ports, prefixes and end times.
   */
  async function reconcile(input: InitiateInput): Promise<Reconciled> {
    let read = false;
    for (const delay of reconcileDelays) {
      if (delay > 0) await sleep(delay);
      let raw: JitNetworkAccessPolicy;
      try {
        raw = await security.jitNetworkAccessPolicies.get(
          input.policy.resourceGroup,
          input.policy.location,
          input.policy.name,
          { requestOptions },
        );
      } catch (error) {
        logger.warn({ err: error }, "reading the JIT history after a failed initiate failed too");
        continue;
      }
      read = true;
      const match = (raw.requests ?? [])
        .filter((request) => matchesInput(request as WireRequest, input))
        .sort((a, b) => new Date(b.startTimeUtc).getTime() - new Date(a.startTimeUtc).getTime())[0];
      if (match) return { kind: "found", records: recordsFor(match as WireRequest, input) };
    }
    return { kind: read ? "absent" : "unreadable" };
  }

  async function initiate(input: InitiateInput): Promise<readonly JitRequestRecord[]> {
    const names = input.virtualMachines.map((vm) => vmRefOf(vm.vmId)?.name ?? vm.vmId);
    const vmName = names.join(", ");
    const context: ErrorContext = {
      action: `open JIT access to ${vmName}`,
      ...(names.length === 1 && names[0] ? { vmName: names[0] } : {}),
      policy: input.policy,
    };
    const body: JitNetworkAccessPolicyInitiateRequest = {
      virtualMachines: input.virtualMachines.map((vm) => ({
        id: vm.vmId,
        ports: vm.ports.map((port) => ({
          number: port.number,
          endTimeUtc: port.endTimeUtc,
          allowedSourceAddressPrefix: port.allowedSourceAddressPrefix,
        })),
      })),
      justification: input.justification,
    };
    const send = () =>
      // Sent once (resent only after a 429): see `initiator`.
      initiator.jitNetworkAccessPolicies.initiate(
        input.policy.resourceGroup,
        input.policy.location,
        input.policy.name,
        body,
        { requestOptions },
      );
    const startedAt = clock.now();
    let firstServerError: RestErrorLike | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await send();
        const records = recordsFor(response as WireRequest, input);
        logger.info(
          {
            vms: names,
            justification: input.justification,
            attempt,
            ms: clock.now().getTime() - startedAt.getTime(),
          },
          "JIT initiate accepted",
        );
        return records;
      } catch (error) {
        if (!isOutcomeUnknown(error)) {
          const mapped = toPortcullisError(error, context);
          logger.warn({ err: error, code: mapped.code, attempt }, "JIT initiate refused");
          throw mapped;
        }
        // We cannot tell whether Azure recorded the grant. The history can: if an entry with our
        // nonce and the same VM/ports/source/end time is there, the grant happened; say so.
        const history = await reconcile(input);
        if (history.kind === "found") {
          logger.warn(
            { err: error, vms: names, justification: input.justification, attempt },
            "JIT initiate failed in transit but Azure recorded it; treating it as success",
          );
          return history.records;
        }
        // Only a history actually read and found without it makes a resend safe.
        const serverError = history.kind === "absent" ? serverErrorOf(error) : undefined;
        // A 5xx that left no trace in the history is sent again once, with the identical body (same
        // end, same justification and nonce): should the first land late after all, the second asks
        // for the very same window and supersedes it with itself. Transport failures and timeouts
        // are left to the caller's own retry (which looks in the history first).
        if (serverError && attempt === 1) {
          firstServerError = serverError;
          logger.warn(
            { err: error, vms: names, status: serverError.statusCode, code: serverError.code },
            "JIT initiate got a server error and is not in the history; sending the identical body once more",
          );
          continue;
        }
        if (serverError && firstServerError) {
          logger.error(
            { err: error, vms: names, status: serverError.statusCode, code: serverError.code },
            "JIT initiate failed twice with a server error and is not in the policy history",
          );
          throw serverFailure(firstServerError, serverError, context, error);
        }
        const mapped = toPortcullisError(error, context);
        logger.error(
          { err: error, code: mapped.code },
          "JIT initiate failed and is not in the policy history",
        );
        throw mapped;
      }
    }
  }

  /**
   * Every way into the VM from outside, read fresh: per NIC IP configuration, its private address,
   * its virtual network's address space and the inbound rules (custom and default) of the NSG on its
   * subnet, then of the NSG on the NIC — what inboundAccess (domain) needs to evaluate as Azure does.
   */
  async function listInboundPaths(vmId: string): Promise<readonly InboundPath[]> {
    const vmName = vmRefOf(vmId)?.name ?? vmId;
    return call({ action: `read the network security rules of ${vmName}`, vmName }, async () => {
      const vm = await compute.virtualMachines.get(vmRefOf(vmId)?.resourceGroup ?? "", vmName, {
        requestOptions,
      });
      const nicIds = (vm.networkProfile?.networkInterfaces ?? [])
        .map((nic) => nic.id)
        .filter((id): id is string => id !== undefined);
      const nsgCache = new Map<string, Promise<NsgView>>();
      const readNsg = (nsgId: string): Promise<NsgView> => {
        const key = nsgId.toLowerCase();
        const cached = nsgCache.get(key);
        if (cached) return cached;
        const read = network.networkSecurityGroups
          .get(resourceGroupOf(nsgId), lastSegment(nsgId), { requestOptions })
          .then((nsg) => ({
            name: nsg.name ?? lastSegment(nsgId),
            rules: [...(nsg.securityRules ?? []), ...(nsg.defaultSecurityRules ?? [])]
              .filter((rule) => rule.direction === "Inbound")
              .map(toInboundRule),
          }));
        nsgCache.set(key, read);
        return read;
      };
      const paths: InboundPath[] = [];
      for (const nicId of nicIds) {
        const nic = await network.networkInterfaces.get(resourceGroupOf(nicId), lastSegment(nicId), {
          requestOptions,
        });
        for (const config of nic.ipConfigurations ?? []) {
          const subnetId = config.subnet?.id;
          const vnetId = subnetId?.replace(/\/subnets\/[^/]+$/i, "");
          const vnet = vnetId
            ? await network.virtualNetworks.get(resourceGroupOf(vnetId), lastSegment(vnetId), {
                requestOptions,
              })
            : undefined;
          const subnet = vnet?.subnets?.find((candidate) => sameId(candidate.id, subnetId));
          const nsgIds = [subnet?.networkSecurityGroup?.id, nic.networkSecurityGroup?.id].filter(
            (id): id is string => id !== undefined,
          );
          paths.push({
            privateIp: config.privateIPAddress ?? "",
            vnetPrefixes: vnet?.addressSpace?.addressPrefixes ?? [],
            nsgs: await Promise.all(nsgIds.map(readNsg)),
          });
        }
      }
      return paths;
    });
  }

  return {
    listVms,
    listInboundPaths,
    async findVms(name: string): Promise<readonly VmWithJit[]> {
      const wanted = name.trim().toLowerCase();
      return (await listVms()).filter((vm) => vm.ref.name.toLowerCase() === wanted);
    },
    getVmPolicy,
    initiate,
    async checkHealth(): Promise<void> {
      await call({ action: "read JIT policies" }, async () => {
        await security.jitNetworkAccessPolicies.list({ requestOptions }).byPage().next();
      });
    },
  };
}
