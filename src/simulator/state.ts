/**
 * The simulator's in-memory world: the fleet's ARM resources, the JIT policies with their request
 * history, and the NSG rules JIT derives from them. Time is read from the injected clock; expiry is
 * evaluated lazily (`settle()` runs before every read), so nothing here needs a timer.
 *
 * Kept in one process's memory: a restart or POST /_sim/reset forgets every request.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { ArmError, resourceGroupNotFound } from "./arm-error.ts";
import {
  type ArmModel,
  buildArmModel,
  instanceViewJson,
  type Json,
  NSG_TYPE,
  resourceId,
  securityRuleJson,
  type VmNetwork,
} from "./arm-resources.ts";
import type { Fleet, FleetVm } from "./fleet.ts";
import { parseIsoDurationMs } from "./iso-duration.ts";
import { decide, toRuleView } from "./nsg-eval.ts";
import { isAnyPrefix, parseRange, prefixWithin } from "./prefixes.ts";

export const JIT_POLICY_TYPE = "Microsoft.Security/locations/jitNetworkAccessPolicies";
export const DEFAULT_REQUESTOR = "portcullis-dev@sim.local";
/** Deny rules: 4096 when free, else the first free slot below it and above 1000 (what tenants show). */
const JIT_DENY_PRIORITY = 4096;
const JIT_DENY_LOWEST_PRIORITY = 1001;
/** Allow rules: the first free slot from 100 up, ahead of every Deny. */
const JIT_ALLOW_FIRST_PRIORITY = 100;
/** Firewall ports handed out for firewall-fronted VMs that a PUT added (the fleet names its own). */
const FIRST_MAPPED_PORT = 50000;
const MIN_DURATION_MS = 5 * 60_000;
const MAX_DURATION_MS = 24 * 3_600_000;
// No end-time tolerance past maxRequestAccessDuration and no cap on the request history: Azure
// documents neither, so none is invented (ASSUMPTIONS.md says what a live call would settle).

// ------------------------------------------------------------------ policy model

const portRuleBody = z
  .object({
    number: z.number().int().min(0).max(65535),
    protocol: z.enum(["TCP", "UDP", "*"]),
    allowedSourceAddressPrefix: z.string().min(1).optional(),
    allowedSourceAddressPrefixes: z.array(z.string().min(1)).min(1).optional(),
    maxRequestAccessDuration: z.string(),
  })
  // mappedPort is not a JitNetworkAccessPortRule property (it is on request ports): dropped like any unknown field.
  .strip();

const requestPortBody = z
  .object({
    number: z.number().int().min(0).max(65535),
    allowedSourceAddressPrefix: z.string().optional(),
    allowedSourceAddressPrefixes: z.array(z.string()).optional(),
    endTimeUtc: z.string(),
    status: z.string(),
    statusReason: z.string().optional(),
    mappedPort: z.number().int().optional(),
  })
  .strip();

const requestBody = z
  .object({
    virtualMachines: z.array(z.object({ id: z.string(), ports: z.array(requestPortBody) }).strip()),
    startTimeUtc: z.string(),
    requestor: z.string(),
    justification: z.string().optional(),
  })
  .strip();

const policyBody = z.object({
  kind: z.string().optional(),
  properties: z.object({
    virtualMachines: z.array(
      z
        .object({
          id: z.string().min(1),
          ports: z.array(portRuleBody),
          publicIpAddress: z.string().optional(),
        })
        .strip(),
    ),
    requests: z.array(requestBody).optional(),
  }),
});

const initiateBody = z.object({
  virtualMachines: z
    .array(
      z.object({
        id: z.string().min(1),
        ports: z
          .array(
            z.object({
              number: z.number().int().min(0).max(65535),
              endTimeUtc: z.string().optional(),
              duration: z.string().optional(),
              allowedSourceAddressPrefix: z.string().min(1).optional(),
              allowedSourceAddressPrefixes: z.array(z.string().min(1)).min(1).optional(),
            }),
          )
          .min(1),
      }),
    )
    .min(1),
  justification: z.string().optional(),
});

