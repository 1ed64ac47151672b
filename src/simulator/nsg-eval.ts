/** Inbound NSG evaluation as Azure does it: rules by ascending priority, first match decides. Pure. */
import { parseRange, rangeContains } from "./prefixes.ts";

export interface RuleView {
  readonly name: string;
  readonly priority: number;
  readonly direction: string;
  readonly access: string;
  readonly protocol: string;
  readonly sourceAddressPrefixes: readonly string[];
  readonly destinationAddressPrefixes: readonly string[];
  readonly destinationPortRanges: readonly string[];
}

export interface Flow {
  readonly source: string;
  readonly destination: string;
  readonly port: number;
  readonly protocol: "Tcp" | "Udp";
  /** The VM's virtual network address space, for the VirtualNetwork tag. */
  readonly vnetPrefixes: readonly string[];
}

const PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];
const AZURE_LOAD_BALANCER = "168.63.129.16/32";

function inAny(address: string, prefixes: readonly string[]): boolean {
  const inner = parseRange(address);
  if (!inner) return false;
  return prefixes.some((p) => {
    const outer = parseRange(p);
    return outer !== undefined && rangeContains(outer, inner);
  });
}

function prefixMatches(prefix: string, address: string, flow: Flow): boolean {
  switch (prefix.toLowerCase()) {
    case "*":
    case "any":
      return true;
    case "internet":
      return !inAny(address, [...PRIVATE, ...flow.vnetPrefixes]);
    case "virtualnetwork":
      return inAny(address, flow.vnetPrefixes);
    case "azureloadbalancer":
      return inAny(address, [AZURE_LOAD_BALANCER]);
    default:
      return inAny(address, [prefix]);
  }
}

function portMatches(range: string, port: number): boolean {
  if (range === "*") return true;
  const [from, to] = range.split("-").map((x) => Number(x.trim()));
  if (from === undefined || Number.isNaN(from)) return false;
  return to === undefined ? port === from : port >= from && port <= to;
}

export function ruleMatches(rule: RuleView, flow: Flow): boolean {
  return (
    rule.direction === "Inbound" &&
    (rule.protocol === "*" || rule.protocol.toLowerCase() === flow.protocol.toLowerCase()) &&
    rule.sourceAddressPrefixes.some((p) => prefixMatches(p, flow.source, flow)) &&
    rule.destinationAddressPrefixes.some((p) => prefixMatches(p, flow.destination, flow)) &&
    rule.destinationPortRanges.some((r) => portMatches(r, flow.port))
  );
}

/** The first matching rule by priority, or undefined (which cannot happen with default rules present). */
export function decide(rules: readonly RuleView[], flow: Flow): RuleView | undefined {
  return [...rules].sort((a, b) => a.priority - b.priority).find((r) => ruleMatches(r, flow));
}

/** Flattens ARM security rule JSON (`{name, properties:{…}}`) into a RuleView. */
export function toRuleView(json: Record<string, unknown>): RuleView {
  const p = (json.properties ?? {}) as Record<string, unknown>;
  const list = (single: unknown, many: unknown): string[] => {
    const arr = Array.isArray(many) ? many.map(String) : [];
    return arr.length > 0 ? arr : typeof single === "string" ? [single] : [];
  };
  return {
    name: String(json.name),
    priority: Number(p.priority),
    direction: String(p.direction),
    access: String(p.access),
    protocol: String(p.protocol ?? "*"),
    sourceAddressPrefixes: list(p.sourceAddressPrefix, p.sourceAddressPrefixes),
    destinationAddressPrefixes: list(p.destinationAddressPrefix, p.destinationAddressPrefixes),
    destinationPortRanges: list(p.destinationPortRange, p.destinationPortRanges),
  };
}
