import { describe, expect, it } from "vitest";
import {
  type AccessRequest,
  type Actor,
  approve,
  beginOpening,
  cancel,
  createExtension,
  createRequest,
  deny,
  describeOutcome,
  expire,
  fail,
  markActive,
  type NewRequest,
  plannedEndFor,
  provideSource,
  type RequestState,
  revoke,
  supersede,
  type Transition,
  timeout,
  withdraw,
} from "../../src/domain/access-request.ts";

const T0 = new Date("2026-11-23T14:00:00Z");
const at = (minutes: number): Date => new Date(T0.getTime() + minutes * 60_000);

const sam: Actor = { id: "id-sam", upn: "sam@contoso.com", name: "Sam Engineer" };
const alice: Actor = { id: "id-alice", upn: "Alice@Contoso.com", name: "Alice Owner" };
const bob: Actor = { id: "id-bob", upn: "bob@contoso.com", name: "Bob Owner" };
const mallory: Actor = { id: "id-mallory", upn: "mallory@contoso.com" };

function newRequest(overrides: Partial<NewRequest> = {}): NewRequest {
  return {
    id: "R-17",
    requester: { id: "id-sam", upn: "sam@contoso.com", name: "Sam Engineer" },
    targets: [
      {
        vmId: "/subscriptions/s/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01",
        vmName: "web-01",
        resourceGroup: "rg-web",
        location: "westeurope",
        policyName: "default",
        ports: [22],
        osType: "Linux",
      },
    ],
    source: { prefix: "198.51.100.7", origin: "typed" },
    durationMs: 3_600_000,
    reason: "INC-4211",
    approval: { approvers: ["alice@contoso.com", "bob@contoso.com"], required: 1 },
    ...overrides,
  };
}

function pending(overrides: Partial<NewRequest> = {}): AccessRequest {
  return createRequest(newRequest(overrides), T0).request;
}

function ok(result: Transition): AccessRequest {
  if (!result.ok) throw new Error(`expected a move, got ${result.error.code}: ${result.error.message}`);
  return result.request;
}

function withState(state: RequestState): AccessRequest {
  return { ...pending(), state };
}

describe("creating a request", () => {
  it("with an address → pending, one request.created event", () => {
    const { request, event } = createRequest(newRequest(), T0);
    expect(request.state).toBe("pending");
    expect(request.createdAt).toBe("2026-11-23T14:00:00.000Z");
    expect(event).toMatchObject({ type: "request.created", actorId: "id-sam", requestId: "R-17", at: T0 });
  });
  it("without an address → awaiting_source; the link's address moves it to pending", () => {
    const { source: _none, ...rest } = newRequest();
    const waiting = createRequest(rest, T0).request;
    expect(waiting.state).toBe("awaiting_source");
    const result = provideSource(waiting, { prefix: "198.51.100.7", origin: "link" }, sam, at(1));
    expect(result.ok && result.request.state).toBe("pending");
    expect(result.ok && result.event.type).toBe("request.source_provided");
  });
  it("address from someone else than the requester → refused", () => {
    const { source: _none, ...rest } = newRequest();
    const waiting = createRequest(rest, T0).request;
    const result = provideSource(waiting, { prefix: "198.51.100.9", origin: "link" }, mallory, at(1));
    expect(!result.ok && result.error.code).toBe("not_requester");
  });
  it("is plain JSON: survives a round trip through the store unchanged", () => {
    const request = ok(approve(pending(), alice, at(2)));
    expect(JSON.parse(JSON.stringify(request))).toEqual(request);
  });
});

