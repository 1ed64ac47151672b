/**
 * Source addresses: what a requester may ask a port to be opened *from*. Parsing, the checks
 * against a JIT port rule's allowed prefixes, and the client address behind trusted proxies.
 * Pure; all IP arithmetic goes through ipaddr.js.
 *
 * Canonical form (what the card shows and what is sent to Azure as allowedSourceAddressPrefix):
 * a bare address for a single host ("203.0.113.7", as in Azure's own initiate example), the
 * network in CIDR otherwise ("203.0.113.0/28"; host bits are cleared). IPv4-mapped IPv6
 * ("::ffff:203.0.113.7") is treated as the IPv4 address it carries. Other IPv6 forms that carry an
 * IPv4 address (IPv4-compatible, NAT64, 6to4, Teredo) stay IPv6 but are judged by that address.
 */
import ipaddr from "ipaddr.js";

type Ip = ipaddr.IPv4 | ipaddr.IPv6;
type Range = readonly [Ip, number];

export interface SourcePrefix {
  readonly family: "ipv4" | "ipv6";
  /** The network address, normalised (RFC 5952 for IPv6). */
  readonly network: string;
  readonly prefixLength: number;
  /** Bare address for a single host, CIDR otherwise; this string goes to Azure. */
  readonly canonical: string;
  /** Always CIDR, e.g. "203.0.113.7/32". */
  readonly cidr: string;
}

export type SourceResult =
  | { readonly ok: true; readonly source: SourcePrefix }
  | { readonly ok: false; readonly code: SourceRefusal; readonly message: string };

export type SourceRefusal =
  | "not_an_address"
  | "any_source"
  | "special_range"
  | "too_wide"
  | "outside_allowed"
  | "no_allowed_prefix";

/** Words that mean "from anywhere" in NSGs and JIT rules; a request may never ask for them. */
const ANY_WORDS = new Set(["*", "any", "internet", "0.0.0.0/0", "::/0", "0.0.0.0", "::"]);

export function isAnySource(text: string): boolean {
  return ANY_WORDS.has(text.trim().toLowerCase());
}

const EXAMPLE =
  "e.g. `from 198.51.100.7`, or leave `from` out and I'll send you a link that finds your address";

/** Parses an address or CIDR into canonical form. Refuses "any" words; does not judge the range. */
export function parseSourcePrefix(text: string): SourceResult {
  const trimmed = text.trim();
  if (isAnySource(trimmed)) {
    return refuse(
      "any_source",
      `"${clip(trimmed)}" would open the port to the whole Internet; give your own address, ${EXAMPLE}.`,
    );
  }
  const range = parseRange(trimmed);
  if (range === undefined) {
    return refuse(
      "not_an_address",
      `"${clip(trimmed)}" is not an IP address or CIDR prefix I can read — ${EXAMPLE}.`,
    );
  }
  const source = toSource(range);
  if (source.prefixLength === 0) {
    return refuse(
      "any_source",
      `"${clip(trimmed)}" would open the port to the whole Internet; give your own address, ${EXAMPLE}.`,
    );
  }
  return { ok: true, source };
}

/**
 * Address or CIDR → [network, bits], unmapping IPv4-mapped IPv6; undefined for garbage and tags.
 * IPv4 must be four-part decimal: ipaddr.parse also takes "127.1" and "0x7f.0.0.1", which no
 * one types on purpose and which would make "what the card shows" differ from what was typed.
 */
export function parseRange(text: string): Range | undefined {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed.length > 64) return undefined;
  try {
    if (trimmed.includes("/")) {
      if (!ipaddr.isValidCIDR(trimmed)) return undefined;
      if (!trimmed.includes(":") && !ipaddr.IPv4.isValidCIDRFourPartDecimal(trimmed)) return undefined;
      const [addr, bits] = ipaddr.parseCIDR(trimmed);
      return networkOf(unmapRange([addr, bits]));
    }
    if (!ipaddr.isValid(trimmed)) return undefined;
    if (!trimmed.includes(":") && !ipaddr.IPv4.isValidFourPartDecimal(trimmed)) return undefined;
    const addr = ipaddr.parse(trimmed);
    if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).zoneId !== undefined) return undefined;
    return unmapRange([addr, addr.kind() === "ipv4" ? 32 : 128]);
  } catch {
    return undefined;
  }
}

