import { describe, expect, it } from "vitest";
import {
  type AccessRequest,
  approve,
  createRequest,
  type NewRequest,
} from "../../src/domain/access-request.ts";
import { isOwnEntry, type OwnInitiate } from "../../src/domain/history-match.ts";
import {
  carriesTag,
  initiatePlan,
  justificationFor,
  MAX_JUSTIFICATION_LENGTH,
  nonceFromJustification,
  requestIdFromJustification,
} from "../../src/domain/justification.ts";
import { supersededIn } from "../../src/domain/supersession.ts";
import type { JitRequestRecord } from "../../src/domain/vm.ts";

const T0 = new Date("2026-11-23T14:00:00Z");

function target(name: string, resourceGroup = "rg-web", location = "westeurope") {
  return {
    vmId: `/subscriptions/s/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}`,
    vmName: name,
    resourceGroup,
    location,
    policyName: "default",
    ports: [22],
    osType: "Linux" as const,
  };
}

function approved(overrides: Partial<NewRequest> = {}): AccessRequest {
  const { request } = createRequest(
    {
      id: "R-17",
      requester: { id: "id-sam", upn: "sam@contoso.com", name: "Sam Engineer" },
      targets: [target("web-01")],
      source: { prefix: "198.51.100.7", origin: "link" },
      durationMs: 2 * 3_600_000,
      reason: "INC-4211",
      approval: { approvers: ["alice@contoso.com"], required: 1 },
      ...overrides,
    },
    T0,
  );
  const result = approve(request, { id: "id-alice", upn: "alice@contoso.com" }, T0);
  if (!result.ok) throw new Error(result.error.message);
  return result.request;
}

describe("the justification sent to Azure", () => {
  it("names the request id, requester, approver and reason", () => {
    expect(justificationFor(approved())).toBe(
      "Portcullis R-17 | requested by Sam Engineer (sam@contoso.com) | approved by alice@contoso.com | reason: INC-4211",
    );
  });
  it("a huge reason is cut, the request id never", () => {
    const text = justificationFor(approved({ reason: "x".repeat(5000) }));
    expect(text.length).toBeLessThanOrEqual(MAX_JUSTIFICATION_LENGTH);
    expect(text.startsWith("Portcullis R-17 |")).toBe(true);
    expect(text.endsWith("…")).toBe(true);
    expect(requestIdFromJustification(text)).toBe("R-17");
  });
  it("reads our request id back, and nothing from others' justifications", () => {
    expect(requestIdFromJustification("Portcullis R-17 | requested by …")).toBe("R-17");
    expect(requestIdFromJustification("testing a new version of the product")).toBeUndefined();
    expect(requestIdFromJustification("Portcullis R-170x")).toBeUndefined();
    expect(requestIdFromJustification(undefined)).toBeUndefined();
  });
});

const NONCE = "q3ZxY0r7Tn2WcV8bLk1PsA";
const OTHER = "a9Jd0fLw2Ke8Rt5YbN3HcQ";

describe("the nonce (issue 11, item 9)", () => {
  it("follows the request id, before anything a long reason could push out", () => {
    expect(justificationFor(approved(), NONCE)).toBe(
      `Portcullis R-17 #${NONCE} | requested by Sam Engineer (sam@contoso.com) | approved by alice@contoso.com | reason: INC-4211`,
    );
    const long = justificationFor(approved({ reason: "x".repeat(5000) }), NONCE);
    expect(long.length).toBeLessThanOrEqual(MAX_JUSTIFICATION_LENGTH);
    expect(nonceFromJustification(long)).toBe(NONCE);
    expect(requestIdFromJustification(long)).toBe("R-17");
  });
  it("is read back only in our form; older justifications have none", () => {
    expect(nonceFromJustification(`Portcullis R-17 #${NONCE}`)).toBe(NONCE);
    expect(nonceFromJustification("Portcullis R-17 | requested by …")).toBeUndefined();
    expect(nonceFromJustification(`someone typed #${NONCE}`)).toBeUndefined();
    expect(nonceFromJustification("Portcullis R-17 #short")).toBeUndefined();
    expect(() => justificationFor(approved(), "not a nonce!")).toThrow();
  });
  it("the plan carries it", () => {
    expect(initiatePlan(approved(), T0, NONCE)?.[0]?.justification).toBe(justificationFor(approved(), NONCE));
  });
  it("a tag with a nonce matches that nonce only: the same id from another database or the portal does not", () => {
    const tag = { requestId: "R-17", nonce: NONCE };
    expect(carriesTag(justificationFor(approved(), NONCE), tag)).toBe(true);
    expect(carriesTag(`Portcullis R-17 #${NONCE} | cut sh`, tag)).toBe(true);
    expect(carriesTag(justificationFor(approved(), OTHER), tag)).toBe(false);
    expect(carriesTag("Portcullis R-17 | requested by someone in the portal", tag)).toBe(false);
    expect(carriesTag(`Portcullis R-18 #${NONCE}`, tag)).toBe(false);
  });
  it("a tag without a nonce (a record from before nonces) matches as before: the exact text, else the id", () => {
    const old = justificationFor(approved());
    expect(carriesTag(old, { requestId: "R-17", justification: old })).toBe(true);
    expect(carriesTag(`${old} and more`, { requestId: "R-17", justification: old })).toBe(false);
    expect(carriesTag(old, { requestId: "R-17" })).toBe(true);
  });
});

