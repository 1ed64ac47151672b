import { describe, expect, it } from "vitest";
import type { AccessRequest, Target } from "../../src/domain/access-request.ts";
import { admissionRefusal, occupies } from "../../src/domain/admission.ts";
import { samePerson } from "../../src/domain/person.ts";

const NOW = new Date("2026-12-05T12:00:00Z");
const H = 60 * 60_000;
const web01: Target = {
  vmId: "/subscriptions/s/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01",
  vmName: "web-01",
  resourceGroup: "rg-web",
  location: "westeurope",
  policyName: "default",
  ports: [22],
  osType: "Linux",
};

function request(overrides: Partial<AccessRequest> & Pick<AccessRequest, "id">): AccessRequest {
  return {
    state: "pending",
    requester: { id: "aad-sam", upn: "sam@contoso.com", name: "Sam Engineer" },
    targets: [web01],
    source: { prefix: "203.0.113.7", origin: "typed" },
    durationMs: H,
    createdAt: NOW.toISOString(),
    decideBy: new Date(NOW.getTime() + H).toISOString(),
    approval: { approvers: ["alice@contoso.com"], required: 1 },
    decisions: [],
    ...overrides,
  };
}

const ann = { id: "aad-ann", upn: "ann@contoso.com", name: "Ann" };
const openByAnn = request({
  id: "R-1",
  requester: ann,
  state: "active",
  grant: {
    initiatedAt: NOW.toISOString(),
    endTimeUtc: new Date(NOW.getTime() + 2 * H).toISOString(),
    justification: "R-1",
  },
});

