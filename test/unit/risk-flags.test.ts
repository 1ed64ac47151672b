import { describe, expect, it } from "vitest";
import { type AccessRequest, createRequest, type NewRequest } from "../../src/domain/access-request.ts";
import { riskFlags } from "../../src/domain/risk-flags.ts";

// Monday 23 November 2026, 10:00 UTC: inside working hours in UTC and in Berlin.
const MONDAY_10_UTC = new Date("2026-11-23T10:00:00Z");

function request(overrides: Partial<NewRequest> = {}): AccessRequest {
  return createRequest(
    {
      id: "R-17",
      requester: { id: "id-sam", name: "Sam Engineer" },
      targets: [
        {
          vmId: "/x/web-01",
          vmName: "web-01",
          resourceGroup: "rg-web",
          location: "westeurope",
          policyName: "default",
          ports: [22],
          osType: "Linux",
        },
      ],
      source: { prefix: "198.51.100.7", origin: "link" },
      durationMs: 3_600_000,
      approval: { approvers: ["alice@contoso.com"], required: 1 },
      ...overrides,
    },
    MONDAY_10_UTC,
  ).request;
}

const quiet = { now: MONDAY_10_UTC, knownAddressesForUser: [] };
const codes = (flags: readonly { code: string }[]) => flags.map((flag) => flag.code);

describe("risk flags", () => {
  it("one address, 1 h, Monday morning, Linux SSH → no flags", () => {
    expect(riskFlags(request(), quiet)).toEqual([]);
  });
  it("a /28 source → wide prefix, counting addresses", () => {
    const flags = riskFlags(request({ source: { prefix: "198.51.100.0/28", origin: "typed" } }), quiet);
    expect(flags).toEqual([
      { code: "wide_prefix", message: "The source 198.51.100.0/28 is 16 addresses, not one machine." },
    ]);
  });
  it("more than 4 h → long duration", () => {
    expect(codes(riskFlags(request({ durationMs: 5 * 3_600_000 }), quiet))).toEqual(["long_duration"]);
    expect(codes(riskFlags(request({ durationMs: 4 * 3_600_000 }), quiet))).toEqual([]);
  });
  it("Saturday, or 19:00, or 07:59 → outside working hours", () => {
    expect(codes(riskFlags(request(), { ...quiet, now: new Date("2026-11-28T10:00:00Z") }))).toEqual([
      "outside_hours",
    ]);
    expect(codes(riskFlags(request(), { ...quiet, now: new Date("2026-11-23T19:00:00Z") }))).toEqual([
      "outside_hours",
    ]);
    expect(codes(riskFlags(request(), { ...quiet, now: new Date("2026-11-23T07:59:00Z") }))).toEqual([
      "outside_hours",
    ]);
  });
  it("judged in the requester's time zone: 10:00 UTC is 19:00 in Tokyo", () => {
    const flags = riskFlags(request(), { ...quiet, timeZone: "Asia/Tokyo" });
    expect(flags).toEqual([
      {
        code: "outside_hours",
        message: "Asked at Mon 19:00 (Asia/Tokyo), outside working hours (Mon–Fri 08:00–18:00).",
      },
    ]);
  });
  it("an unknown time zone → judged in UTC rather than failing", () => {
    expect(riskFlags(request(), { ...quiet, timeZone: "Mars/Olympus" })).toEqual([]);
  });
  it("Windows RDP from a new address → flagged; from a known one → not", () => {
    const rdp = request({
      targets: [
        {
          vmId: "/x/app-01",
          vmName: "app-01",
          resourceGroup: "rg-web",
          location: "westeurope",
          policyName: "default",
          ports: [3389],
          osType: "Windows",
        },
      ],
    });
    expect(codes(riskFlags(rdp, quiet))).toEqual(["rdp_new_address"]);
    expect(codes(riskFlags(rdp, { ...quiet, knownAddressesForUser: ["198.51.100.7/32"] }))).toEqual([]);
  });
  it("no source yet → no address flags", () => {
    const { source: _none, ...rest } = request({ durationMs: 3_600_000 });
    expect(riskFlags(rest, quiet)).toEqual([]);
  });
});