describe("our entries in Azure's history: nonce + VM + port + source + end", () => {
  const vmId = target("web-01").vmId;
  const end = new Date("2026-11-23T16:00:00Z");
  const entry = (overrides: Partial<JitRequestRecord> = {}, port = {}): JitRequestRecord => ({
    vmId: vmId.toUpperCase(),
    startTimeUtc: T0,
    requestor: "portcullis",
    justification: justificationFor(approved(), NONCE),
    ports: [
      {
        number: 22,
        allowedSourceAddressPrefix: "198.51.100.7/32",
        endTimeUtc: new Date(end.getTime() + 400),
        status: "Initiated",
        ...port,
      },
    ],
    ...overrides,
  });
  const own: OwnInitiate = {
    tag: { requestId: "R-17", nonce: NONCE },
    vmId,
    ports: [22],
    source: "198.51.100.7",
    endTimeUtc: end,
  };
  it("all five agree → ours (ids case-insensitive, /32 or not, the end to the second)", () => {
    expect(isOwnEntry(entry(), own)).toBe(true);
  });
  it("any one differs → not ours", () => {
    expect(isOwnEntry(entry({ justification: justificationFor(approved(), OTHER) }), own)).toBe(false);
    expect(isOwnEntry(entry({ vmId: target("web-02").vmId }), own)).toBe(false);
    expect(isOwnEntry(entry({}, { number: 3389 }), own)).toBe(false);
    expect(isOwnEntry(entry({}, { allowedSourceAddressPrefix: "198.51.100.8" }), own)).toBe(false);
    expect(isOwnEntry(entry({}, { endTimeUtc: new Date(end.getTime() + 60_000) }), own)).toBe(false);
  });
  it("supersession: a newer entry that copies our id (not our nonce) is someone else's", () => {
    const request = approved();
    const ours = entry();
    const copied = entry({
      startTimeUtc: new Date(T0.getTime() + 60_000),
      justification: "Portcullis R-17 | typed in the portal",
      ports: [
        { number: 22, allowedSourceAddressPrefix: "203.0.113.99", endTimeUtc: end, status: "Initiated" },
      ],
    });
    const found = supersededIn(request, [ours, copied], [{ requestId: "R-17", nonce: NONCE }]);
    expect(found?.by).toBe(copied);
    expect(supersededIn(request, [ours], [{ requestId: "R-17", nonce: NONCE }])).toBeUndefined();
  });
});

describe("the initiate plan", () => {
  it("end time = decision time + duration; the canonical source as allowedSourceAddressPrefix", () => {
    const plan = initiatePlan(approved(), new Date("2026-11-23T14:05:00Z"));
    expect(plan).toEqual([
      {
        policy: { resourceGroup: "rg-web", location: "westeurope", name: "default" },
        virtualMachines: [
          {
            vmId: target("web-01").vmId,
            ports: [
              {
                number: 22,
                endTimeUtc: new Date("2026-11-23T16:05:00Z"),
                allowedSourceAddressPrefix: "198.51.100.7",
              },
            ],
          },
        ],
        justification: justificationFor(approved()),
      },
    ]);
  });
  it("VMs under one policy → one call; under two policies → two calls", () => {
    expect(initiatePlan(approved({ targets: [target("web-01"), target("web-02")] }), T0)).toHaveLength(1);
    expect(
      initiatePlan(approved({ targets: [target("web-01"), target("db-01", "rg-data", "northeurope")] }), T0),
    ).toHaveLength(2);
  });
  it("no source yet → nothing to initiate", () => {
    const { source: _none, ...rest } = approved();
    expect(initiatePlan(rest, T0)).toBeUndefined();
  });
});
