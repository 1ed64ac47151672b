/**
 * The simulated estate: schema (zod) and loading of env/fleet.json.
 *
 * The fleet file is compact and name-based; state.ts turns it into ARM resources with full ids
 * under `/subscriptions/{subscriptionId}/…`. Names are unique per resource kind across the fleet,
 * so references (a NIC's NSG, a subnet's route table) are plain names.
 *
 * How a client tells the JIT eligibility of a VM from ARM JSON alone (nothing simulator-specific):
 *
 * - Configured: the VM's id appears (case-insensitively) in `properties.virtualMachines[].id` of a
 *   Microsoft.Security jitNetworkAccessPolicies entry. A firewall-fronted VM's entry also carries
 *   `publicIpAddress` (the firewall's); the firewall port for each VM port (`mappedPort`) is not on
 *   the policy's port rules but on request ports: the 202 initiate response and the `requests` history.
 * - Unsupported, classic deployment: the VM is not a Microsoft.Compute resource at all. It is listed by
 *   `GET /subscriptions/{s}/providers/Microsoft.ClassicCompute/virtualMachines` (and by
 *   `GET /subscriptions/{s}/resources`), its id contains `/providers/Microsoft.ClassicCompute/` and its
 *   `type` is `Microsoft.ClassicCompute/virtualMachines`.
 * - Unsupported, firewall managed by a Firewall Policy: the VM's NIC → `ipConfigurations[].properties.subnet`
 *   → subnet `properties.routeTable` → route table route `0.0.0.0/0` with `nextHopType: "VirtualAppliance"`
 *   and `nextHopIpAddress` equal to the `properties.ipConfigurations[].properties.privateIPAddress` of an
 *   `Microsoft.Network/azureFirewalls` resource (`GET /subscriptions/{s}/providers/Microsoft.Network/azureFirewalls`)
 *   whose `properties.firewallPolicy.id` is set. (Firewall with classic rules: same path, no `firewallPolicy`,
 *   rules in `properties.natRuleCollections`; such a VM is Not configured when no policy lists it.)
 * - Unsupported, no NSG: neither the NIC (`properties.networkSecurityGroup`) nor its subnet
 *   (`properties.networkSecurityGroup`) references an NSG, and the VM is not behind a classic-rules firewall.
 * - Not configured: an ARM VM with an NSG on NIC or subnet (or behind a classic-rules firewall) that no
 *   policy lists.
 *
 * The default fleet's subscription is 00000000-0000-4000-8000-00000000c0de (a valid v4 UUID, obviously fake).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

export const DEFAULT_SUBSCRIPTION_ID = "00000000-0000-4000-8000-00000000c0de";

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/, "ARM-style name");
const isoDuration = z.string().regex(/^P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?$/, "ISO 8601 duration");

export const fleetPortRuleSchema = z
  .object({
    number: z.number().int().min(0).max(65535),
    protocol: z.enum(["TCP", "UDP", "*"]).default("*"),
    allowedSourceAddressPrefix: z.string().min(1).optional(),
    allowedSourceAddressPrefixes: z.array(z.string().min(1)).min(1).optional(),
    maxRequestAccessDuration: isoDuration,
  })
  .strict()
  .refine(
    (r) => (r.allowedSourceAddressPrefix === undefined) !== (r.allowedSourceAddressPrefixes === undefined),
    "exactly one of allowedSourceAddressPrefix / allowedSourceAddressPrefixes",
  );

const nsgRuleSchema = z.object({
  name,
  priority: z.number().int().min(100).max(4096),
  direction: z.enum(["Inbound", "Outbound"]).default("Inbound"),
  access: z.enum(["Allow", "Deny"]),
  protocol: z.enum(["Tcp", "Udp", "Icmp", "*"]).default("Tcp"),
  sourceAddressPrefix: z.string().default("*"),
  destinationAddressPrefix: z.string().default("*"),
  destinationPortRange: z.string(),
  description: z.string().optional(),
});

const located = { name, resourceGroup: name, location: z.string().min(1) };

export const fleetSchema = z.object({
  subscriptionId: z.string().uuid(),
  subscriptionName: z.string().default("Simulated subscription"),
  tenantId: z.string().uuid().optional(),
  resourceGroups: z.array(z.object({ name, location: z.string().min(1) })).min(1),
  networkSecurityGroups: z
    .array(z.object({ ...located, rules: z.array(nsgRuleSchema).default([]) }))
    .default([]),
  routeTables: z
    .array(
      z.object({
        ...located,
        routes: z.array(
          z.object({
            name,
            addressPrefix: z.string(),
            nextHopType: z.enum([
              "VirtualAppliance",
              "Internet",
              "VnetLocal",
              "None",
              "VirtualNetworkGateway",
            ]),
            nextHopIpAddress: z.string().ip().optional(),
          }),
        ),
      }),
    )
    .default([]),
  virtualNetworks: z
    .array(
      z.object({
        ...located,
        addressPrefixes: z.array(z.string()).min(1),
        subnets: z.array(
          z.object({
            name,
            addressPrefix: z.string(),
            networkSecurityGroup: name.optional(),
            routeTable: name.optional(),
          }),
        ),
      }),
    )
    .default([]),
  publicIpAddresses: z.array(z.object({ ...located, ipAddress: z.string().ip() })).default([]),
  firewallPolicies: z.array(z.object(located)).default([]),
  azureFirewalls: z
    .array(
      z.object({
        ...located,
        /** "vnet/subnet", normally `AzureFirewallSubnet`. */
        subnet: z.string(),
        privateIpAddress: z.string().ip(),
        publicIpAddress: name,
        /** Set → managed by Azure Firewall Manager / Firewall Policy (JIT unsupported). */
        firewallPolicy: name.optional(),
      }),
    )
    .default([]),
  virtualMachines: z
    .array(
      z.object({
        ...located,
        deployment: z.enum(["ResourceManager", "Classic"]).default("ResourceManager"),
        osType: z.enum(["Linux", "Windows"]),
        vmSize: z.string().default("Standard_B2s"),
        image: z.string().optional(),
        powerState: z.enum(["running", "stopped", "deallocated", "starting"]).default("running"),
        tags: z.record(z.string()).default({}),
        nic: z.object({
          /** "vnet/subnet" */
          subnet: z.string(),
          privateIpAddress: z.string().ip(),
          networkSecurityGroup: name.optional(),
          publicIpAddress: name.optional(),
        }),
      }),
    )
    .min(1),
  jitPolicies: z
    .array(
      z.object({
        name: name.default("default"),
        resourceGroup: name,
        location: z.string().min(1),
        virtualMachines: z.array(
          z.object({
            /** VM name (in the policy's resource group unless `resourceGroup` says otherwise). */
            vm: name,
            resourceGroup: name.optional(),
            /** Firewall-fronted VMs: the firewall's public IP (JitNetworkAccessPolicyVirtualMachine.publicIpAddress). */
            publicIpAddress: z.string().ip().optional(),
            ports: z.array(fleetPortRuleSchema).min(1),
            /**
             * Firewall-fronted VMs: VM port → the firewall port Defender's DNAT uses for it (simulator
             * input only; Azure shows it as `mappedPort` on request ports, never on the policy).
             */
            firewallMappedPorts: z
              .record(z.string().regex(/^\d+$/), z.number().int().min(1).max(65535))
              .optional(),
          }),
        ),
      }),
    )
    .default([]),
});

