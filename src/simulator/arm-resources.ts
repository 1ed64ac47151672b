/**
 * Builds the static ARM JSON of the fleet's Compute and Network resources, keyed by lower-cased id.
 * NSG security rules are not static (JIT adds and removes rules); state.ts renders them on read.
 */
import { createHash } from "node:crypto";
import type { Fleet, FleetVm } from "./fleet.ts";

export type Json = Record<string, unknown>;

export interface VmNetwork {
  readonly vm: FleetVm;
  readonly vmId: string;
  readonly nicId: string;
  readonly subnetId: string;
  readonly privateIp: string;
  readonly vnetPrefixes: readonly string[];
  /** NSGs filtering inbound traffic, subnet first then NIC (the order Azure evaluates inbound). */
  readonly subnetNsgId?: string;
  readonly nicNsgId?: string;
}

export interface ArmModel {
  readonly resources: Map<string, Json>;
  readonly vmNetworks: Map<string, VmNetwork>;
  /** Custom (fleet) rules per NSG id (lower-case), ARM JSON. */
  readonly nsgCustomRules: Map<string, Json[]>;
}

export const NSG_TYPE = "Microsoft.Network/networkSecurityGroups";

export function rgId(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;
}

export function resourceId(
  subscriptionId: string,
  resourceGroup: string,
  type: string,
  name: string,
): string {
  return `${rgId(subscriptionId, resourceGroup)}/providers/${type}/${name}`;
}