type PortRule = z.infer<typeof portRuleBody>;
type RequestPort = z.infer<typeof requestPortBody>;
type JitRequest = z.infer<typeof requestBody>;

interface PolicyVm {
  id: string;
  ports: PortRule[];
  publicIpAddress?: string;
  /**
   * Firewall-fronted VMs: the firewall port Defender's DNAT rule uses for each VM port. Not in the
   * policy's JSON: Azure reports it only on request ports (initiate response, requests history).
   */
  mappedPorts: Map<number, number>;
}

interface PolicyState {
  resourceGroup: string;
  location: string;
  name: string;
  kind: string;
  virtualMachines: PolicyVm[];
  requests: JitRequest[];
}

/** The NSG Allow rules an initiated port holds (one per NSG filtering the VM) until revoked or expired. */
interface Grant {
  readonly rules: readonly { readonly nsgId: string; readonly ruleName: string; readonly priority: number }[];
  readonly destination: string;
  readonly protocol: string;
}

export interface ProbeResult {
  readonly allowed: boolean;
  readonly rule?: string;
  readonly reason?: string;
  readonly evaluated: readonly {
    networkSecurityGroup: string;
    rule: string;
    access: string;
    priority: number;
  }[];
}

/** `<n>` and `<32 hex>` of a JIT rule name, stable for a seed (tenants show a decimal and a dashless GUID). */
function jitRuleParts(seed: string): { n: string; hex: string } {
  const digest = createHash("sha256").update(seed).digest("hex");
  return {
    n: String(Number.parseInt(digest.slice(0, 8), 16) % 2_000_000_000),
    hex: digest.slice(8, 40).toUpperCase(),
  };
}

/** Deny: `SecurityCenter-JITRule_-<n>_<32 hex>`. */
function jitDenyName(seed: string): string {
  const { n, hex } = jitRuleParts(`deny:${seed}`);
  return `SecurityCenter-JITRule_-${n}_${hex}`;
}

/** Allow: `SecurityCenter-JITRule-<n>-<32 hex>`. */
function jitAllowName(seed: string): string {
  const { n, hex } = jitRuleParts(`allow:${seed}`);
  return `SecurityCenter-JITRule-${n}-${hex}`;
}

/** Every NSG that filters the VM's inbound traffic: subnet first, then NIC (JIT writes to each). */
function nsgsOf(net: VmNetwork | undefined): string[] {
  return net ? [net.subnetNsgId, net.nicNsgId].filter((id): id is string => id !== undefined) : [];
}

function policyKey(resourceGroup: string, location: string, name: string): string {
  return `${resourceGroup}/${location}/${name}`.toLowerCase();
}

function nsgProtocol(jitProtocol: string): string {
  return jitProtocol === "TCP" ? "Tcp" : jitProtocol === "UDP" ? "Udp" : "*";
}

