/** Address prefixes as NSGs and JIT use them: "*", service tags, single IPs and CIDRs (ipaddr.js). */
import ipaddr from "ipaddr.js";

/** Prefixes that mean "any source" for JIT (Azure's portal offers "Any"; NSGs write "*" or "Internet"). */
const ANY = new Set(["*", "internet", "any", "0.0.0.0/0"]);

export function isAnyPrefix(prefix: string): boolean {
  return ANY.has(prefix.trim().toLowerCase());
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** A CIDR or single address as a range; undefined for tags and garbage. */
export function parseRange(prefix: string): Range | undefined {
  const text = prefix.trim();
  try {
    if (text.includes("/")) {
      const [addr, bits] = ipaddr.parseCIDR(text);
      return [unmap(addr), addr.kind() === "ipv6" && unmap(addr).kind() === "ipv4" ? bits - 96 : bits];
    }
    const addr = unmap(ipaddr.parse(text));
    return [addr, addr.kind() === "ipv4" ? 32 : 128];
  } catch {
    return undefined;
  }
}

function unmap(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()
    ? (addr as ipaddr.IPv6).toIPv4Address()
    : addr;
}

/** True when every address of `inner` lies in `outer` (both CIDRs or addresses, same family). */
export function rangeContains(outer: Range, inner: Range): boolean {
  const [outerAddr, outerBits] = outer;
  const [innerAddr, innerBits] = inner;
  if (outerAddr.kind() !== innerAddr.kind() || innerBits < outerBits) return false;
  return innerAddr.match(outerAddr, outerBits);
}

/**
 * Does the requested source prefix lie within one of the rule's allowed prefixes?
 * "*"/"Internet"/"Any" in the rule allow anything; a request for "*" needs such a rule.
 */
export function prefixWithin(requested: string, allowed: readonly string[]): boolean {
  if (allowed.some(isAnyPrefix)) return true;
  if (isAnyPrefix(requested)) return false;
  const inner = parseRange(requested);
  if (!inner) return false;
  return allowed.some((a) => {
    const outer = parseRange(a);
    return outer !== undefined && rangeContains(outer, inner);
  });
}