function unmapRange([addr, bits]: Range): Range {
  if (addr.kind() === "ipv6") {
    const v6 = addr as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress() && bits >= 96) return [v6.toIPv4Address(), bits - 96];
  }
  return [addr, bits];
}

function networkOf([addr, bits]: Range): Range {
  const cidr = `${addr.toString()}/${bits}`;
  const network =
    addr.kind() === "ipv4"
      ? ipaddr.IPv4.networkAddressFromCIDR(cidr)
      : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return [network, bits];
}

function toSource([addr, bits]: Range): SourcePrefix {
  const family = addr.kind();
  const network = family === "ipv6" ? (addr as ipaddr.IPv6).toRFC5952String() : addr.toString();
  const hostBits = family === "ipv4" ? 32 : 128;
  const cidr = `${network}/${bits}`;
  return { family, network, prefixLength: bits, canonical: bits === hostBits ? network : cidr, cidr };
}

/** True when every address of `inner` lies in `outer`. */
function contains(outer: Range, inner: Range): boolean {
  const [outerAddr, outerBits] = outer;
  const [innerAddr, innerBits] = inner;
  if (outerAddr.kind() !== innerAddr.kind() || innerBits < outerBits) return false;
  return innerAddr.match(outerAddr, outerBits);
}

function overlaps(a: Range, b: Range): boolean {
  return contains(a, b) || contains(b, a);
}

// ------------------------------------------------------------------ special ranges

interface SpecialRange {
  readonly prefix: string;
  /** Said to the user: "203.0.113.7 is in 10.0.0.0/8 (a private network)". */
  readonly label: string;
  /** Documentation ranges are refused by default; see AddressCheckOptions. */
  readonly documentation?: true;
}

/**
 * Ranges nobody connects from across the Internet. The same families as ipaddr.js `range()`
 * (private, loopback, linkLocal, carrierGradeNat, reserved, multicast, unspecified, broadcast,
 * uniqueLocal …), as an explicit table because a *prefix* must be refused when it merely
 * overlaps one (0.0.0.0/1 contains 10.0.0.0/8), which `range()` of one address cannot tell.
 * A unit test cross-checks the table against `range()`.
 */
const SPECIAL_RANGES: readonly SpecialRange[] = [
  { prefix: "0.0.0.0/8", label: "“this network”, never a real source" },
  { prefix: "10.0.0.0/8", label: "a private network (RFC 1918)" },
  { prefix: "100.64.0.0/10", label: "carrier-grade NAT space (RFC 6598), not your public address" },
  { prefix: "127.0.0.0/8", label: "loopback" },
  { prefix: "169.254.0.0/16", label: "link-local" },
  { prefix: "172.16.0.0/12", label: "a private network (RFC 1918)" },
  { prefix: "192.0.0.0/24", label: "reserved for IETF protocol assignments" },
  { prefix: "192.0.2.0/24", label: "a documentation range (RFC 5737)", documentation: true },
  { prefix: "192.88.99.0/24", label: "reserved (retired 6to4 relay anycast)" },
  { prefix: "192.168.0.0/16", label: "a private network (RFC 1918)" },
  { prefix: "198.18.0.0/15", label: "reserved for benchmarking (RFC 2544)" },
  { prefix: "198.51.100.0/24", label: "a documentation range (RFC 5737)", documentation: true },
  { prefix: "203.0.113.0/24", label: "a documentation range (RFC 5737)", documentation: true },
  { prefix: "224.0.0.0/4", label: "multicast" },
  { prefix: "240.0.0.0/4", label: "reserved (including broadcast)" },
  { prefix: "::/128", label: "the unspecified address" },
  { prefix: "::1/128", label: "loopback" },
  { prefix: "64:ff9b:1::/48", label: "local-use NAT64 space (RFC 8215)" },
  { prefix: "100::/64", label: "the discard prefix (RFC 6666)" },
  { prefix: "2001:2::/48", label: "reserved for benchmarking (RFC 5180)" },
  { prefix: "2001:db8::/32", label: "a documentation range (RFC 3849)", documentation: true },
  { prefix: "3fff::/20", label: "a documentation range (RFC 9637)", documentation: true },
  { prefix: "fc00::/7", label: "a unique-local (private) network" },
  { prefix: "fe80::/10", label: "link-local" },
  { prefix: "fec0::/10", label: "deprecated site-local" },
  { prefix: "ff00::/8", label: "multicast" },
];