describe("approving", () => {
  it("approve by a listed approver (UPN compared case-insensitively) → approved, event names the approver", () => {
    const result = approve(pending(), alice, at(5));
    expect(result.ok && result.request.state).toBe("approved");
    expect(result.ok && result.event).toMatchObject({
      type: "request.approved",
      actorId: "id-alice",
      payload: { approvers: ["alice@contoso.com"] },
    });
  });

  it("approve when requester is approver → refused as self-approval", () => {
    const request = pending({
      approval: { approvers: ["sam@contoso.com", "alice@contoso.com"], required: 1 },
    });
    const result = approve(request, sam, at(5));
    expect(!result.ok && result.error.code).toBe("self_approval");
    expect(!result.ok && result.error.message).toContain("You asked for R-17, so you cannot decide it");
  });

  it("self-approval is caught by object id even without a UPN", () => {
    const request = pending({ approval: { approvers: ["id-sam"], required: 1 } });
    expect(approve(request, { id: "ID-SAM" }, at(5)).ok).toBe(false);
  });

  it("approve by a non-approver → refused, naming who can", () => {
    const result = approve(pending(), mallory, at(5));
    expect(!result.ok && result.error.code).toBe("not_an_approver");
    expect(!result.ok && result.error.message).toBe(
      "You are not an approver of R-17; alice@contoso.com or bob@contoso.com can decide it.",
    );
  });

  it("approver removed since the card was sent → refused when the click-time list is given", () => {
    const result = approve(pending(), alice, at(5), { currentApprovers: ["bob@contoso.com"] });
    expect(!result.ok && result.error.code).toBe("not_an_approver");
  });

  it("2-of-2: first approval → still pending (approval_recorded), second → approved", () => {
    const request = pending({
      approval: { approvers: ["alice@contoso.com", "bob@contoso.com"], required: 2 },
    });
    const first = approve(request, alice, at(5));
    expect(first.ok && first.request.state).toBe("pending");
    expect(first.ok && first.event.type).toBe("request.approval_recorded");
    const second = approve(ok(first), bob, at(6));
    expect(second.ok && second.request.state).toBe("approved");
    expect(second.ok && second.event.payload).toMatchObject({
      approvers: ["alice@contoso.com", "bob@contoso.com"],
    });
  });

  it("2-of-2: the same approver twice → already voted, no second approval", () => {
    const request = pending({
      approval: { approvers: ["alice@contoso.com", "bob@contoso.com"], required: 2 },
    });
    const once = ok(approve(request, alice, at(5)));
    const twice = approve(once, { ...alice, upn: "alice@contoso.com" }, at(6));
    expect(!twice.ok && twice.error.code).toBe("already_voted");
    expect(!twice.ok && twice.error.message).toBe(
      "You already approved R-17 at 14:05 UTC; it is waiting for 1 more approval.",
    );
  });

  it("first decision wins: a second approver's click after approval → already decided, naming who and when", () => {
    const approved = ok(approve(pending(), alice, at(5)));
    const late = approve(approved, bob, at(7));
    expect(late.ok).toBe(false);
    expect(!late.ok && late.error).toMatchObject({
      code: "already_decided",
      message: "R-17 was already approved by Alice Owner (alice@contoso.com) at 14:05 UTC.",
      state: "approved",
    });
    expect(!late.ok && late.error.decisions?.[0]?.byId).toBe("id-alice");
  });

  it("a deny after approval → already decided, not a denial", () => {
    const approved = ok(approve(pending(), alice, at(5)));
    const late = deny(approved, bob, at(7), "no");
    expect(!late.ok && late.error.code).toBe("already_decided");
  });

  it("rules now need more approvals than the request stored → N goes up at the click, never down", () => {
    const first = ok(approve(pending(), alice, at(5), { currentRequired: 2 }));
    expect(first).toMatchObject({ state: "pending", approval: { required: 2 } });
    expect(ok(approve(first, bob, at(6), { currentRequired: 1 })).state).toBe("approved");
    const stricter = pending({
      approval: { approvers: ["alice@contoso.com", "bob@contoso.com"], required: 2 },
    });
    expect(ok(approve(stricter, alice, at(5), { currentRequired: 1 })).state).toBe("pending");
  });

  it("deny, cancel and revoke keep the ender's UPN and name beside the id", () => {
    expect(ok(deny(pending(), bob, at(3), "no"))).toMatchObject({
      endedBy: "id-bob",
      endedByUpn: "bob@contoso.com",
      endedByName: "Bob Owner",
    });
    const active = ok(markActive(ok(approve(pending(), alice, at(5))), grant(), at(5)));
    expect(ok(revoke(active, alice, at(9)))).toMatchObject({
      endedBy: "id-alice",
      endedByUpn: "alice@contoso.com",
      endedByName: "Alice Owner",
    });
    expect(ok(expire(active, at(200)))).not.toHaveProperty("endedByName");
  });

  it("an approval after a denial → already decided, naming the denier and reason", () => {
    const denied = ok(deny(pending(), bob, at(3), "not during the freeze"));
    const late = approve(denied, alice, at(4));
    expect(!late.ok && late.error.message).toBe(
      "R-17 was already denied by Bob Owner (bob@contoso.com) at 14:03 UTC: not during the freeze.",
    );
  });

  it("a decision on an active, expired, cancelled or timed-out request → already decided", () => {
    const active = ok(markActive(ok(approve(pending(), alice, at(5))), grant(), at(5)));
    expect(!approve(active, bob, at(6)).ok && approve(active, bob, at(6))).toMatchObject({
      error: { code: "already_decided" },
    });
    const cancelled = ok(cancel(pending(), sam, at(2)));
    const late = approve(cancelled, alice, at(3));
    expect(!late.ok && late.error.message).toBe("R-17 was cancelled by Sam Engineer at 14:02 UTC.");
    const timedOut = ok(timeout(pending(), at(60)));
    const later = approve(timedOut, alice, at(61));
    expect(!later.ok && later.error.message).toBe("R-17 timed out at 15:00 UTC without a decision.");
  });

  it("a decision while the address is still missing → illegal", () => {
    const { source: _none, ...rest } = newRequest();
    const waiting = createRequest(rest, T0).request;
    const result = approve(waiting, alice, at(1));
    expect(!result.ok && result.error.code).toBe("illegal_transition");
  });
});

