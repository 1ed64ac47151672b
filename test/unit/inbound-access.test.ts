import { describe, expect, it } from "vitest";
import { type InboundPath, type InboundRule, inboundAccess } from "../../src/domain/inbound-access.ts";

const rule = (
  name: string,
  priority: number,
  access: "Allow" | "Deny",
  source: string,
  port: string,
  extra: Partial<InboundRule> = {},
): InboundRule => ({
  name,
  priority,
  access,
  protocol: "Tcp",
  sourcePrefixes: [source],
  destinationPrefixes: ["*"],
  destinationPorts: [port],
  ...extra,
});

const DEFAULTS: InboundRule[] = [
  rule("AllowVnetInBound", 65000, "Allow", "VirtualNetwork", "*", {
    protocol: "*",
    destinationPrefixes: ["VirtualNetwork"],
  }),
  rule("AllowAzureLoadBalancerInBound", 65001, "Allow", "AzureLoadBalancer", "*", { protocol: "*" }),
  rule("DenyAllInBound", 65500, "Deny", "*", "*", { protocol: "*" }),
];
const JIT_DENY = rule("SecurityCenter-JITRule_-1_abc", 4096, "Deny", "*", "22", {
  protocol: "*",
  destinationPrefixes: ["10.0.1.4"],
});

function path(nic: InboundRule[] | undefined, subnet?: InboundRule[]): InboundPath {
  return {
    privateIp: "10.0.1.4",
    vnetPrefixes: ["10.0.0.0/16"],
    nsgs: [
      ...(subnet ? [{ name: "nsg-subnet", rules: [...subnet, ...DEFAULTS] }] : []),
      ...(nic ? [{ name: "nsg-nic", rules: [...nic, ...DEFAULTS] }] : []),
    ],
  };
}

describe("effective inbound access, as Azure evaluates NSGs", () => {
  it("JIT's Deny alone → closed", () => {
    expect(inboundAccess([path([JIT_DENY])], "203.0.113.7", 22)).toEqual({ reachable: false });
  });
  it("an Allow 22 from Internet at 300 outranks JIT's Deny at 4096 → reachable, named", () => {
    const verdict = inboundAccess(
      [path([JIT_DENY, rule("Allow-SSH", 300, "Allow", "Internet", "22")])],
      "203.0.113.7",
      22,
    );
    expect(verdict).toEqual({
      reachable: true,
      via: [{ nsgName: "nsg-nic", ruleName: "Allow-SSH", priority: 300, certain: true }],
    });
  });
  it("a broader CIDR, *, a port range, 'Any' all count; a rule below JIT's Deny does not", () => {
    for (const [source, port] of [
      ["198.51.100.0/24", "22"],
      ["*", "22"],
      ["Any", "20-30"],
      ["0.0.0.0/0", "*"],
    ] as const) {
      expect(
        inboundAccess([path([JIT_DENY, rule("wide", 200, "Allow", source, port)])], "198.51.100.7", 22)
          .reachable,
      ).toBe(true);
    }
    expect(
      inboundAccess([path([JIT_DENY, rule("late", 4097, "Allow", "*", "22")])], "198.51.100.7", 22).reachable,
    ).toBe(false);
  });
  it("another address, port or protocol is not let in; VirtualNetwork does not cover a public address", () => {
    const nsg = [JIT_DENY, rule("one", 200, "Allow", "198.51.100.9", "22")];
    expect(inboundAccess([path(nsg)], "198.51.100.7", 22).reachable).toBe(false);
    expect(
      inboundAccess([path([rule("rdp", 200, "Allow", "*", "3389"), JIT_DENY])], "198.51.100.7", 22).reachable,
    ).toBe(false);
    expect(
      inboundAccess(
        [path([rule("udp", 200, "Allow", "*", "22", { protocol: "Udp" }), JIT_DENY])],
        "198.51.100.7",
        22,
      ).reachable,
    ).toBe(false);
    expect(
      inboundAccess(
        [path([rule("vnet", 200, "Allow", "VirtualNetwork", "22"), JIT_DENY])],
        "198.51.100.7",
        22,
      ).reachable,
    ).toBe(false);
  });
  it("subnet NSG then NIC NSG: both must allow; the subnet's Deny wins over the NIC's Allow", () => {
    const allow = rule("Allow-SSH", 300, "Allow", "Internet", "22");
    expect(inboundAccess([path([allow], [JIT_DENY])], "203.0.113.7", 22).reachable).toBe(false);
    expect(inboundAccess([path([JIT_DENY], [allow])], "203.0.113.7", 22).reachable).toBe(false);
    const both = inboundAccess(
      [path([allow], [rule("Subnet-SSH", 310, "Allow", "*", "22")])],
      "203.0.113.7",
      22,
    );
    expect(both.reachable && both.via.map((via) => `${via.nsgName}/${via.ruleName}`)).toEqual([
      "nsg-subnet/Subnet-SSH",
      "nsg-nic/Allow-SSH",
    ]);
  });
  it("a rule scoped to another VM's address does not apply", () => {
    const other = rule("other-vm", 200, "Allow", "*", "22", { destinationPrefixes: ["10.0.1.5"] });
    expect(inboundAccess([path([other, JIT_DENY])], "203.0.113.7", 22).reachable).toBe(false);
  });
  it("what cannot be evaluated never reads as closed: an unknown service tag or a destination group may let it in; such a Deny does not keep it out", () => {
    const tagged = inboundAccess(
      [path([rule("cloud", 200, "Allow", "AzureCloud", "22"), JIT_DENY])],
      "203.0.113.7",
      22,
    );
    expect(tagged.reachable && tagged.via[0]?.certain).toBe(false);
    const asg = inboundAccess(
      [
        path([
          rule("asg", 200, "Allow", "*", "22", {
            destinationPrefixes: [],
            destinationApplicationSecurityGroups: true,
          }),
          JIT_DENY,
        ]),
      ],
      "203.0.113.7",
      22,
    );
    expect(asg.reachable).toBe(true);
    const taggedDeny = inboundAccess(
      [path([rule("deny-cloud", 100, "Deny", "AzureCloud", "22"), rule("ssh", 200, "Allow", "*", "22")])],
      "203.0.113.7",
      22,
    );
    expect(taggedDeny.reachable).toBe(true);
  });
  it("a CIDR source: an Allow that covers part of it counts; a Deny must cover all of it", () => {
    expect(
      inboundAccess([path([rule("part", 200, "Allow", "203.0.113.7", "22"), JIT_DENY])], "203.0.113.0/24", 22)
        .reachable,
    ).toBe(true);
    expect(
      inboundAccess(
        [path([rule("deny-part", 100, "Deny", "203.0.113.7", "22"), rule("ssh", 200, "Allow", "*", "22")])],
        "203.0.113.0/24",
        22,
      ).reachable,
    ).toBe(true);
  });
  it("no NSG on the path → reachable (nothing filters it); any path in → reachable", () => {
    expect(inboundAccess([path(undefined)], "203.0.113.7", 22)).toEqual({ reachable: true, via: [] });
    expect(inboundAccess([path([JIT_DENY]), path(undefined)], "203.0.113.7", 22).reachable).toBe(true);
  });
});
