import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import {
  checkSourceAgainstRule,
  clientAddressFromRequest,
  isWidePrefix,
  parseSourcePrefix,
  specialRangeOf,
} from "../../src/domain/address.ts";

function canonical(text: string): string | undefined {
  const result = parseSourcePrefix(text);
  return result.ok ? result.source.canonical : undefined;
}

describe("parsing a source address", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7"],
    [" 203.0.113.7 ", "203.0.113.7"],
    ["203.0.113.7/32", "203.0.113.7"],
    ["203.0.113.0/28", "203.0.113.0/28"],
    ["203.0.113.7/24", "203.0.113.0/24"],
    ["::ffff:203.0.113.7", "203.0.113.7"],
    ["::ffff:203.0.113.0/120", "203.0.113.0/24"],
    ["2001:DB8:0:0::7", "2001:db8::7"],
    ["2001:db8::7/128", "2001:db8::7"],
    ["2001:db8:1:2::/64", "2001:db8:1:2::/64"],
  ])("%j → %j (bare for one host, CIDR otherwise)", (text, expected) => {
    expect(canonical(text)).toBe(expected);
  });

  it("keeps the CIDR form alongside", () => {
    const result = parseSourcePrefix("203.0.113.7");
    expect(result.ok && result.source).toMatchObject({
      family: "ipv4",
      cidr: "203.0.113.7/32",
      prefixLength: 32,
    });
  });

  it.each([
    "banana",
    "",
    "203.0.113",
    "127.1",
    "0x7f.0.0.1",
    "203.0.113.7/33",
    "2001:db8::/129",
    "fe80::1%eth0",
    "a/b",
  ])("%j → not an address", (text) => {
    const result = parseSourcePrefix(text);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.code).toBe("not_an_address");
  });

  it.each(["*", "any", "Any", "Internet", "0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96", "0.0.0.0"])(
    "%j → refused as the whole Internet",
    (text) => {
      const result = parseSourcePrefix(text);
      expect(!result.ok && result.code).toBe("any_source");
      expect(!result.ok && result.message).toContain("whole Internet");
    },
  );
});