describe("denying", () => {
  it("one denial → denied, with the reason, even when N is 2", () => {
    const request = pending({
      approval: { approvers: ["alice@contoso.com", "bob@contoso.com"], required: 2 },
    });
    const result = deny(request, bob, at(3), "  use the bastion  ");
    expect(result.ok && result.request.state).toBe("denied");
    expect(result.ok && result.request.decisions).toEqual([
      {
        byId: "id-bob",
        byUpn: "bob@contoso.com",
        byName: "Bob Owner",
        kind: "deny",
        at: at(3).toISOString(),
        reason: "use the bastion",
      },
    ]);
    expect(result.ok && result.event).toMatchObject({
      type: "request.denied",
      payload: { reason: "use the bastion" },
    });
  });
  it("deny without a reason → refused", () => {
    const result = deny(pending(), bob, at(3), "   ");
    expect(!result.ok && result.error.code).toBe("reason_required");
  });
  it("deny by the requester → self-approval refusal", () => {
    const request = pending({ approval: { approvers: ["sam@contoso.com", "bob@contoso.com"], required: 1 } });
    expect(!deny(request, sam, at(3), "x").ok).toBe(true);
  });
  it("deny by a non-approver → refused", () => {
    const result = deny(pending(), mallory, at(3), "x");
    expect(!result.ok && result.error.code).toBe("not_an_approver");
  });
  it("an approver who approved a 2-of-2 cannot then deny it", () => {
    const request = pending({
      approval: { approvers: ["alice@contoso.com", "bob@contoso.com"], required: 2 },
    });
    const once = ok(approve(request, alice, at(5)));
    const result = deny(once, alice, at(6), "changed my mind");
    expect(!result.ok && result.error.code).toBe("already_voted");
  });
});

function grant() {
  return {
    initiatedAt: at(5).toISOString(),
    endTimeUtc: at(65).toISOString(),
    justification: "Portcullis R-17 | …",
  };
}

describe("granting and ending", () => {
  it("approved → active → expired", () => {
    const active = ok(markActive(ok(approve(pending(), alice, at(5))), grant(), at(5)));
    expect(active.state).toBe("active");
    expect(active.grant?.endTimeUtc).toBe(at(65).toISOString());
    const expired = expire(active, at(65));
    expect(expired.ok && expired.request).toMatchObject({ state: "expired", endedAt: at(65).toISOString() });
    expect(expired.ok && expired.event.type).toBe("request.expired");
  });
  it("approved → failed with Azure's sentence", () => {
    const result = fail(
      ok(approve(pending(), alice, at(5))),
      "InvalidInitiateInput",
      "Azure refused port 22",
      at(5),
    );
    expect(result.ok && result.request).toMatchObject({
      state: "failed",
      failure: { code: "InvalidInitiateInput", message: "Azure refused port 22" },
    });
  });
  it("active → revoked by the requester (done) or an approver; not by others", () => {
    const active = ok(markActive(ok(approve(pending(), alice, at(5))), grant(), at(5)));
    expect(revoke(active, sam, at(20)).ok).toBe(true);
    expect(revoke(active, bob, at(20)).ok).toBe(true);
    const refused = revoke(active, mallory, at(20));
    expect(!refused.ok && refused.error.code).toBe("not_requester");
    expect(revoke(active, mallory, at(20), { privileged: true }).ok).toBe(true);
  });
  it("cancel by the requester from pending → cancelled; by anyone else → refused", () => {
    expect(ok(cancel(pending(), sam, at(2))).state).toBe("cancelled");
    const refused = cancel(pending(), alice, at(2));
    expect(!refused.ok && refused.error.code).toBe("not_requester");
  });
  it("cancel once approved → refused, pointing at `done`", () => {
    const approved = ok(approve(pending(), alice, at(5)));
    const result = cancel(approved, sam, at(6));
    expect(!result.ok && result.error.message).toContain("type `done R-17`");
  });
});

