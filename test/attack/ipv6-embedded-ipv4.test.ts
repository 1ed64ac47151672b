/**
 * Attack cases, issue 10 item 9: IPv6 spellings of private and loopback IPv4 addresses. Each one
 * passed the special-range check before (only IPv4-mapped /96 and longer were unmapped).
 */
import { describe, expect, it } from "vitest";
import { checkSourceAgainstRule, parseSourcePrefix, specialRangeOf } from "../../src/domain/address.ts";

const ANY = ["*"];
/** Wide enough that the width check never speaks first: the special-range check is what is tested. */
const WIDE = { widestPrefixLength: { ipv4: 8, ipv6: 8 } } as const;
const TAIL =
  ", which is not where anyone connects from across the Internet; the rule allows * (any public address). Use your public address (leave out `from` and I'll send a link that finds it).";

function refusal(text: string, options: Parameters<typeof checkSourceAgainstRule>[2] = WIDE) {
  const result = checkSourceAgainstRule(text, ANY, options);
  return result.ok ? "allowed" : `${result.code}: ${result.message}`;
}

describe("IPv6 forms that carry a private or loopback IPv4 address → refused like the IPv4 address", () => {
  it.each([
    // IPv4-compatible (::a.b.c.d, deprecated), written in hex so ipaddr.js does not read it as mapped.
    [
      "::a00:1",
      "::a00:1 carries 10.0.0.1 (IPv4-compatible, ::/96), and 10.0.0.1 is in 10.0.0.0/8 (a private network (RFC 1918))",
    ],
    [
      "::7f00:1",
      "::7f00:1 carries 127.0.0.1 (IPv4-compatible, ::/96), and 127.0.0.1 is in 127.0.0.0/8 (loopback)",
    ],
    // NAT64 well-known prefix.
    [
      "64:ff9b::10.0.0.1",
      "64:ff9b::a00:1 carries 10.0.0.1 (NAT64, 64:ff9b::/96), and 10.0.0.1 is in 10.0.0.0/8 (a private network (RFC 1918))",
    ],
    [
      "64:ff9b::127.0.0.1",
      "64:ff9b::7f00:1 carries 127.0.0.1 (NAT64, 64:ff9b::/96), and 127.0.0.1 is in 127.0.0.0/8 (loopback)",
    ],
    [
      "64:ff9b::c0a8:0/112",
      "64:ff9b::c0a8:0/112 carries 192.168.0.0/16 (NAT64, 64:ff9b::/96), and 192.168.0.0/16 is in 192.168.0.0/16 (a private network (RFC 1918))",
    ],
    // 6to4: the IPv4 address sits in bits 16–47.
    [
      "2002:a00:1::",
      "2002:a00:1:: carries 10.0.0.1 (6to4, 2002::/16), and 10.0.0.1 is in 10.0.0.0/8 (a private network (RFC 1918))",
    ],
    [
      "2002:7f00:1::1",
      "2002:7f00:1::1 carries 127.0.0.1 (6to4, 2002::/16), and 127.0.0.1 is in 127.0.0.0/8 (loopback)",
    ],
    [
      "2002:ac10::/28",
      "2002:ac10::/28 carries 172.16.0.0/12 (6to4, 2002::/16), and 172.16.0.0/12 is in 172.16.0.0/12 (a private network (RFC 1918))",
    ],
    // Teredo: the client's IPv4 address is the last 32 bits, inverted (RFC 4380).
    [
      "2001:0:4136:e378:8000:63bf:f5ff:fffe",
      "2001:0:4136:e378:8000:63bf:f5ff:fffe carries 10.0.0.1 (Teredo, 2001::/32), and 10.0.0.1 is in 10.0.0.0/8 (a private network (RFC 1918))",
    ],
    [
      "2001:0:4136:e378:8000:63bf:80ff:fffe",
      "2001:0:4136:e378:8000:63bf:80ff:fffe carries 127.0.0.1 (Teredo, 2001::/32), and 127.0.0.1 is in 127.0.0.0/8 (loopback)",
    ],
  ])("%s → refused as its IPv4 twin", (text, phrase) => {
    expect(refusal(text)).toBe(`special_range: ${phrase}${TAIL}`);
  });

  it.each([
    // Shorter than /96: contains the whole IPv4-mapped block (the issue's own example).
    [
      "::ffff:0:0/95",
      "::fffe:0:0/95 includes ::ffff:0:0/96 (IPv4-mapped IPv6, which carries an IPv4 address), so it includes the IPv4-mapped forms of private and loopback IPv4 addresses",
    ],
    [
      "64:ff9b::/64",
      "64:ff9b::/64 includes 64:ff9b::/96 (NAT64 IPv6, which carries an IPv4 address), so it includes the NAT64 forms of private and loopback IPv4 addresses",
    ],
    [
      "2002::/16",
      "2002::/16 is in 2002::/16 (6to4 IPv6, which carries an IPv4 address), so it includes the 6to4 forms of private and loopback IPv4 addresses",
    ],
    // A Teredo /64 fixes the server, not the client: every client address is inside.
    [
      "2001:0:4136:e378::/64",
      "2001:0:4136:e378::/64 is in 2001::/32 (Teredo IPv6, which carries an IPv4 address), so it includes the Teredo forms of private and loopback IPv4 addresses",
    ],
  ])("%s, a prefix that spans every carried IPv4 address → refused", (text, phrase) => {
    expect(refusal(text)).toBe(`special_range: ${phrase}${TAIL}`);
  });

  it("the same forms of public IPv4 addresses → allowed", () => {
    for (const text of [
      "::808:808",
      "64:ff9b::8.8.8.8",
      "2002:808:808::1",
      "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
      "2a00:1450:4001::1",
    ])
      expect(refusal(text), text).toBe("allowed");
  });

  it("documentation twins follow the documentation option, as their IPv4 twins do", () => {
    expect(refusal("2002:cb00:7107::1", { acceptDocumentationRanges: true })).toBe("allowed");
    expect(refusal("2002:cb00:7107::1", {})).toBe(
      `special_range: 2002:cb00:7107::1 carries 203.0.113.7 (6to4, 2002::/16), and 203.0.113.7 is in 203.0.113.0/24 (a documentation range (RFC 5737))${TAIL}`,
    );
  });

  it("an explicitly allowed IPv6 prefix still wins, as an explicit IPv4 VPN prefix does", () => {
    expect(checkSourceAgainstRule("2002:a08::1", ["2002:a08::/32"]).ok).toBe(true);
  });

  it("specialRangeOf names the IPv4 range, so every caller (the one-time link too) refuses it", () => {
    const parsed = parseSourcePrefix("64:ff9b::10.1.2.3");
    expect(parsed.ok && specialRangeOf(parsed.source)).toEqual({
      prefix: "10.0.0.0/8",
      label: "a private network (RFC 1918)",
      phrase:
        "carries 10.1.2.3 (NAT64, 64:ff9b::/96), and 10.1.2.3 is in 10.0.0.0/8 (a private network (RFC 1918))",
    });
  });
});