describe("checking a source against a rule's allowed prefixes", () => {
  const ANY = ["*"];

  it("a public address under a `*` rule → allowed", () => {
    expect(checkSourceAgainstRule("8.8.4.4", ANY).ok).toBe(true);
    expect(checkSourceAgainstRule("2a00:1450:4001::1", ["Internet"]).ok).toBe(true);
    expect(checkSourceAgainstRule("8.8.4.0/24", ["Any"]).ok).toBe(true);
  });

  it.each([
    ["10.1.2.3", "10.0.0.0/8"],
    ["172.16.5.4", "172.16.0.0/12"],
    ["192.168.1.10", "192.168.0.0/16"],
    ["127.0.0.1", "127.0.0.0/8"],
    ["169.254.169.254", "169.254.0.0/16"],
    ["100.64.1.1", "100.64.0.0/10"],
    ["0.1.2.3", "0.0.0.0/8"],
    ["192.0.0.8", "192.0.0.0/24"],
    ["198.18.0.1", "198.18.0.0/15"],
    ["224.0.0.1", "224.0.0.0/4"],
    ["240.0.0.1", "240.0.0.0/4"],
    ["255.255.255.255", "240.0.0.0/4"],
    ["203.0.113.7", "203.0.113.0/24"],
    ["198.51.100.7", "198.51.100.0/24"],
    ["192.0.2.1", "192.0.2.0/24"],
    ["::ffff:10.0.0.1", "10.0.0.0/8"],
    ["::1", "::1/128"],
    ["fe80::1", "fe80::/10"],
    ["fd00::1", "fc00::/7"],
    ["ff02::1", "ff00::/8"],
    ["2001:db8::1", "2001:db8::/32"],
  ])("%s under a `*` rule → refused, naming %s", (address, range) => {
    const result = checkSourceAgainstRule(address, ANY);
    expect(!result.ok && result.code).toBe("special_range");
    expect(!result.ok && result.message).toContain(range);
    expect(!result.ok && result.message).toContain("*");
  });

  it("a prefix that merely includes a private range → refused as including it", () => {
    const result = checkSourceAgainstRule("172.0.0.0/8", ANY, { widestPrefixLength: { ipv4: 8, ipv6: 48 } });
    expect(!result.ok && result.message).toBe(
      "172.0.0.0/8 includes 172.16.0.0/12 (a private network (RFC 1918)), which is not where anyone connects from across the Internet; the rule allows * (any public address). Use your public address (leave out `from` and I'll send a link that finds it).",
    );
  });

  it("documentation ranges pass when the caller runs against the simulator", () => {
    expect(checkSourceAgainstRule("203.0.113.7", ANY, { acceptDocumentationRanges: true }).ok).toBe(true);
    expect(checkSourceAgainstRule("10.0.0.1", ANY, { acceptDocumentationRanges: true }).ok).toBe(false);
  });

  it("a private address inside an explicitly allowed prefix → allowed", () => {
    expect(checkSourceAgainstRule("10.8.0.5", ["10.8.0.0/16"]).ok).toBe(true);
    expect(checkSourceAgainstRule("203.0.113.7", ["203.0.113.0/24"]).ok).toBe(true);
    expect(checkSourceAgainstRule("::ffff:203.0.113.7", ["203.0.113.0/24"]).ok).toBe(true);
  });

  it("a private address outside the explicit prefixes → refused naming both", () => {
    const result = checkSourceAgainstRule("10.9.0.5", ["10.8.0.0/16", "203.0.113.0/24"]);
    expect(!result.ok && result.code).toBe("special_range");
    expect(!result.ok && result.message).toBe(
      "10.9.0.5 is in 10.0.0.0/8 (a private network (RFC 1918)), and the rule allows only 10.8.0.0/16, 203.0.113.0/24.",
    );
  });

  it("a public address outside the allowed prefixes → refused naming them", () => {
    const result = checkSourceAgainstRule("8.8.8.8", ["203.0.113.0/24", "198.51.100.0/24"]);
    expect(!result.ok && result.code).toBe("outside_allowed");
    expect(!result.ok && result.message).toBe(
      "8.8.8.8 is not within the allowed sources 203.0.113.0/24, 198.51.100.0/24.",
    );
  });

  it("a prefix wider than the allowed one → refused as too wide", () => {
    const result = checkSourceAgainstRule("203.0.112.0/23", ["203.0.113.0/24"]);
    expect(!result.ok && result.code).toBe("too_wide");
    expect(!result.ok && result.message).toBe(
      "203.0.112.0/23 is wider than the policy allows: sources must lie within 203.0.113.0/24.",
    );
  });

  it("a prefix wider than /16 under a `*` rule → refused as too wide", () => {
    const result = checkSourceAgainstRule("8.8.0.0/15", ANY);
    expect(!result.ok && result.code).toBe("too_wide");
    expect(!result.ok && result.message).toContain("/16");
    expect(checkSourceAgainstRule("8.8.0.0/16", ANY).ok).toBe(true);
    expect(!checkSourceAgainstRule("2a00:1450::/32", ANY).ok).toBe(true);
  });

  it("`*` as the requested source → refused even where the rule allows any", () => {
    expect(checkSourceAgainstRule("*", ANY).ok).toBe(false);
    expect(checkSourceAgainstRule("0.0.0.0/0", ANY).ok).toBe(false);
    expect(checkSourceAgainstRule("::/0", ANY).ok).toBe(false);
  });

  it("a rule of service tags only → says it cannot match", () => {
    const result = checkSourceAgainstRule("8.8.8.8", ["VirtualNetwork"]);
    expect(!result.ok && result.code).toBe("no_allowed_prefix");
  });

  it("IPv6 request against IPv4 prefixes → outside", () => {
    expect(checkSourceAgainstRule("2a00:1450:4001::1", ["203.0.113.0/24"]).ok).toBe(false);
  });

  it("the special-range table covers every address ipaddr.js range() calls non-unicast (IPv4 /8 sweep)", () => {
    for (let first = 0; first < 256; first++) {
      for (const rest of ["0.0.1", "100.0.1", "168.1.1", "254.1.1", "255.255.255"]) {
        const text = `${first}.${rest}`;
        const range = ipaddr.parse(text).range();
        const parsed = parseSourcePrefix(text);
        if (!parsed.ok) continue;
        const special = specialRangeOf(parsed.source) !== undefined;
        if (range !== "unicast" && range !== "as112" && range !== "amt")
          expect(special, `${text} is ${range}`).toBe(true);
      }
    }
  });

  it("wide means more than one address", () => {
    const one = parseSourcePrefix("203.0.113.7");
    const many = parseSourcePrefix("203.0.113.0/31");
    expect(one.ok && isWidePrefix(one.source)).toBe(false);
    expect(many.ok && isWidePrefix(many.source)).toBe(true);
  });
});