describe("illegal moves are refused with a typed error, never a throw", () => {
  const all: RequestState[] = [
    "awaiting_source",
    "pending",
    "scheduled",
    "approved",
    "active",
    "expired",
    "revoked",
    "denied",
    "cancelled",
    "timed_out",
    "failed",
  ];
  const moves: Record<string, { allowed: RequestState[]; run: (request: AccessRequest) => Transition }> = {
    provideSource: {
      allowed: ["awaiting_source"],
      run: (r) => provideSource(r, { prefix: "198.51.100.7", origin: "link" }, sam, at(1)),
    },
    approve: { allowed: ["pending"], run: (r) => approve(r, alice, at(1)) },
    deny: { allowed: ["pending"], run: (r) => deny(r, alice, at(1), "no") },
    markActive: { allowed: ["approved", "scheduled"], run: (r) => markActive(r, grant(), at(1)) },
    fail: {
      allowed: ["awaiting_source", "pending", "scheduled", "approved"],
      run: (r) => fail(r, "x", "y", at(1)),
    },
    cancel: { allowed: ["awaiting_source", "pending", "scheduled"], run: (r) => cancel(r, sam, at(1)) },
    timeout: { allowed: ["awaiting_source", "pending"], run: (r) => timeout(r, at(1)) },
    expire: { allowed: ["active"], run: (r) => expire(r, at(1)) },
    revoke: { allowed: ["active"], run: (r) => revoke(r, sam, at(1)) },
    beginOpening: { allowed: ["scheduled"], run: (r) => beginOpening(r, at(1)) },
    withdraw: {
      allowed: ["awaiting_source", "pending", "scheduled", "approved"],
      run: (r) => withdraw({ ...r, extends: "R-9" }, { ...pending({ id: "R-9" }), state: "expired" }, at(1)),
    },
    supersede: {
      allowed: ["active"],
      run: (r) =>
        supersede(
          {
            ...r,
            grant: { initiatedAt: at(0).toISOString(), endTimeUtc: at(60).toISOString(), justification: "" },
          },
          {
            ...pending({ id: "R-18" }),
            state: "active",
            extends: "R-17",
            grant: { initiatedAt: at(1).toISOString(), endTimeUtc: at(90).toISOString(), justification: "" },
          },
        ),
    },
  };
  for (const [name, move] of Object.entries(moves)) {
    for (const state of all) {
      const allowed = move.allowed.includes(state);
      it(`${name} from ${state} → ${allowed ? "moves" : "refused"}`, () => {
        const result = move.run(withState(state));
        expect(result.ok).toBe(allowed);
        if (!result.ok) {
          expect(["illegal_transition", "already_decided"]).toContain(result.error.code);
          expect(result.error.message.length).toBeGreaterThan(0);
        } else {
          expect(result.event.requestId).toBe("R-17");
        }
      });
    }
  }
});

describe("a future window (scheduled)", () => {
  const future = (): AccessRequest => pending({ startAt: at(600).toISOString() });

  it("the last approval of a window that starts later → scheduled, not approved; the event says when it opens", () => {
    const result = approve(future(), alice, at(5));
    expect(result.ok && result.request.state).toBe("scheduled");
    expect(result.ok && result.event).toMatchObject({
      type: "request.approved",
      payload: { state: "scheduled", startAt: at(600).toISOString() },
    });
  });
  it("approved after its start already passed → approved (it opens now)", () => {
    expect(ok(approve(future(), alice, at(601))).state).toBe("approved");
  });
  it("scheduled → beginOpening at its start → approved; before the start → refused", () => {
    const scheduled = ok(approve(future(), alice, at(5)));
    expect(beginOpening(scheduled, at(599)).ok).toBe(false);
    const opening = beginOpening(scheduled, at(600));
    expect(opening.ok && opening.request.state).toBe("approved");
    expect(opening.ok && opening.event.type).toBe("request.opening");
  });
  it("the requester cancels it while scheduled → cancelled; an approver cannot", () => {
    const scheduled = ok(approve(future(), alice, at(5)));
    expect(ok(cancel(scheduled, sam, at(10))).state).toBe("cancelled");
    expect(cancel(scheduled, alice, at(10)).ok).toBe(false);
  });
});