export type Fleet = z.infer<typeof fleetSchema>;
export type FleetInput = z.input<typeof fleetSchema>;
export type FleetVm = Fleet["virtualMachines"][number];
export type FleetPortRule = z.infer<typeof fleetPortRuleSchema>;

/** The repository root, found from this file's place (src/simulator/). */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DEFAULT_FLEET_PATH = resolve(repoRoot, "env", "fleet.json");

/** Parses and cross-checks a fleet; throws an Error naming the first problem. */
export function parseFleet(input: unknown, source = "fleet"): Fleet {
  const result = fleetSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`${source}: invalid fleet at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "?"}`);
  }
  const fleet = result.data;
  checkReferences(fleet, source);
  return fleet;
}

export function loadFleet(path: string = DEFAULT_FLEET_PATH): Fleet {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`cannot read fleet file ${path}: ${(error as Error).message}`);
  }
  return parseFleet(raw, path);
}

function checkReferences(fleet: Fleet, source: string): void {
  const fail = (message: string): never => {
    throw new Error(`${source}: ${message}`);
  };
  const unique = (kind: string, names: readonly string[]): Set<string> => {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n.toLowerCase())) fail(`duplicate ${kind} name "${n}"`);
      seen.add(n.toLowerCase());
    }
    return seen;
  };
  const rgs = unique(
    "resource group",
    fleet.resourceGroups.map((r) => r.name),
  );
  const nsgs = unique(
    "networkSecurityGroup",
    fleet.networkSecurityGroups.map((n) => n.name),
  );
  const rts = unique(
    "routeTable",
    fleet.routeTables.map((n) => n.name),
  );
  const pips = unique(
    "publicIpAddress",
    fleet.publicIpAddresses.map((n) => n.name),
  );
  const fwps = unique(
    "firewallPolicy",
    fleet.firewallPolicies.map((n) => n.name),
  );
  unique(
    "virtualMachine",
    fleet.virtualMachines.map((n) => n.name),
  );
  const subnets = new Set<string>();
  for (const vnet of fleet.virtualNetworks) {
    for (const s of vnet.subnets) {
      subnets.add(`${vnet.name}/${s.name}`.toLowerCase());
      if (s.networkSecurityGroup && !nsgs.has(s.networkSecurityGroup.toLowerCase()))
        fail(`subnet ${vnet.name}/${s.name}: unknown NSG ${s.networkSecurityGroup}`);
      if (s.routeTable && !rts.has(s.routeTable.toLowerCase()))
        fail(`subnet ${vnet.name}/${s.name}: unknown route table ${s.routeTable}`);
    }
  }
  const all = [
    ...fleet.networkSecurityGroups,
    ...fleet.routeTables,
    ...fleet.virtualNetworks,
    ...fleet.publicIpAddresses,
    ...fleet.firewallPolicies,
    ...fleet.azureFirewalls,
    ...fleet.virtualMachines,
  ];
  for (const r of all) {
    if (!rgs.has(r.resourceGroup.toLowerCase())) fail(`${r.name}: unknown resource group ${r.resourceGroup}`);
  }
  for (const fw of fleet.azureFirewalls) {
    if (!subnets.has(fw.subnet.toLowerCase())) fail(`firewall ${fw.name}: unknown subnet ${fw.subnet}`);
    if (!pips.has(fw.publicIpAddress.toLowerCase())) fail(`firewall ${fw.name}: unknown public IP`);
    if (fw.firewallPolicy && !fwps.has(fw.firewallPolicy.toLowerCase()))
      fail(`firewall ${fw.name}: unknown firewall policy ${fw.firewallPolicy}`);
  }
  for (const vm of fleet.virtualMachines) {
    if (!subnets.has(vm.nic.subnet.toLowerCase())) fail(`VM ${vm.name}: unknown subnet ${vm.nic.subnet}`);
    if (vm.nic.networkSecurityGroup && !nsgs.has(vm.nic.networkSecurityGroup.toLowerCase()))
      fail(`VM ${vm.name}: unknown NSG ${vm.nic.networkSecurityGroup}`);
    if (vm.nic.publicIpAddress && !pips.has(vm.nic.publicIpAddress.toLowerCase()))
      fail(`VM ${vm.name}: unknown public IP ${vm.nic.publicIpAddress}`);
  }
  for (const policy of fleet.jitPolicies) {
    if (!rgs.has(policy.resourceGroup.toLowerCase()))
      fail(`JIT policy ${policy.name}: unknown resource group ${policy.resourceGroup}`);
    for (const entry of policy.virtualMachines) {
      const vm = fleet.virtualMachines.find((v) => v.name.toLowerCase() === entry.vm.toLowerCase());
      if (!vm) fail(`JIT policy ${policy.resourceGroup}/${policy.name}: unknown VM ${entry.vm}`);
      if (vm && vm.deployment === "Classic") fail(`JIT policy: classic VM ${vm.name} cannot be in a policy`);
      const mapped = Object.keys(entry.firewallMappedPorts ?? {}).map(Number);
      if (entry.publicIpAddress !== undefined) {
        const missing = entry.ports
          .filter((rule) => !mapped.includes(rule.number))
          .map((rule) => rule.number);
        if (missing.length > 0)
          fail(
            `JIT policy entry ${entry.vm}: firewall-fronted, but no firewallMappedPorts for port ${missing.join(", ")}`,
          );
      } else if (mapped.length > 0) {
        fail(`JIT policy entry ${entry.vm}: firewallMappedPorts without the firewall's publicIpAddress`);
      }
    }
  }
}