const SPECIAL_PARSED: readonly (SpecialRange & { readonly range: Range })[] = SPECIAL_RANGES.map((entry) => {
  const [addr, bits] = ipaddr.parseCIDR(entry.prefix);
  return { ...entry, range: [addr, bits] as const };
});

interface SpecialHit {
  readonly prefix: string;
  readonly label: string;
  readonly phrase: string;
}

/** The first special range `prefix` overlaps, if any; IPv6 forms that carry an IPv4 address are judged by it. */
export function specialRangeOf(
  source: SourcePrefix,
  options: AddressCheckOptions = {},
): SpecialHit | undefined {
  const range = parseRange(source.cidr);
  if (range === undefined) return undefined;
  const hit = specialHit(range, options);
  if (hit !== undefined) return hit;
  return range[0].kind() === "ipv6" ? embeddedSpecialOf(range, options) : undefined;
}

function specialHit(range: Range, options: AddressCheckOptions): SpecialHit | undefined {
  const hit = SPECIAL_PARSED.find(
    (entry) => overlaps(entry.range, range) && !(entry.documentation && options.acceptDocumentationRanges),
  );
  if (hit === undefined) return undefined;
  const relation = contains(hit.range, range) ? "is in" : "includes";
  return { prefix: hit.prefix, label: hit.label, phrase: `${relation} ${hit.prefix} (${hit.label})` };
}

/**
 * IPv6 address forms that carry an IPv4 address, and so reach (or claim to be) that IPv4 host:
 * a source in one of them is judged as the IPv4 address it carries, so `2002:a00:1::` (6to4 of
 * 10.0.0.1) is refused like 10.0.0.1. A prefix too short to fix the carried address carries every
 * IPv4 address, private and loopback ones included, and is refused as such. IPv4-mapped space is
 * unmapped at parse time when the prefix is /96 or longer; shorter ones land here.
 */
interface Ipv4Embedding {
  readonly prefix: string;
  readonly name: string;
  /** Bit offset of the carried IPv4 address. */
  readonly offset: number;
  /** Teredo stores the client's address with every bit inverted (RFC 4380). */
  readonly inverted?: true;
}

const IPV4_EMBEDDINGS: readonly (Ipv4Embedding & { readonly range: Range })[] = (
  [
    { prefix: "::ffff:0:0/96", name: "IPv4-mapped", offset: 96 },
    { prefix: "::/96", name: "IPv4-compatible", offset: 96 },
    { prefix: "64:ff9b::/96", name: "NAT64", offset: 96 },
    { prefix: "2002::/16", name: "6to4", offset: 16 },
    { prefix: "2001::/32", name: "Teredo", offset: 96, inverted: true },
  ] as const satisfies readonly Ipv4Embedding[]
).map((entry: Ipv4Embedding) => {
  const [addr, bits] = ipaddr.parseCIDR(entry.prefix);
  return { ...entry, range: [addr, bits] as const };
});