describe("the client address behind proxies", () => {
  const proxies = ["10.0.0.0/8", "127.0.0.1"];

  it("untrusted peer with a spoofed X-Forwarded-For → the peer, the header ignored", () => {
    expect(clientAddressFromRequest("198.51.100.9", "203.0.113.7", proxies)).toEqual({
      ok: true,
      address: "198.51.100.9",
    });
  });
  it("no trusted proxies configured → always the peer", () => {
    expect(clientAddressFromRequest("::ffff:127.0.0.1", "203.0.113.7", [])).toEqual({
      ok: true,
      address: "127.0.0.1",
    });
  });
  it("trusted peer → the right-most hop that is not a proxy", () => {
    expect(clientAddressFromRequest("10.0.0.4", "1.2.3.4, 203.0.113.7, 10.0.0.9", proxies)).toEqual({
      ok: true,
      address: "203.0.113.7",
    });
  });
  it("a client that prepends a fake hop does not move the answer", () => {
    expect(clientAddressFromRequest("127.0.0.1", "10.1.1.1, 203.0.113.7", proxies)).toEqual({
      ok: true,
      address: "203.0.113.7",
    });
  });
  it("IPv4-mapped peer is recognised as a trusted proxy", () => {
    expect(clientAddressFromRequest("::ffff:127.0.0.1", "203.0.113.7", proxies)).toEqual({
      ok: true,
      address: "203.0.113.7",
    });
  });
  it("hops with ports, and mapped hops, are unwrapped", () => {
    expect(clientAddressFromRequest("10.0.0.4", "203.0.113.7:53012", proxies)).toEqual({
      ok: true,
      address: "203.0.113.7",
    });
    expect(clientAddressFromRequest("10.0.0.4", "[2001:db8::7]:443", proxies)).toEqual({
      ok: true,
      address: "2001:db8::7",
    });
    expect(clientAddressFromRequest("10.0.0.4", "::ffff:203.0.113.7", proxies)).toEqual({
      ok: true,
      address: "203.0.113.7",
    });
  });
  it("trusted peer without X-Forwarded-For → unknown, with the reason", () => {
    const result = clientAddressFromRequest("127.0.0.1", undefined, proxies);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain("no X-Forwarded-For");
  });
  it("every hop a proxy → unknown", () => {
    expect(clientAddressFromRequest("127.0.0.1", "10.0.0.1, 10.0.0.2", proxies).ok).toBe(false);
  });
  it("garbage in the trusted part of the chain → unknown rather than a guess", () => {
    const result = clientAddressFromRequest("127.0.0.1", "203.0.113.7, evil", proxies);
    expect(!result.ok && result.reason).toContain("unreadable hop");
  });
  it("garbage peer → unknown", () => {
    expect(clientAddressFromRequest("not-an-ip", undefined, proxies).ok).toBe(false);
  });
});