/** Deterministic GUID-shaped value, so ids and etags are stable across restarts. */
export function stableGuid(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function etag(seed: string): string {
  return `W/"${stableGuid(`etag:${seed}`)}"`;
}

function ref(id: string | undefined): { id: string } | undefined {
  return id === undefined ? undefined : { id };
}

/** Drops undefined values so JSON has no `"x": null` surprises and exactOptionalPropertyTypes is happy. */
function clean(o: Json): Json {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export function buildArmModel(fleet: Fleet): ArmModel {
  const sub = fleet.subscriptionId;
  const resources = new Map<string, Json>();
  const vmNetworks = new Map<string, VmNetwork>();
  const nsgCustomRules = new Map<string, Json[]>();
  const put = (json: Json): void => {
    resources.set(String(json.id).toLowerCase(), json);
  };
  const byName = <T extends { name: string }>(list: readonly T[], n: string): T | undefined =>
    list.find((x) => x.name.toLowerCase() === n.toLowerCase());
  const idOf = (
    type: string,
    list: readonly { name: string; resourceGroup: string }[],
    n: string,
  ): string => {
    const r = byName(list, n);
    if (!r) throw new Error(`unknown ${type} ${n}`);
    return resourceId(sub, r.resourceGroup, type, r.name);
  };
  const nsgId = (n: string) => idOf(NSG_TYPE, fleet.networkSecurityGroups, n);
  const pipId = (n: string) => idOf("Microsoft.Network/publicIPAddresses", fleet.publicIpAddresses, n);
  const rtId = (n: string) => idOf("Microsoft.Network/routeTables", fleet.routeTables, n);
  const subnetId = (path: string): string => {
    const [vnetName = "", subnetName = ""] = path.split("/");
    const vnet = byName(fleet.virtualNetworks, vnetName);
    const subnet = vnet && byName(vnet.subnets, subnetName);
    if (!vnet || !subnet) throw new Error(`unknown subnet ${path}`);
    return `${resourceId(sub, vnet.resourceGroup, "Microsoft.Network/virtualNetworks", vnet.name)}/subnets/${subnet.name}`;
  };
  const armVms = fleet.virtualMachines.filter((vm) => vm.deployment === "ResourceManager");
  const nicIdOf = (vm: FleetVm) =>
    resourceId(sub, vm.resourceGroup, "Microsoft.Network/networkInterfaces", `${vm.name}-nic`);
  const ipConfigIdOf = (vm: FleetVm) => `${nicIdOf(vm)}/ipConfigurations/ipconfig1`;

  // ---- network security groups (rules rendered later by state.ts)
  for (const nsg of fleet.networkSecurityGroups) {
    const id = nsgId(nsg.name);
    nsgCustomRules.set(
      id.toLowerCase(),
      nsg.rules.map((r) =>
        securityRuleJson(id, r.name, {
          description: r.description,
          protocol: r.protocol,
          sourceAddressPrefix: r.sourceAddressPrefix,
          destinationAddressPrefix: r.destinationAddressPrefix,
          destinationPortRange: r.destinationPortRange,
          access: r.access,
          priority: r.priority,
          direction: r.direction,
        }),
      ),
    );
    const subnets = fleet.virtualNetworks.flatMap((v) =>
      v.subnets
        .filter((s) => s.networkSecurityGroup?.toLowerCase() === nsg.name.toLowerCase())
        .map((s) => ({ id: subnetId(`${v.name}/${s.name}`) })),
    );
    const nics = armVms
      .filter((vm) => vm.nic.networkSecurityGroup?.toLowerCase() === nsg.name.toLowerCase())
      .map((vm) => ({ id: nicIdOf(vm) }));
    put({
      name: nsg.name,
      id,
      etag: etag(id),
      type: NSG_TYPE,
      location: nsg.location,
      properties: clean({
        provisioningState: "Succeeded",
        resourceGuid: stableGuid(id),
        securityRules: [],
        defaultSecurityRules: defaultSecurityRules(id),
        networkInterfaces: nics.length > 0 ? nics : undefined,
        subnets: subnets.length > 0 ? subnets : undefined,
      }),
    });
  }

  // ---- route tables
  for (const rt of fleet.routeTables) {
    const id = rtId(rt.name);
    put({
      name: rt.name,
      id,
      etag: etag(id),
      type: "Microsoft.Network/routeTables",
      location: rt.location,
      properties: {
        provisioningState: "Succeeded",
        disableBgpRoutePropagation: false,
        routes: rt.routes.map((r) => ({
          name: r.name,
          id: `${id}/routes/${r.name}`,
          etag: etag(`${id}/routes/${r.name}`),
          type: "Microsoft.Network/routeTables/routes",
          properties: clean({
            provisioningState: "Succeeded",
            addressPrefix: r.addressPrefix,
            nextHopType: r.nextHopType,
            nextHopIpAddress: r.nextHopIpAddress,
          }),
        })),
        subnets: fleet.virtualNetworks.flatMap((v) =>
          v.subnets
            .filter((s) => s.routeTable?.toLowerCase() === rt.name.toLowerCase())
            .map((s) => ({ id: subnetId(`${v.name}/${s.name}`) })),
        ),
      },
    });
  }

  // ---- virtual networks and subnets
  for (const vnet of fleet.virtualNetworks) {
    const id = resourceId(sub, vnet.resourceGroup, "Microsoft.Network/virtualNetworks", vnet.name);
    const subnets = vnet.subnets.map((s) => {
      const sid = `${id}/subnets/${s.name}`;
      const ipConfigs = armVms
        .filter((vm) => vm.nic.subnet.toLowerCase() === `${vnet.name}/${s.name}`.toLowerCase())
        .map((vm) => ({ id: ipConfigIdOf(vm) }));
      const firewallConfigs = fleet.azureFirewalls
        .filter((fw) => fw.subnet.toLowerCase() === `${vnet.name}/${s.name}`.toLowerCase())
        .map((fw) => ({
          id: `${resourceId(sub, fw.resourceGroup, "Microsoft.Network/azureFirewalls", fw.name)}/azureFirewallIpConfigurations/ipconfig1`,
        }));
      const allConfigs = [...ipConfigs, ...firewallConfigs];
      return {
        name: s.name,
        id: sid,
        etag: etag(sid),
        type: "Microsoft.Network/virtualNetworks/subnets",
        properties: clean({
          provisioningState: "Succeeded",
          addressPrefix: s.addressPrefix,
          networkSecurityGroup: ref(s.networkSecurityGroup && nsgId(s.networkSecurityGroup)),
          routeTable: ref(s.routeTable && rtId(s.routeTable)),
          ipConfigurations: allConfigs.length > 0 ? allConfigs : undefined,
          privateEndpointNetworkPolicies: "Disabled",
          privateLinkServiceNetworkPolicies: "Enabled",
        }),
      };
    });
    put({
      name: vnet.name,
      id,
      etag: etag(id),
      type: "Microsoft.Network/virtualNetworks",
      location: vnet.location,
      properties: {
        provisioningState: "Succeeded",
        resourceGuid: stableGuid(id),
        addressSpace: { addressPrefixes: vnet.addressPrefixes },
        subnets,
        virtualNetworkPeerings: [],
        enableDdosProtection: false,
      },
    });
  }

  // ---- public IPs (ipConfiguration back-reference filled below)
  const pipOwner = new Map<string, string>();
  for (const vm of armVms)
    if (vm.nic.publicIpAddress) pipOwner.set(pipId(vm.nic.publicIpAddress), ipConfigIdOf(vm));
  for (const fw of fleet.azureFirewalls) {
    pipOwner.set(
      pipId(fw.publicIpAddress),
      `${resourceId(sub, fw.resourceGroup, "Microsoft.Network/azureFirewalls", fw.name)}/azureFirewallIpConfigurations/ipconfig1`,
    );
  }
  for (const pip of fleet.publicIpAddresses) {
    const id = pipId(pip.name);
    put({
      name: pip.name,
      id,
      etag: etag(id),
      type: "Microsoft.Network/publicIPAddresses",
      location: pip.location,
      sku: { name: "Standard", tier: "Regional" },
      properties: clean({
        provisioningState: "Succeeded",
        resourceGuid: stableGuid(id),
        ipAddress: pip.ipAddress,
        publicIPAddressVersion: "IPv4",
        publicIPAllocationMethod: "Static",
        idleTimeoutInMinutes: 4,
        ipConfiguration: ref(pipOwner.get(id)),
      }),
    });
  }

  // ---- firewall policies and firewalls
  for (const fwp of fleet.firewallPolicies) {
    const id = resourceId(sub, fwp.resourceGroup, "Microsoft.Network/firewallPolicies", fwp.name);
    put({
      name: fwp.name,
      id,
      etag: etag(id),
      type: "Microsoft.Network/firewallPolicies",
      location: fwp.location,
      properties: {
        provisioningState: "Succeeded",
        sku: { tier: "Standard" },
        threatIntelMode: "Alert",
        ruleCollectionGroups: [],
        firewalls: fleet.azureFirewalls
          .filter((fw) => fw.firewallPolicy?.toLowerCase() === fwp.name.toLowerCase())
          .map((fw) => ({
            id: resourceId(sub, fw.resourceGroup, "Microsoft.Network/azureFirewalls", fw.name),
          })),
      },
    });
  }
  for (const fw of fleet.azureFirewalls) {
    const id = resourceId(sub, fw.resourceGroup, "Microsoft.Network/azureFirewalls", fw.name);
    const policy = fw.firewallPolicy ? byName(fleet.firewallPolicies, fw.firewallPolicy) : undefined;
    put({
      name: fw.name,
      id,
      etag: etag(id),
      type: "Microsoft.Network/azureFirewalls",
      location: fw.location,
      properties: clean({
        provisioningState: "Succeeded",
        sku: { name: "AZFW_VNet", tier: "Standard" },
        threatIntelMode: "Alert",
        ipConfigurations: [
          {
            name: "ipconfig1",
            id: `${id}/azureFirewallIpConfigurations/ipconfig1`,
            etag: etag(`${id}/ipconfig1`),
            type: "Microsoft.Network/azureFirewalls/azureFirewallIpConfigurations",
            properties: {
              provisioningState: "Succeeded",
              privateIPAddress: fw.privateIpAddress,
              subnet: { id: subnetId(fw.subnet) },
              publicIPAddress: { id: pipId(fw.publicIpAddress) },
            },
          },
        ],
        // A policy-managed firewall carries its rules in the policy, not here (classic rule collections are empty).
        firewallPolicy: ref(
          policy && resourceId(sub, policy.resourceGroup, "Microsoft.Network/firewallPolicies", policy.name),
        ),
        natRuleCollections: policy ? undefined : [],
        networkRuleCollections: policy ? undefined : [],
        applicationRuleCollections: policy ? undefined : [],
      }),
    });
  }

  // ---- VMs and NICs
  for (const vm of fleet.virtualMachines) {
    if (vm.deployment === "Classic") {
      put(classicVmJson(sub, vm));
      continue;
    }
    const vmId = resourceId(sub, vm.resourceGroup, "Microsoft.Compute/virtualMachines", vm.name);
    const nicId = nicIdOf(vm);
    const sid = subnetId(vm.nic.subnet);
    const vnet = byName(fleet.virtualNetworks, vm.nic.subnet.split("/")[0] ?? "");
    const subnet = vnet && byName(vnet.subnets, vm.nic.subnet.split("/")[1] ?? "");
    const nicNsg = vm.nic.networkSecurityGroup ? nsgId(vm.nic.networkSecurityGroup) : undefined;
    const subnetNsg = subnet?.networkSecurityGroup ? nsgId(subnet.networkSecurityGroup) : undefined;
    vmNetworks.set(vmId.toLowerCase(), {
      vm,
      vmId,
      nicId,
      subnetId: sid,
      privateIp: vm.nic.privateIpAddress,
      vnetPrefixes: vnet?.addressPrefixes ?? [],
      ...(subnetNsg ? { subnetNsgId: subnetNsg } : {}),
      ...(nicNsg ? { nicNsgId: nicNsg } : {}),
    });
    put({
      name: `${vm.name}-nic`,
      id: nicId,
      etag: etag(nicId),
      type: "Microsoft.Network/networkInterfaces",
      location: vm.location,
      tags: {},
      properties: clean({
        provisioningState: "Succeeded",
        resourceGuid: stableGuid(nicId),
        ipConfigurations: [
          {
            name: "ipconfig1",
            id: ipConfigIdOf(vm),
            etag: etag(ipConfigIdOf(vm)),
            type: "Microsoft.Network/networkInterfaces/ipConfigurations",
            properties: clean({
              provisioningState: "Succeeded",
              privateIPAddress: vm.nic.privateIpAddress,
              privateIPAllocationMethod: "Dynamic",
              privateIPAddressVersion: "IPv4",
              subnet: { id: sid },
              publicIPAddress: ref(vm.nic.publicIpAddress && pipId(vm.nic.publicIpAddress)),
              primary: true,
            }),
          },
        ],
        dnsSettings: { dnsServers: [], appliedDnsServers: [] },
        macAddress: macFrom(nicId),
        enableAcceleratedNetworking: false,
        enableIPForwarding: false,
        networkSecurityGroup: ref(nicNsg),
        primary: true,
        virtualMachine: { id: vmId },
        nicType: "Standard",
      }),
    });
    put(vmJson(sub, vm, vmId, nicId));
  }
  return { resources, vmNetworks, nsgCustomRules };
}

function macFrom(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex").toUpperCase();
  return `00-0D-3A-${h.slice(0, 2)}-${h.slice(2, 4)}-${h.slice(4, 6)}`;
}

export function securityRuleJson(nsgId: string, name: string, p: Json): Json {
  const id = `${nsgId}/securityRules/${name}`;
  return {
    name,
    id,
    etag: etag(`${id}:${String(p.priority)}:${String(p.sourceAddressPrefix ?? "")}`),
    type: "Microsoft.Network/networkSecurityGroups/securityRules",
    properties: clean({
      provisioningState: "Succeeded",
      sourcePortRange: "*",
      sourcePortRanges: [],
      destinationPortRanges: [],
      sourceAddressPrefixes: [],
      destinationAddressPrefixes: [],
      ...p,
    }),
  };
}

function defaultSecurityRules(nsgId: string): Json[] {
  const rule = (
    name: string,
    description: string,
    priority: number,
    direction: string,
    access: string,
    source: string,
    destination: string,
  ): Json => {
    const id = `${nsgId}/defaultSecurityRules/${name}`;
    return {
      name,
      id,
      etag: etag(id),
      type: "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
      properties: {
        provisioningState: "Succeeded",
        description,
        protocol: "*",
        sourcePortRange: "*",
        destinationPortRange: "*",
        sourceAddressPrefix: source,
        destinationAddressPrefix: destination,
        access,
        priority,
        direction,
        sourcePortRanges: [],
        destinationPortRanges: [],
        sourceAddressPrefixes: [],
        destinationAddressPrefixes: [],
      },
    };
  };
  return [
    rule(
      "AllowVnetInBound",
      "Allow inbound traffic from all VMs in VNET",
      65000,
      "Inbound",
      "Allow",
      "VirtualNetwork",
      "VirtualNetwork",
    ),
    rule(
      "AllowAzureLoadBalancerInBound",
      "Allow inbound traffic from azure load balancer",
      65001,
      "Inbound",
      "Allow",
      "AzureLoadBalancer",
      "*",
    ),
    rule("DenyAllInBound", "Deny all inbound traffic", 65500, "Inbound", "Deny", "*", "*"),
    rule(
      "AllowVnetOutBound",
      "Allow outbound traffic from all VMs to all VMs in VNET",
      65000,
      "Outbound",
      "Allow",
      "VirtualNetwork",
      "VirtualNetwork",
    ),
    rule(
      "AllowInternetOutBound",
      "Allow outbound traffic from all VMs to Internet",
      65001,
      "Outbound",
      "Allow",
      "*",
      "Internet",
    ),
    rule("DenyAllOutBound", "Deny all outbound traffic", 65500, "Outbound", "Deny", "*", "*"),
  ];
}

const IMAGES: Record<string, Json> = {
  Linux: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
  Windows: {
    publisher: "MicrosoftWindowsServer",
    offer: "WindowsServer",
    sku: "2022-datacenter-azure-edition",
    version: "latest",
  },
};

function imageReference(vm: FleetVm): Json {
  if (!vm.image) return IMAGES[vm.osType] ?? {};
  const [publisher, offer, sku] = vm.image.split(":");
  return { publisher, offer, sku, version: "latest" };
}

function vmJson(sub: string, vm: FleetVm, vmId: string, nicId: string): Json {
  const diskName = `${vm.name}_OsDisk_1_${stableGuid(vmId).replaceAll("-", "").slice(0, 32)}`;
  return {
    name: vm.name,
    id: vmId,
    type: "Microsoft.Compute/virtualMachines",
    location: vm.location,
    tags: vm.tags,
    properties: {
      vmId: stableGuid(vmId),
      hardwareProfile: { vmSize: vm.vmSize },
      storageProfile: {
        imageReference: imageReference(vm),
        osDisk: {
          osType: vm.osType,
          name: diskName,
          createOption: "FromImage",
          caching: "ReadWrite",
          managedDisk: {
            storageAccountType: "Premium_LRS",
            id: resourceId(sub, vm.resourceGroup, "Microsoft.Compute/disks", diskName),
          },
          deleteOption: "Delete",
          diskSizeGB: vm.osType === "Windows" ? 127 : 30,
        },
        dataDisks: [],
      },
      osProfile:
        vm.osType === "Windows"
          ? {
              computerName: vm.name,
              adminUsername: "azureadmin",
              windowsConfiguration: { provisionVMAgent: true, enableAutomaticUpdates: true },
              secrets: [],
              allowExtensionOperations: true,
            }
          : {
              computerName: vm.name,
              adminUsername: "azureuser",
              linuxConfiguration: { disablePasswordAuthentication: true, provisionVMAgent: true },
              secrets: [],
              allowExtensionOperations: true,
            },
      networkProfile: { networkInterfaces: [{ id: nicId, properties: { primary: true } }] },
      diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      provisioningState: "Succeeded",
      timeCreated: "2024-03-11T09:14:27.1234567+00:00",
    },
  };
}

const POWER_DISPLAY: Record<string, string> = {
  running: "VM running",
  stopped: "VM stopped",
  deallocated: "VM deallocated",
  starting: "VM starting",
};

/** `GET …/virtualMachines/{vm}/instanceView` body; also embedded under properties.instanceView on `$expand=instanceView`. */
export function instanceViewJson(vm: FleetVm, now: Date): Json {
  return {
    computerName: vm.name,
    osName: vm.osType === "Windows" ? "Windows Server 2022 Datacenter Azure Edition" : "ubuntu",
    osVersion: vm.osType === "Windows" ? "10.0.20348" : "24.04",
    vmAgent: vm.powerState === "running" ? { vmAgentVersion: "2.10.0.8", statuses: [] } : undefined,
    statuses: [
      {
        code: "ProvisioningState/succeeded",
        level: "Info",
        displayStatus: "Provisioning succeeded",
        time: now.toISOString(),
      },
      { code: `PowerState/${vm.powerState}`, level: "Info", displayStatus: POWER_DISPLAY[vm.powerState] },
    ],
  };
}

function classicVmJson(sub: string, vm: FleetVm): Json {
  const id = resourceId(sub, vm.resourceGroup, "Microsoft.ClassicCompute/virtualMachines", vm.name);
  return {
    id,
    name: vm.name,
    type: "Microsoft.ClassicCompute/virtualMachines",
    location: vm.location,
    tags: vm.tags,
    properties: {
      instanceView: {
        status: vm.powerState === "running" ? "ReadyRole" : "StoppedDeallocated",
        powerState: vm.powerState === "running" ? "Started" : "Stopped",
        privateIpAddress: vm.nic.privateIpAddress,
        fullyQualifiedDomainName: `${vm.name}.cloudapp.net`,
      },
      domainName: {
        id: resourceId(sub, vm.resourceGroup, "Microsoft.ClassicCompute/domainNames", vm.name),
        name: vm.name,
        type: "Microsoft.ClassicCompute/domainNames",
      },
      hardwareProfile: { size: vm.vmSize, platformGuestAgent: true, deploymentName: vm.name },
      storageProfile: { operatingSystemDisk: { operatingSystem: vm.osType, caching: "ReadWrite" } },
      networkProfile: { inputEndpoints: [] },
      provisioningState: "Succeeded",
    },
  };
}