function embeddedSpecialOf(range: Range, options: AddressCheckOptions): SpecialHit | undefined {
  const [addr, bits] = range;
  for (const embedding of IPV4_EMBEDDINGS) {
    if (!overlaps(embedding.range, range)) continue;
    const label = `${embedding.name} IPv6, which carries an IPv4 address`;
    const known = Math.min(32, Math.max(0, bits - embedding.offset));
    if (bits < embedding.range[1] || known === 0) {
      // Every carried IPv4 address is possible, 10.0.0.0/8 and 127.0.0.0/8 among them.
      const relation = contains(embedding.range, range) ? "is in" : "includes";
      return {
        prefix: embedding.prefix,
        label,
        phrase: `${relation} ${embedding.prefix} (${label}), so it includes the ${embedding.name} forms of private and loopback IPv4 addresses`,
      };
    }
    const carried = carriedIpv4(addr as ipaddr.IPv6, embedding, known);
    const hit = specialHit(carried, options);
    if (hit === undefined) continue;
    const v4 = toSource(carried).canonical;
    return {
      prefix: hit.prefix,
      label: hit.label,
      phrase: `carries ${v4} (${embedding.name}, ${embedding.prefix}), and ${v4} ${hit.phrase}`,
    };
  }
  return undefined;
}

/** The IPv4 range an address of `embedding` carries when `known` of its 32 bits are fixed by the prefix. */
function carriedIpv4(addr: ipaddr.IPv6, embedding: Ipv4Embedding, known: number): Range {
  const word = embedding.offset / 16;
  const high = addr.parts[word] ?? 0;
  const low = addr.parts[word + 1] ?? 0;
  const mask = embedding.inverted ? 0xffff : 0;
  const v4 = new ipaddr.IPv4([
    ((high ^ mask) >> 8) & 0xff,
    (high ^ mask) & 0xff,
    ((low ^ mask) >> 8) & 0xff,
    (low ^ mask) & 0xff,
  ]);
  return networkOf([v4, known]);
}

// ------------------------------------------------------------------ checks against a rule

export interface AddressCheckOptions {
  /**
   * Treat the RFC 5737 / RFC 3849 documentation ranges as public. Off by default, because in
   * real Azure such an address is always a copy of an example (ours use 198.51.100.7); the
   * simulated fleet in env/ lives in those ranges, so the app turns this on against the simulator.
   */
  readonly acceptDocumentationRanges?: boolean;
  /**
   * When a rule allows any source ("*", "Internet", "Any"), the widest prefix a request may
   * still ask for. Defaults: /16 for IPv4, /48 for IPv6 (one site). With explicit allowed
   * prefixes, the prefixes themselves bound the width.
   */
  readonly widestPrefixLength?: { readonly ipv4: number; readonly ipv6: number };
}

const DEFAULT_WIDEST = { ipv4: 16, ipv6: 48 } as const;

/**
 * May a port whose rule allows `allowedPrefixes` be opened from `text`?
 * "*", "Internet" and "Any" in the rule allow any public address. Private, loopback, link-local,
 * CGNAT, reserved, multicast and unspecified sources pass only when an explicit allowed prefix
 * of the rule contains them (a rule for a VPN range "10.8.0.0/16" is the case in point).
 */
export function checkSourceAgainstRule(
  text: string,
  allowedPrefixes: readonly string[],
  options: AddressCheckOptions = {},
): SourceResult {
  const parsed = parseSourcePrefix(text);
  if (!parsed.ok) return parsed;
  const { source } = parsed;
  const shown = source.canonical;
  const allowedText = describeAllowed(allowedPrefixes);
  const requested = parseRange(source.cidr);
  if (requested === undefined)
    return refuse("not_an_address", `"${clip(text)}" is not an IP address I can read.`);

  const explicit = allowedPrefixes.map(parseRange).filter((range) => range !== undefined);
  if (explicit.some((outer) => contains(outer, requested))) return parsed;

  const anyAllowed = allowedPrefixes.some(isAnySource);
  if (anyAllowed) {
    const widest = options.widestPrefixLength ?? DEFAULT_WIDEST;
    const limit = source.family === "ipv4" ? widest.ipv4 : widest.ipv6;
    if (source.prefixLength < limit) {
      return refuse(
        "too_wide",
        `${shown} is wider than the policy allows: the rule allows ${allowedText}, and I open at most a /${limit} for it (a single address is better).`,
      );
    }
    const special = specialRangeOf(source, options);
    if (special !== undefined) {
      return refuse(
        "special_range",
        `${shown} ${special.phrase}, which is not where anyone connects from across the Internet; the rule allows ${allowedText}. Use your public address (leave out \`from\` and I'll send a link that finds it).`,
      );
    }
    return parsed;
  }

  if (explicit.length === 0) {
    return refuse(
      "no_allowed_prefix",
      `The rule allows sources ${allowedText}, which I cannot match an address against; ask an admin to list IP prefixes in the JIT policy.`,
    );
  }
  const wider = explicit.find((outer) => contains(requested, outer));
  if (wider !== undefined) {
    return refuse(
      "too_wide",
      `${shown} is wider than the policy allows: sources must lie within ${allowedText}.`,
    );
  }
  const special = specialRangeOf(source, options);
  if (special !== undefined) {
    return refuse("special_range", `${shown} ${special.phrase}, and the rule allows only ${allowedText}.`);
  }
  return refuse("outside_allowed", `${shown} is not within the allowed sources ${allowedText}.`);
}