function zodMessage(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join(".") || "body"}: ${issue.message}` : "invalid body";
}

export class SimState {
  readonly fleet: Fleet;
  readonly subscriptionId: string;
  readonly now: () => Date;
  private readonly model: ArmModel;
  private readonly resourceGroups = new Map<string, string>();
  private readonly policies = new Map<string, PolicyState>();
  private readonly grants = new WeakMap<RequestPort, Grant>();

  constructor(fleet: Fleet, now: () => Date) {
    this.fleet = fleet;
    this.subscriptionId = fleet.subscriptionId;
    this.now = now;
    this.model = buildArmModel(fleet);
    for (const rg of fleet.resourceGroups) this.resourceGroups.set(rg.name.toLowerCase(), rg.name);
    for (const p of fleet.jitPolicies) {
      this.policies.set(policyKey(p.resourceGroup, p.location, p.name), {
        resourceGroup: p.resourceGroup,
        location: p.location,
        name: p.name,
        kind: "Basic",
        virtualMachines: p.virtualMachines.map((entry) => ({
          id: resourceId(
            fleet.subscriptionId,
            entry.resourceGroup ?? p.resourceGroup,
            "Microsoft.Compute/virtualMachines",
            entry.vm,
          ),
          ports: entry.ports.map((r) => ({ ...r })),
          ...(entry.publicIpAddress ? { publicIpAddress: entry.publicIpAddress } : {}),
          mappedPorts: new Map(
            Object.entries(entry.firewallMappedPorts ?? {}).map(([port, mapped]): [number, number] => [
              Number(port),
              mapped,
            ]),
          ),
        })),
        requests: [],
      });
    }
  }

  // ---------------------------------------------------------------- time

  /** Expires every Initiated port whose endTimeUtc has passed (Revoked / Expired). */
  settle(): void {
    const now = this.now().getTime();
    for (const policy of this.policies.values()) {
      for (const request of policy.requests) {
        for (const vm of request.virtualMachines) {
          for (const port of vm.ports) {
            if (port.status === "Initiated" && Date.parse(port.endTimeUtc) <= now) {
              port.status = "Revoked";
              port.statusReason = "Expired";
            }
          }
        }
      }
    }
  }

  // ---------------------------------------------------------------- resource groups

  resourceGroupName(resourceGroup: string): string | undefined {
    return this.resourceGroups.get(resourceGroup.toLowerCase());
  }

  requireResourceGroup(resourceGroup: string): string {
    const name = this.resourceGroupName(resourceGroup);
    if (!name) throw resourceGroupNotFound(resourceGroup);
    return name;
  }

  resourceGroupJson(): Json[] {
    return [...this.resourceGroups.values()].map((name) => {
      const rg = this.fleet.resourceGroups.find((r) => r.name === name);
      return {
        id: `/subscriptions/${this.subscriptionId}/resourceGroups/${name}`,
        name,
        type: "Microsoft.Resources/resourceGroups",
        location: rg?.location ?? "westeurope",
        properties: { provisioningState: "Succeeded" },
      };
    });
  }

  // ---------------------------------------------------------------- JIT policies

  private policyJson(p: PolicyState): Json {
    return {
      kind: p.kind,
      properties: {
        virtualMachines: p.virtualMachines.map((vm) => ({
          id: vm.id,
          ports: vm.ports.map((r) => ({ ...r })),
          ...(vm.publicIpAddress ? { publicIpAddress: vm.publicIpAddress } : {}),
        })),
        requests: p.requests.map((r) => requestJson(r)),
        provisioningState: "Succeeded",
      },
      id: `/subscriptions/${this.subscriptionId}/resourceGroups/${p.resourceGroup}/providers/Microsoft.Security/locations/${p.location}/jitNetworkAccessPolicies/${p.name}`,
      name: p.name,
      type: JIT_POLICY_TYPE,
      location: p.location,
    };
  }

  listPolicies(filter: { resourceGroup?: string; location?: string }): Json[] {
    this.settle();
    return [...this.policies.values()]
      .filter(
        (p) =>
          (filter.resourceGroup === undefined ||
            p.resourceGroup.toLowerCase() === filter.resourceGroup.toLowerCase()) &&
          (filter.location === undefined || p.location.toLowerCase() === filter.location.toLowerCase()),
      )
      .map((p) => this.policyJson(p));
  }

  private requirePolicy(resourceGroup: string, location: string, name: string): PolicyState {
    const policy = this.policies.get(policyKey(resourceGroup, location, name));
    if (!policy) {
      throw new ArmError(
        404,
        "PolicyNotFound",
        `Just-in-time network access policy '${name}' was not found in resource group '${resourceGroup}', location '${location}'.`,
      );
    }
    return policy;
  }

  getPolicy(resourceGroup: string, location: string, name: string): Json {
    this.settle();
    return this.policyJson(this.requirePolicy(resourceGroup, location, name));
  }

  /** PUT: creates or replaces the policy's VM rules. A `requests` array in the body replaces the history. */
  putPolicy(resourceGroup: string, location: string, name: string, body: unknown): Json {
    this.settle();
    const parsed = policyBody.safeParse(body);
    if (!parsed.success) throw new ArmError(400, "InvalidInput", zodMessage(parsed.error));
    for (const vm of parsed.data.properties.virtualMachines) {
      for (const rule of vm.ports) {
        if (
          (rule.allowedSourceAddressPrefix === undefined) ===
          (rule.allowedSourceAddressPrefixes === undefined)
        ) {
          throw new ArmError(
            400,
            "InvalidInput",
            `Port ${rule.number} of ${vm.id}: exactly one of allowedSourceAddressPrefix and allowedSourceAddressPrefixes must be set.`,
          );
        }
        const ms = parseIsoDurationMs(rule.maxRequestAccessDuration);
        if (ms === undefined || ms < MIN_DURATION_MS || ms > MAX_DURATION_MS) {
          throw new ArmError(
            400,
            "InvalidInput",
            `Port ${rule.number} of ${vm.id}: maxRequestAccessDuration must be an ISO 8601 duration between PT5M and P1D.`,
          );
        }
      }
    }
    // Creating a policy in a resource group the fleet does not know registers the group (examples use "myRg1").
    const rgName = this.resourceGroupName(resourceGroup) ?? resourceGroup;
    if (!this.resourceGroupName(resourceGroup))
      this.resourceGroups.set(resourceGroup.toLowerCase(), resourceGroup);
    const key = policyKey(resourceGroup, location, name);
    const existing = this.policies.get(key);
    const next: PolicyState = {
      resourceGroup: existing?.resourceGroup ?? rgName,
      location: existing?.location ?? location,
      name: existing?.name ?? name,
      kind: parsed.data.kind ?? "Basic",
      virtualMachines: parsed.data.properties.virtualMachines.map((vm) => ({
        id: vm.id,
        ports: vm.ports,
        ...(vm.publicIpAddress ? { publicIpAddress: vm.publicIpAddress } : {}),
        mappedPorts: vm.publicIpAddress
          ? this.mappedPortsFor(vm.id, vm.ports, vm.publicIpAddress)
          : new Map(),
      })),
      requests: parsed.data.properties.requests ?? existing?.requests ?? [],
    };
    this.policies.set(key, next);
    this.settle();
    return this.policyJson(next);
  }

  /**
   * The firewall ports of a firewall-fronted VM a PUT lists: those it had (in any policy), else the
   * next unused ones from 50000 on the same firewall address. How Defender picks them is unverified.
   */
  private mappedPortsFor(vmId: string, ports: readonly PortRule[], publicIp: string): Map<number, number> {
    const known = new Map<number, number>();
    const used = new Set<number>();
    for (const policy of this.policies.values()) {
      for (const vm of policy.virtualMachines) {
        if (vm.publicIpAddress !== publicIp) continue;
        for (const [port, mapped] of vm.mappedPorts) {
          if (vm.id.toLowerCase() === vmId.toLowerCase()) known.set(port, mapped);
          else used.add(mapped);
        }
      }
    }
    let next = FIRST_MAPPED_PORT;
    const out = new Map<number, number>();
    for (const rule of ports) {
      const kept = known.get(rule.number);
      if (kept !== undefined) {
        out.set(rule.number, kept);
        continue;
      }
      while (used.has(next) || [...known.values()].includes(next)) next++;
      out.set(rule.number, next);
      used.add(next);
    }
    return out;
  }

  deletePolicy(resourceGroup: string, location: string, name: string): boolean {
    return this.policies.delete(policyKey(resourceGroup, location, name));
  }

  /**
   * POST …/initiate. Validates like Azure (body first, then policy, then each VM and port), supersedes
   * older Initiated entries for the same VM+port, records the request and opens the NSG.
   */
  initiate(
    resourceGroup: string,
    location: string,
    name: string,
    body: unknown,
    caller: { readonly requestor: string; readonly address: string },
  ): Json {
    const { requestor } = caller;
    this.settle();
    const invalid = (message: string) => new ArmError(400, "InvalidInitiateInput", message);
    const parsed = initiateBody.safeParse(body);
    if (!parsed.success) throw invalid(zodMessage(parsed.error));
    for (const vm of parsed.data.virtualMachines) {
      for (const port of vm.ports) {
        if ((port.endTimeUtc === undefined) === (port.duration === undefined)) {
          throw invalid("Only one of fields 'EndTimeUtc' and 'Duration' can be set.");
        }
      }
    }
    const policy = this.requirePolicy(resourceGroup, location, name);
    const now = this.now();
    const planned: { vmId: string; ports: RequestPort[]; net: VmNetwork | undefined }[] = [];
    for (const vmRequest of parsed.data.virtualMachines) {
      const entry = policy.virtualMachines.find((v) => v.id.toLowerCase() === vmRequest.id.toLowerCase());
      if (!entry) {
        throw invalid(
          `Virtual machine '${vmRequest.id}' is not part of just-in-time policy '${policy.name}'.`,
        );
      }
      const seen = new Set<number>();
      const ports: RequestPort[] = [];
      for (const p of vmRequest.ports) {
        if (seen.has(p.number)) throw invalid(`Port ${p.number} is requested twice for '${entry.id}'.`);
        seen.add(p.number);
        const rule = entry.ports.find((r) => r.number === p.number);
        if (!rule) {
          throw invalid(`Port ${p.number} is not configured in the just-in-time policy for '${entry.id}'.`);
        }
        const maxMs = parseIsoDurationMs(rule.maxRequestAccessDuration) ?? 0;
        let end: number;
        if (p.duration !== undefined) {
          const ms = parseIsoDurationMs(p.duration);
          if (ms === undefined || ms <= 0)
            throw invalid(`Duration '${p.duration}' is not a valid ISO 8601 duration.`);
          end = now.getTime() + ms;
        } else {
          end = Date.parse(p.endTimeUtc ?? "");
          if (Number.isNaN(end)) throw invalid(`EndTimeUtc '${p.endTimeUtc}' is not a valid date.`);
        }
        if (end <= now.getTime()) throw invalid(`EndTimeUtc for port ${p.number} must be in the future.`);
        if (end - now.getTime() > maxMs) {
          throw invalid(
            `Requested access to port ${p.number} exceeds the maximum request access duration ${rule.maxRequestAccessDuration}.`,
          );
        }
        const allowed = rule.allowedSourceAddressPrefixes ?? [rule.allowedSourceAddressPrefix ?? "*"];
        // Omitted source: the spec says "the request will be for the source IP address of the initiate
        // request" — the caller's own address, which the rule must still allow.
        const requested =
          p.allowedSourceAddressPrefixes ??
          (p.allowedSourceAddressPrefix !== undefined ? [p.allowedSourceAddressPrefix] : [caller.address]);
        for (const prefix of requested) {
          if (!isAnyPrefix(prefix) && !parseRange(prefix)) {
            throw invalid(`Source address prefix '${prefix}' is not a valid IP address or CIDR.`);
          }
          if (!prefixWithin(prefix, allowed)) {
            throw invalid(
              `Source address prefix '${prefix}' for port ${p.number} is not within the allowed source address prefixes (${allowed.join(", ")}).`,
            );
          }
        }
        ports.push({
          number: p.number,
          ...(requested.length === 1 ? { allowedSourceAddressPrefix: requested[0] ?? "*" } : {}),
          ...(requested.length > 1 ? { allowedSourceAddressPrefixes: requested } : {}),
          // Azure echoes the client's UTC timestamp (7 fractional digits and all); anything else is normalised.
          endTimeUtc: p.endTimeUtc?.toUpperCase().endsWith("Z") ? p.endTimeUtc : new Date(end).toISOString(),
          status: "Initiated",
          statusReason: "UserRequested",
          ...(entry.mappedPorts.has(p.number) ? { mappedPort: entry.mappedPorts.get(p.number) } : {}),
        });
      }
      planned.push({ vmId: entry.id, ports, net: this.model.vmNetworks.get(entry.id.toLowerCase()) });
    }

    // Valid: supersede, record, open.
    for (const { vmId, ports } of planned) {
      for (const port of ports) this.supersede(vmId, port.number);
    }
    const request: JitRequest = {
      virtualMachines: planned.map(({ vmId, ports }) => ({ id: vmId, ports })),
      startTimeUtc: now.toISOString(),
      requestor,
      ...(parsed.data.justification !== undefined ? { justification: parsed.data.justification } : {}),
    };
    policy.requests.push(request);
    for (const { vmId, ports, net } of planned) {
      if (!net) continue;
      for (const port of ports) {
        const rule = policy.virtualMachines
          .find((v) => v.id.toLowerCase() === vmId.toLowerCase())
          ?.ports.find((r) => r.number === port.number);
        // JIT writes where JIT writes: an Allow in every NSG that filters the VM (subnet and NIC).
        const rules = nsgsOf(net).map((nsgId) => ({
          nsgId,
          ruleName: jitAllowName(
            `${nsgId.toLowerCase()}:${vmId.toLowerCase()}:${port.number}:${request.startTimeUtc}:${requestor}`,
          ),
          priority: this.freeAllowPriority(nsgId),
        }));
        if (rules.length === 0) continue;
        this.grants.set(port, {
          rules,
          destination: net.privateIp,
          protocol: nsgProtocol(rule?.protocol ?? "*"),
        });
      }
    }
    return requestJson(request);
  }

  /** A newer initiate for the same VM+port revokes the older one and removes its Allow rule. */
  private supersede(vmId: string, portNumber: number): void {
    for (const policy of this.policies.values()) {
      for (const request of policy.requests) {
        for (const vm of request.virtualMachines) {
          if (vm.id.toLowerCase() !== vmId.toLowerCase()) continue;
          for (const port of vm.ports) {
            if (port.number === portNumber && port.status === "Initiated") {
              port.status = "Revoked";
              port.statusReason = "NewerRequestInitiated";
            }
          }
        }
      }
    }
  }

  private activeGrants(): { port: RequestPort; grant: Grant }[] {
    const out: { port: RequestPort; grant: Grant }[] = [];
    for (const policy of this.policies.values()) {
      for (const request of policy.requests) {
        for (const vm of request.virtualMachines) {
          for (const port of vm.ports) {
            const grant = this.grants.get(port);
            if (grant && port.status === "Initiated") out.push({ port, grant });
          }
        }
      }
    }
    return out;
  }

  private freeAllowPriority(nsgId: string): number {
    const used = new Set<number>(
      this.nsgRules(nsgId).map((r) => Number((r.properties as Json | undefined)?.priority ?? 0)),
    );
    let p = JIT_ALLOW_FIRST_PRIORITY;
    while (used.has(p)) p++;
    return p;
  }

  // ---------------------------------------------------------------- NSG rules

  /**
   * Custom rules + a JIT Deny per policy VM port + a JIT Allow per initiated port, as ARM securityRules,
   * in every NSG that filters the VM (subnet and NIC alike).
   */
  nsgRules(nsgId: string): Json[] {
    const key = nsgId.toLowerCase();
    const custom = this.model.nsgCustomRules.get(key) ?? [];
    const base = this.model.resources.get(key);
    const armNsgId = String(base?.id ?? nsgId);
    const usedPriorities = new Set(custom.map((r) => Number((r.properties as Json).priority)));
    const rules: Json[] = [...custom];
    let denyPriority = JIT_DENY_PRIORITY;
    for (const policy of this.policies.values()) {
      for (const entry of policy.virtualMachines) {
        const net = this.model.vmNetworks.get(entry.id.toLowerCase());
        if (!nsgsOf(net).some((id) => id.toLowerCase() === key) || !net) continue;
        for (const rule of entry.ports) {
          while (usedPriorities.has(denyPriority)) denyPriority--;
          // No free slot above 1000: Defender could not place the Deny; the simulator leaves it out.
          if (denyPriority < JIT_DENY_LOWEST_PRIORITY) continue;
          usedPriorities.add(denyPriority);
          rules.push(
            securityRuleJson(armNsgId, jitDenyName(`${key}:${net.vmId.toLowerCase()}:${rule.number}`), {
              description: `JIT: deny port ${rule.number} to ${net.vm.name} (Microsoft Defender for Cloud)`,
              protocol: nsgProtocol(rule.protocol),
              sourceAddressPrefix: "*",
              destinationAddressPrefix: net.privateIp,
              destinationPortRange: String(rule.number),
              access: "Deny",
              priority: denyPriority--,
              direction: "Inbound",
            }),
          );
        }
      }
    }
    for (const { port, grant } of this.activeGrants()) {
      const placed = grant.rules.find((r) => r.nsgId.toLowerCase() === key);
      if (!placed) continue;
      const many = port.allowedSourceAddressPrefixes;
      rules.push(
        securityRuleJson(armNsgId, placed.ruleName, {
          description: `JIT: allow port ${port.number} until ${port.endTimeUtc} (Microsoft Defender for Cloud)`,
          protocol: grant.protocol,
          ...(many && many.length > 1
            ? { sourceAddressPrefixes: many }
            : { sourceAddressPrefix: port.allowedSourceAddressPrefix ?? "*" }),
          destinationAddressPrefix: grant.destination,
          destinationPortRange: String(port.number),
          access: "Allow",
          priority: placed.priority,
          direction: "Inbound",
        }),
      );
    }
    return rules;
  }

  // ---------------------------------------------------------------- generic ARM resources

  /** A resource or child resource by id (case-insensitive); NSGs come with their live rules. */
  getResource(id: string): Json | undefined {
    const key = id.replace(/\/+$/, "").toLowerCase();
    const stored = this.model.resources.get(key);
    if (stored) {
      if (String(stored.type) !== NSG_TYPE) return stored;
      this.settle(); // an NSG read by id shows JIT's rules as of now, like every other read
      const copy = structuredClone(stored);
      (copy.properties as Json).securityRules = this.nsgRules(key);
      return copy;
    }
    const segments = key.split("/");
    if (segments.length < 11) return undefined; // /subscriptions/s/resourcegroups/rg/providers/ns/type/name/child/name
    const childName = segments.pop() ?? "";
    const childType = segments.pop() ?? "";
    const parent = this.getResource(segments.join("/"));
    const children = parent && childArray(parent, childType);
    return children?.find((c) => String(c.name).toLowerCase() === childName);
  }

  /** A collection: top-level resources of a type in a subscription or group, or a parent's children. */
  listResources(collectionPath: string): Json[] | undefined {
    const path = collectionPath.replace(/\/+$/, "").toLowerCase();
    const sub = `/subscriptions/${this.subscriptionId}`.toLowerCase();
    const bySub = new RegExp(`^${escapeRegExp(sub)}/providers/([^/]+/[^/]+)$`).exec(path);
    if (bySub?.[1]) return this.resourcesOfType(bySub[1]);
    const byRg = new RegExp(`^${escapeRegExp(sub)}/resourcegroups/([^/]+)/providers/([^/]+/[^/]+)$`).exec(
      path,
    );
    if (byRg?.[1] && byRg[2]) {
      const prefix = `${sub}/resourcegroups/${byRg[1]}/`;
      return this.resourcesOfType(byRg[2]).filter((r) => String(r.id).toLowerCase().startsWith(prefix));
    }
    const segments = path.split("/");
    const childType = segments.pop() ?? "";
    const parent = this.getResource(segments.join("/"));
    return parent ? childArray(parent, childType) : undefined;
  }

  resourcesOfType(type: string): Json[] {
    const t = type.toLowerCase();
    return [...this.model.resources.values()]
      .filter((r) => String(r.type).toLowerCase() === t)
      .map((r) => this.getResource(String(r.id)) ?? r);
  }

  allResources(): Json[] {
    return [...this.model.resources.values()];
  }

  fleetVmById(id: string): FleetVm | undefined {
    const key = id.toLowerCase();
    return this.fleet.virtualMachines.find(
      (vm) =>
        resourceId(
          this.subscriptionId,
          vm.resourceGroup,
          "Microsoft.Compute/virtualMachines",
          vm.name,
        ).toLowerCase() === key,
    );
  }

  instanceView(vm: FleetVm): Json {
    return instanceViewJson(vm, this.now());
  }

  // ---------------------------------------------------------------- probe

  /** Would a TCP/UDP connection from `source` to the VM's port pass its NSGs (subnet, then NIC) now? */
  probe(q: {
    source: string;
    vm: string;
    port: number;
    resourceGroup?: string;
    protocol?: "Tcp" | "Udp";
  }): ProbeResult {
    this.settle();
    const matches = [...this.model.vmNetworks.values()].filter(
      (n) =>
        n.vm.name.toLowerCase() === q.vm.toLowerCase() &&
        (q.resourceGroup === undefined || n.vm.resourceGroup.toLowerCase() === q.resourceGroup.toLowerCase()),
    );
    const net = matches[0];
    if (!net) {
      const classic = this.fleet.virtualMachines.some((v) => v.name.toLowerCase() === q.vm.toLowerCase());
      throw classic
        ? new ArmError(400, "ClassicVirtualMachine", `'${q.vm}' is a classic VM; it has no NSG to probe.`)
        : new ArmError(404, "VirtualMachineNotFound", `No ARM virtual machine named '${q.vm}'.`);
    }
    if (matches.length > 1) {
      throw new ArmError(
        400,
        "AmbiguousVirtualMachine",
        `Several VMs are named '${q.vm}'; pass resourceGroup.`,
      );
    }
    if (!parseRange(q.source))
      throw new ArmError(400, "InvalidSource", `'${q.source}' is not an IP address.`);
    const nsgIds = [net.subnetNsgId, net.nicNsgId].filter((x): x is string => x !== undefined);
    if (nsgIds.length === 0) return { allowed: true, reason: "no NSG on NIC or subnet", evaluated: [] };
    const evaluated: { networkSecurityGroup: string; rule: string; access: string; priority: number }[] = [];
    for (const nsgId of nsgIds) {
      const nsg = this.getResource(nsgId);
      const props = (nsg?.properties ?? {}) as Json;
      const rules = [
        ...((props.securityRules as Json[] | undefined) ?? []),
        ...((props.defaultSecurityRules as Json[] | undefined) ?? []),
      ].map(toRuleView);
      const decided = decide(rules, {
        source: q.source,
        destination: net.privateIp,
        port: q.port,
        protocol: q.protocol ?? "Tcp",
        vnetPrefixes: net.vnetPrefixes,
      });
      evaluated.push({
        networkSecurityGroup: String(nsg?.name ?? nsgId),
        rule: decided?.name ?? "(none)",
        access: decided?.access ?? "Deny",
        priority: decided?.priority ?? 0,
      });
      if (decided?.access !== "Allow") break;
    }
    const denied = evaluated.find((e) => e.access !== "Allow");
    const deciding = denied ?? evaluated[evaluated.length - 1];
    return { allowed: denied === undefined, ...(deciding ? { rule: deciding.rule } : {}), evaluated };
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function childArray(parent: Json, childType: string): Json[] | undefined {
  const props = (parent.properties ?? {}) as Json;
  const key = Object.keys(props).find((k) => k.toLowerCase() === childType.toLowerCase());
  const value = key === undefined ? undefined : props[key];
  return Array.isArray(value) ? (value as Json[]) : undefined;
}

function requestJson(r: JitRequest): Json {
  return {
    virtualMachines: r.virtualMachines.map((vm) => ({
      id: vm.id,
      ports: vm.ports.map((p) => ({ ...p })),
    })),
    startTimeUtc: r.startTimeUtc,
    requestor: r.requestor,
    ...(r.justification !== undefined ? { justification: r.justification } : {}),
  };
}
