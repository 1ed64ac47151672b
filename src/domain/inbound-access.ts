/**
 * Effective inbound access, as Azure evaluates NSGs: for traffic from the Internet to a VM, the
 * subnet's NSG first, then the NIC's; in each, rules by ascending priority, the first match
 * decides; the traffic gets in only when every NSG on the path allows it. Pure.
 *
 * What cannot be known here is treated so as never to report "closed" wrongly: an Allow rule that
 * may match (a service tag other than the ones below, an application security group as
 * destination, a source CIDR that only overlaps) counts as letting the address in; a Deny rule
 * that may match counts as not matching.
 */
import type ipaddr from "ipaddr.js";
import { parseRange } from "./address.ts";

export interface InboundRule {
  readonly name: string;
  readonly priority: number;
  readonly access: "Allow" | "Deny";
  /** "Tcp", "Udp", "Icmp", "*" … */
  readonly protocol: string;
  /** Prefixes and service tags; empty when the rule names application security groups instead. */
  readonly sourcePrefixes: readonly string[];
  readonly destinationPrefixes: readonly string[];
  /** "22", "1000-2000", "*". */
  readonly destinationPorts: readonly string[];
  readonly sourceApplicationSecurityGroups?: boolean;
  readonly destinationApplicationSecurityGroups?: boolean;
}

export interface NsgView {
  readonly name: string;
  /** Inbound rules, the custom and the default ones. */
  readonly rules: readonly InboundRule[];
}

/** One way in: a NIC's IP configuration with the NSGs on its subnet and on the NIC, in that order. */
export interface InboundPath {
  readonly privateIp: string;
  /** The virtual network's address space, for the VirtualNetwork tag. */
  readonly vnetPrefixes: readonly string[];
  readonly nsgs: readonly NsgView[];
}

export interface LettingIn {
  readonly nsgName: string;
  readonly ruleName: string;
  readonly priority: number;
  /** False when the rule only may match (a tag or group not evaluated here). */
  readonly certain: boolean;
}

export type InboundVerdict =
  | { readonly reachable: false }
  /** `via` is empty when the path has no NSG at all. */
  | { readonly reachable: true; readonly via: readonly LettingIn[] };

type Match = 0 | 1 | 2; // no, maybe, yes
const NO: Match = 0;
const MAYBE: Match = 1;
const YES: Match = 2;

const PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];
const AZURE_LOAD_BALANCER = ["168.63.129.16/32"];
const ANY = new Set(["*", "any", "0.0.0.0/0", "::/0"]);

type Range = NonNullable<ReturnType<typeof parseRange>>;

function contains(outer: Range, inner: Range): boolean {
  const [outerAddr, outerBits] = outer;
  const [innerAddr, innerBits] = inner;
  if (outerAddr.kind() !== innerAddr.kind() || innerBits < outerBits) return false;
  return (innerAddr as ipaddr.IPv4).match(outerAddr as ipaddr.IPv4, outerBits);
}

/** How `source` (an address or CIDR) relates to a list of prefixes: inside one, overlapping, apart. */
function within(source: Range, prefixes: readonly string[]): Match {
  let best: Match = NO;
  for (const prefix of prefixes) {
    const range = parseRange(prefix);
    if (!range) continue;
    if (contains(range, source)) return YES;
    if (contains(source, range)) best = MAYBE;
  }
  return best;
}

function prefixMatch(prefix: string, address: Range, vnetPrefixes: readonly string[]): Match {
  const tag = prefix.trim().toLowerCase();
  if (ANY.has(tag)) return YES;
  if (tag === "internet") {
    const inside = within(address, [...PRIVATE, ...vnetPrefixes]);
    return inside === YES ? NO : inside === MAYBE ? MAYBE : YES;
  }
  if (tag === "virtualnetwork") return within(address, vnetPrefixes);
  if (tag === "azureloadbalancer") return within(address, AZURE_LOAD_BALANCER);
  if (parseRange(prefix)) return within(address, [prefix]);
  return MAYBE; // another service tag: not evaluated here
}

function portMatch(range: string, port: number): Match {
  if (range.trim() === "*") return YES;
  const [from, to] = range.split("-").map((part) => Number(part.trim()));
  if (from === undefined || Number.isNaN(from)) return NO;
  return port >= from && port <= (to === undefined || Number.isNaN(to) ? from : to) ? YES : NO;
}

function best(values: readonly Match[]): Match {
  return values.reduce<Match>((a, b) => (b > a ? b : a), NO);
}

function ruleMatch(
  rule: InboundRule,
  source: Range,
  destination: Range,
  path: InboundPath,
  port: number,
): Match {
  const protocol = rule.protocol.trim().toLowerCase();
  if (protocol !== "*" && protocol !== "tcp") return NO;
  const ports = best(rule.destinationPorts.map((range) => portMatch(range, port)));
  // The requester's public address is never a NIC in the virtual network, so never in a source ASG.
  const from = best(rule.sourcePrefixes.map((prefix) => prefixMatch(prefix, source, path.vnetPrefixes)));
  const to = rule.destinationApplicationSecurityGroups
    ? MAYBE
    : best(rule.destinationPrefixes.map((prefix) => prefixMatch(prefix, destination, path.vnetPrefixes)));
  return Math.min(ports, from, to) as Match;
}

/** The rule of one NSG that decides, or undefined when none matches (Azure's DenyAllInBound then). */
function decide(nsg: NsgView, source: Range, destination: Range, path: InboundPath, port: number) {
  const ordered = [...nsg.rules].sort((a, b) => a.priority - b.priority);
  for (const rule of ordered) {
    const match = ruleMatch(rule, source, destination, path, port);
    if (rule.access === "Allow" && match >= MAYBE) return { rule, certain: match === YES };
    if (rule.access === "Deny" && match === YES) return { rule, certain: true };
  }
  return undefined;
}

/**
 * Can `source` (the requester's address or CIDR) reach TCP `port` on the VM by any of its paths?
 * Reachable names the rules that let it in, subnet NSG first.
 */
export function inboundAccess(paths: readonly InboundPath[], source: string, port: number): InboundVerdict {
  const from = parseRange(source);
  if (!from) return { reachable: true, via: [] }; // cannot say it is closed
  for (const path of paths) {
    const to = parseRange(path.privateIp);
    if (!to) continue;
    const via: LettingIn[] = [];
    let allowed = true;
    for (const nsg of path.nsgs) {
      const decided = decide(nsg, from, to, path, port);
      if (decided?.rule.access !== "Allow") {
        allowed = false;
        break;
      }
      via.push({
        nsgName: nsg.name,
        ruleName: decided.rule.name,
        priority: decided.rule.priority,
        certain: decided.certain,
      });
    }
    if (allowed) return { reachable: true, via };
  }
  return { reachable: false };
}