function describeAllowed(prefixes: readonly string[]): string {
  if (prefixes.length === 0) return "(none)";
  return prefixes
    .map((prefix) => (isAnySource(prefix) ? `${prefix} (any public address)` : prefix))
    .join(", ");
}

/** True when the canonical form names more than one address (shorter than /32 or /128). */
export function isWidePrefix(source: SourcePrefix): boolean {
  return source.prefixLength < (source.family === "ipv4" ? 32 : 128);
}

// ------------------------------------------------------------------ client address

export type ClientAddressResult =
  | { readonly ok: true; readonly address: string }
  | { readonly ok: false; readonly reason: string };

/**
 * The address of the machine that opened the one-time IP link: the socket peer, unless the peer
 * is a trusted proxy; then the right-most X-Forwarded-For hop that is not a trusted proxy.
 * Hops left of that are whatever the client claimed and are never believed. Hops may carry a
 * port ("198.51.100.7:53012", "[2001:db8::1]:443"), as Azure App Service writes them.
 */
export function clientAddressFromRequest(
  peer: string,
  xForwardedFor: string | undefined,
  trustedProxies: readonly string[],
): ClientAddressResult {
  const proxies = trustedProxies.map(parseRange).filter((range) => range !== undefined);
  const isTrusted = (address: Range): boolean => proxies.some((proxy) => contains(proxy, address));
  const peerRange = parseHop(peer);
  if (peerRange === undefined)
    return { ok: false, reason: `the connection's peer address "${clip(peer)}" is unreadable` };
  if (!isTrusted(peerRange)) return { ok: true, address: hostString(peerRange) };

  const hops = (xForwardedFor ?? "")
    .split(",")
    .map((hop) => hop.trim())
    .filter((hop) => hop !== "");
  for (let index = hops.length - 1; index >= 0; index--) {
    const hop = parseHop(hops[index] ?? "");
    if (hop === undefined) {
      return { ok: false, reason: `the proxy chain has an unreadable hop "${clip(hops[index] ?? "")}"` };
    }
    if (!isTrusted(hop)) return { ok: true, address: hostString(hop) };
  }
  return {
    ok: false,
    reason:
      hops.length === 0
        ? "the request came through a trusted proxy that did not say who it was for (no X-Forwarded-For)"
        : "every X-Forwarded-For hop is a trusted proxy, so the client's own address is unknown",
  };
}

/** One address, optionally with a port; not a CIDR. */
function parseHop(text: string): Range | undefined {
  let host = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(host);
  if (bracketed?.[1] !== undefined) host = bracketed[1];
  else if (/^[\d.]+:\d{1,5}$/.test(host)) host = host.slice(0, host.lastIndexOf(":"));
  if (host.includes("/")) return undefined;
  return parseRange(host);
}

function hostString([addr]: Range): string {
  return addr.kind() === "ipv6" ? (addr as ipaddr.IPv6).toRFC5952String() : addr.toString();
}

function refuse(code: SourceRefusal, message: string): SourceResult {
  return { ok: false, code, message };
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