describe("one holder per VM and port", () => {
  it("someone else's open window on the same VM+port → refused with who and until when", () => {
    const refusal = admissionRefusal({ candidate: request({ id: "R-2" }), openOnVms: [openByAnn], now: NOW });
    expect(refusal?.code).toBe("held_by_other");
    expect(refusal?.message).toContain(
      "web-01 port 22 is held by Ann (ann@contoso.com): R-1 has it open until 2026-12-05 14:00 UTC",
    );
    expect(refusal?.message).toContain("`done R-1`");
  });

  it("a different port on the same VM, or the window ended → admitted", () => {
    const otherPort = request({ id: "R-2", targets: [{ ...web01, ports: [443] }] });
    expect(admissionRefusal({ candidate: otherPort, openOnVms: [openByAnn], now: NOW })).toBeUndefined();
    const ended = { ...openByAnn, state: "expired" as const };
    expect(
      admissionRefusal({ candidate: request({ id: "R-2" }), openOnVms: [ended], now: NOW }),
    ).toBeUndefined();
  });

  it("someone else's pending request → refused (its approval would close the other window)", () => {
    const pending = request({ id: "R-1", requester: ann });
    expect(
      admissionRefusal({ candidate: request({ id: "R-2" }), openOnVms: [pending], now: NOW })?.message,
    ).toMatch(/R-1 has asked for it \(waiting for approval; it could be open until 2026-12-05 14:00 UTC\)/);
  });

  it("future windows that do not overlap → admitted; overlapping → refused", () => {
    const tomorrow = request({
      id: "R-1",
      requester: ann,
      state: "scheduled",
      startAt: new Date(NOW.getTime() + 24 * H).toISOString(),
    });
    expect(
      admissionRefusal({ candidate: request({ id: "R-2" }), openOnVms: [tomorrow], now: NOW }),
    ).toBeUndefined();
    const soon = { ...tomorrow, startAt: new Date(NOW.getTime() + 90 * 60_000).toISOString() };
    expect(admissionRefusal({ candidate: request({ id: "R-2" }), openOnVms: [soon], now: NOW })?.code).toBe(
      "held_by_other",
    );
  });

  it("an undecided request with no known time-out holds until it ends", () => {
    const { decideBy: _, ...unbounded } = request({ id: "R-1" });
    expect(occupies(unbounded, NOW).to).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("one open request per person, one pending extension per window", () => {
  it("the same person again on the same VM+port → refused, pointing at it", () => {
    const mine = request({ id: "R-1" });
    const refusal = admissionRefusal({ candidate: request({ id: "R-2" }), openOnVms: [mine], now: NOW });
    expect(refusal).toMatchObject({ code: "already_open", requestId: "R-1" });
    expect(refusal?.message).toContain("`cancel R-1` withdraws it");
  });

  it("the same person by UPN under another object id counts as the same person", () => {
    const mine = request({ id: "R-1", requester: { id: "slack-U1", upn: "SAM@contoso.com", name: "Sam" } });
    expect(admissionRefusal({ candidate: request({ id: "R-2" }), openOnVms: [mine], now: NOW })?.code).toBe(
      "already_open",
    );
  });

  it("an extension of my own window is admitted; a second one is refused", () => {
    const mine = { ...openByAnn, requester: { id: "aad-sam", upn: "sam@contoso.com", name: "Sam" } };
    const extension = request({ id: "R-2", extends: "R-1" });
    expect(admissionRefusal({ candidate: extension, openOnVms: [mine], now: NOW })).toBeUndefined();
    const second = request({ id: "R-3", extends: "R-1" });
    expect(admissionRefusal({ candidate: second, openOnVms: [mine, extension], now: NOW })).toMatchObject({
      code: "extension_pending",
      message: "R-2 already asks to extend R-1; it is waiting for approval.",
    });
  });
});

describe("break-glass limits", () => {
  const limits = { perUserPerDay: 3, perVmPerDay: 5 };
  const olive = { id: "aad-olive", upn: "olive@contoso.com", name: "Olive" };
  const earlier = (id: string, hoursAgo: number, extra: Partial<AccessRequest> = {}) =>
    request({
      id,
      kind: "break_glass",
      requester: olive,
      state: "revoked",
      createdAt: new Date(NOW.getTime() - hoursAgo * H).toISOString(),
      ...extra,
    });
  const candidate = request({ id: "R-9", kind: "break_glass", requester: olive, state: "approved" });

  it("a fourth by the same person within 24 h → refused; older or failed ones do not count", () => {
    const three = [earlier("R-1", 1), earlier("R-2", 2), earlier("R-3", 23)];
    expect(
      admissionRefusal({
        candidate,
        openOnVms: [],
        recentBreakGlass: three,
        breakGlassLimits: limits,
        now: NOW,
      })?.message,
    ).toContain("You have broken glass 3 times in the last 24 h");
    const notCounted = [earlier("R-1", 1), earlier("R-2", 25), earlier("R-3", 2, { state: "failed" })];
    expect(
      admissionRefusal({
        candidate,
        openOnVms: [],
        recentBreakGlass: notCounted,
        breakGlassLimits: limits,
        now: NOW,
      }),
    ).toBeUndefined();
  });

  it("a sixth on the same VM within 24 h, by anyone → refused", () => {
    const five = [1, 2, 3, 4, 5].map((i) =>
      earlier(`R-${i}`, i, { requester: { id: `aad-${i}`, upn: `p${i}@contoso.com`, name: `P${i}` } }),
    );
    expect(
      admissionRefusal({
        candidate,
        openOnVms: [],
        recentBreakGlass: five,
        breakGlassLimits: limits,
        now: NOW,
      })?.message,
    ).toContain("web-01 has had 5 break-glass grants in the last 24 h");
  });
});

describe("samePerson", () => {
  it("matches by object id or UPN, case-insensitively, and never on different people", () => {
    expect(samePerson({ id: "AAD-1" }, { id: "aad-1" })).toBe(true);
    expect(samePerson({ id: "a", upn: "Sam@Contoso.com" }, { id: "b", upn: "sam@contoso.com" })).toBe(true);
    expect(samePerson({ id: "sam@contoso.com" }, { id: "aad-9", upn: "sam@contoso.com" })).toBe(true);
    expect(samePerson({ id: "a", upn: "sam@contoso.com" }, { id: "b", upn: "ann@contoso.com" })).toBe(false);
  });
});
