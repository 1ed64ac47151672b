import { describe, expect, it } from "vitest";
import {
  type AccessRequest,
  approve,
  createRequest,
  type NewRequest,
} from "../../src/domain/access-request.ts";
import {
  initiatePlan,
  justificationFor,
  MAX_JUSTIFICATION_LENGTH,
  requestIdFromJustification,
} from "../../src/domain/justification.ts";

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