describe("an extension beyond what was approved", () => {
  const opened = (): AccessRequest =>
    ok(
      markActive(
        ok(approve(pending(), alice, at(1))),
        { initiatedAt: at(1).toISOString(), endTimeUtc: at(61).toISOString(), justification: "R-17" },
        at(1),
      ),
    );
  const extension = (): AccessRequest =>
    createExtension(
      opened(),
      { id: "R-18", until: at(91), approval: { approvers: ["alice@contoso.com"], required: 1 } },
      at(50),
    ).request;

  it("is asked for a fixed new end, and says which window it continues until when", () => {
    const { request, event } = createExtension(
      opened(),
      { id: "R-18", until: at(91), approval: { approvers: ["alice@contoso.com"], required: 1 } },
      at(50),
    );
    expect(request).toMatchObject({
      id: "R-18",
      state: "pending",
      extends: "R-17",
      createdAt: at(50).toISOString(),
      extension: { from: at(61).toISOString(), until: at(91).toISOString() },
    });
    expect(event.payload).toMatchObject({ extends: "R-17", until: at(91).toISOString() });
    // Approved late, it still ends when asked: not a duration counted from the approval.
    expect(plannedEndFor(request, at(58)).toISOString()).toBe(at(91).toISOString());
  });

  it("the window closed with done → the extension is withdrawn, and a late approval says why", () => {
    const closed = ok(revoke(opened(), sam, at(55)));
    const result = withdraw(extension(), closed, at(55));
    expect(result.ok && result.request).toMatchObject({
      state: "cancelled",
      withdrawal: { because: "R-17", endedState: "revoked", endedBy: "Sam Engineer" },
    });
    expect(result.ok && result.event).toMatchObject({
      type: "request.withdrawn",
      requestId: "R-18",
      payload: { because: "R-17", endedState: "revoked" },
    });
    const withdrawn = ok(result);
    const late = approve(withdrawn, alice, at(56));
    expect(!late.ok && late.error.code).toBe("already_decided");
    expect(!late.ok && late.error.message).toBe(
      "R-18 was withdrawn because R-17 was closed by Sam Engineer at 14:55 UTC.",
    );
    expect(describeOutcome(withdrawn)).toBe(
      "R-18 was withdrawn because R-17 was closed by Sam Engineer at 14:55 UTC.",
    );
  });

  it("the window expired → withdrawn, saying it expired; an approved extension not yet open is withdrawn too", () => {
    const expired = ok(expire(opened(), at(61)));
    const approved = ok(approve(extension(), alice, at(52)));
    expect(approved.state).toBe("approved");
    const result = withdraw(approved, expired, at(61));
    expect(result.ok && describeOutcome(result.request)).toBe(
      "R-18 was withdrawn because R-17 expired at 15:01 UTC.",
    );
  });

  it("while the window is still open, or for a request that extends something else → refused", () => {
    expect(withdraw(extension(), opened(), at(55)).ok).toBe(false);
    const other = { ...ok(revoke(opened(), sam, at(55))), id: "R-3" };
    expect(withdraw(extension(), other, at(55)).ok).toBe(false);
  });

  it("granted → the window it continues ends when the extension's initiate was made, continued as the extension", () => {
    const granted = ok(
      markActive(
        ok(approve(extension(), alice, at(52))),
        { initiatedAt: at(53).toISOString(), endTimeUtc: at(91).toISOString(), justification: "R-18" },
        at(53),
      ),
    );
    const result = supersede(opened(), granted);
    expect(result.ok && result.request).toMatchObject({
      state: "revoked",
      continuedAs: "R-18",
      endedAt: at(53).toISOString(),
    });
    expect(result.ok && result.event).toMatchObject({
      type: "request.superseded",
      at: at(53),
      payload: { continuedAs: "R-18", endedAt: at(53).toISOString(), plannedEnd: at(61).toISOString() },
    });
    expect(result.ok && describeOutcome(result.request)).toContain("has since been continued as R-18");
  });
});
