// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the injection tests need literal ${…} strings.
import { describe, expect, it } from "vitest";
import { breakGlassCard, breakGlassCardSummary, CARD_VERBS } from "../../src/chat/cards.ts";
import {
  type AccessRequest,
  type Actor,
  expire,
  fail,
  type Review,
  revoke,
  type Transition,
} from "../../src/domain/access-request.ts";
import { AC, elementsOfType, type Json, runs, validate, visibleText } from "../support/card-inspection.ts";

const T0 = new Date("2026-11-23T14:00:00Z");
const at = (minutes: number): Date => new Date(T0.getTime() + minutes * 60_000);

const sam: Actor = { id: "id-sam", upn: "sam@contoso.com", name: "Sam Engineer" };
const alice: Actor = { id: "id-alice", upn: "alice@contoso.com", name: "Alice Owner" };

type BgState = "opening" | "active" | "expired" | "revoked" | "failed";
type ReviewState = Review["state"];

const REVIEWS: Record<ReviewState, Review> = {
  required: { state: "required", dueAt: at(240).toISOString() },
  acknowledged: {
    state: "acknowledged",
    dueAt: at(240).toISOString(),
    byId: alice.id,
    byUpn: "alice@contoso.com",
    byName: "Alice Owner",
    at: at(90).toISOString(),
  },
  flagged: {
    state: "flagged",
    dueAt: at(240).toISOString(),
    byId: alice.id,
    byUpn: "alice@contoso.com",
    byName: "Alice Owner",
    at: at(95).toISOString(),
    note: "No incident bridge was open at that time",
  },
  escalated: { state: "escalated", dueAt: at(240).toISOString(), at: at(240).toISOString() },
};

function ok(result: Transition): AccessRequest {
  if (!result.ok) throw new Error(`expected a move, got ${result.error.code}: ${result.error.message}`);
  return result.request;
}

/** A break-glass request as granted: approved at once, then Azure's answer. */
function opening(overrides: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id: "R-17",
    state: "approved",
    kind: "break_glass",
    incident: "INC-9",
    requester: { id: sam.id, upn: "sam@contoso.com", name: "Sam Engineer" },
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
    reason: "Database down, restarting the primary",
    createdAt: T0.toISOString(),
    approval: { approvers: ["alice@contoso.com"], required: 1 },
    decisions: [],
    review: REVIEWS.required,
    ...overrides,
  };
}

const grant = { initiatedAt: T0.toISOString(), endTimeUtc: at(60).toISOString(), justification: "R-17" };

function inState(state: BgState, overrides: Partial<AccessRequest> = {}): AccessRequest {
  const active = (): AccessRequest => opening({ ...overrides, state: "active", grant });
  switch (state) {
    case "opening":
      return opening(overrides);
    case "active":
      return active();
    case "expired":
      return ok(expire(active(), at(60)));
    case "revoked":
      return ok(revoke(active(), sam, at(20)));
    case "failed":
      return ok(fail(opening(overrides), "AzureUnreachable", "Azure did not answer within 30 s.", at(1)));
  }
}

function withReview(state: BgState, review: ReviewState | undefined): AccessRequest {
  const request = inState(state, review === undefined ? {} : { review: REVIEWS[review] });
  if (review !== undefined) return request;
  const { review: _dropped, ...rest } = request;
  return rest;
}

const BG_STATES: readonly BgState[] = ["opening", "active", "expired", "revoked", "failed"];
const REVIEW_STATES: readonly (ReviewState | undefined)[] = [
  "required",
  "acknowledged",
  "flagged",
  "escalated",
  undefined,
];

describe("break-glass card", () => {
  describe.each(REVIEW_STATES.flatMap((review) => BG_STATES.map((state) => [state, review] as const)))(
    "request %s, review %s",
    (state, review) => {
      const request = withReview(state, review);
      const card = breakGlassCard(request);

      it("renders a card the adaptivecards SDK parses at schema ≤ 1.5 without events or issues", () => {
        expect(card.type).toBe("AdaptiveCard");
        expect(Number(card.version)).toBeLessThanOrEqual(1.5);
        const { parseEvents, issues, card: parsed } = validate(card);
        expect(parseEvents).toEqual([]);
        expect(issues).toEqual([]);
        expect(parsed.version?.toString()).toBe("1.5");
      });

      it("leads with a loud BREAK-GLASS header and the id, and never a refresh", () => {
        const [first] = card.body as Json[];
        expect(first).toMatchObject({ type: "Container", style: "attention" });
        expect(((first as Json).items as Json[])[0]).toMatchObject({
          type: "TextBlock",
          text: "BREAK-GLASS R-17",
          size: "ExtraLarge",
          color: "Attention",
        });
        expect(card).not.toHaveProperty("refresh");
      });

      it("tells who, which VM and port, which address, incident and reason; binds every field", () => {
        expect(JSON.stringify(card)).not.toContain("${");
        const text = visibleText(card);
        expect(text).toContain("Sam Engineer (sam@contoso.com)");
        expect(text).toContain("web-01 in resource group rg-web\nPort 22");
        expect(text).toContain("198.51.100.7");
        expect(text).toContain("INC-9");
        expect(text).toContain("Database down, restarting the primary");
      });

      it("is a pure function: rendering twice gives identical JSON", () => {
        expect(breakGlassCard(withReview(state, review))).toEqual(card);
        expect(JSON.stringify(breakGlassCard(request))).toBe(JSON.stringify(card));
      });

      if (review === "required") {
        it("review required → Acknowledge and Flag with a flag note, even after the window ended", () => {
          const { card: parsed } = validate(card);
          expect(parsed.getActionCount()).toBe(2);
          expect(parsed.getAllInputs().map((input) => input.id)).toEqual(["flagNote"]);
        });
      } else {
        it("no review owed → no actions and no inputs", () => {
          expect(card).not.toHaveProperty("actions");
          expect(elementsOfType(card, "Input.Text")).toEqual([]);
          const { card: parsed } = validate(card);
          expect(parsed.getActionCount()).toBe(0);
          expect(parsed.getAllInputs()).toEqual([]);
        });
      }
    },
  );

  it("review required → exactly Acknowledge and Flag as Action.Execute with the verbs and the request id", () => {
    const card = breakGlassCard(inState("active"));
    expect(card.actions).toEqual([
      expect.objectContaining({
        type: "Action.Execute",
        title: "Acknowledge",
        verb: CARD_VERBS.acknowledge,
        data: { requestId: "R-17" },
        associatedInputs: "none",
      }),
      expect.objectContaining({
        type: "Action.Execute",
        title: "Flag",
        verb: CARD_VERBS.flag,
        data: { requestId: "R-17" },
        associatedInputs: "auto",
      }),
    ]);
    const executes = validate(card)
      .card.getAllActions()
      .filter((action) => action instanceof AC.ExecuteAction);
    expect(executes.map((action) => [action.verb, action.associatedInputs])).toEqual([
      ["portcullis.review.acknowledge", "none"],
      ["portcullis.review.flag", "auto"],
    ]);
    expect(elementsOfType(card, "Input.Text")).toEqual([
      expect.objectContaining({ id: "flagNote", placeholder: "What was wrong (needed to flag)" }),
    ]);
  });

  it("keeps the approval verbs and adds the review verbs", () => {
    expect(CARD_VERBS).toEqual({
      approve: "portcullis.approve",
      deny: "portcullis.deny",
      acknowledge: "portcullis.review.acknowledge",
      flag: "portcullis.review.flag",
    });
  });

  it.each<[ReviewState, string]>([
    ["required", "Review owed by 2026-11-23 18:00 UTC: an approver must acknowledge or flag"],
    ["acknowledged", "Reviewed: acknowledged by Alice Owner (alice@contoso.com) at 2026-11-23 15:30 UTC"],
    [
      "flagged",
      "Flagged by Alice Owner (alice@contoso.com) at 2026-11-23 15:35 UTC: No incident bridge was open at that time",
    ],
    ["escalated", "Review overdue — escalated to the security channel at 2026-11-23 18:00 UTC"],
  ])("review %s → %j", (review, line) => {
    const request = inState("expired", { review: REVIEWS[review] });
    expect(visibleText(breakGlassCard(request))).toContain(line);
    expect(breakGlassCardSummary(request)).toContain(line);
  });

  it("no review → no review section", () => {
    const card = breakGlassCard(withReview("active", undefined));
    expect(visibleText(card)).not.toMatch(/Review|Reviewed|Flagged/);
  });

  it.each<[BgState, string, string]>([
    ["opening", "Opening — granted at once, waiting for Azure", "opening…"],
    ["active", "Active — open until 2026-11-23 15:00 UTC", "2026-11-23 15:00 UTC"],
    ["expired", "Expired — closed at 2026-11-23 15:00 UTC", "2026-11-23 15:00 UTC"],
    [
      "revoked",
      "Revoked — closed early by the requester (Sam Engineer) at 2026-11-23 14:20 UTC",
      "2026-11-23 15:00 UTC (closed early at 2026-11-23 14:20 UTC)",
    ],
    ["failed", "Failed: Azure did not answer within 30 s.", "NOT opened: Azure did not answer within 30 s."],
  ])("request %s → outcome %j, until %j", (state, line, until) => {
    const card = breakGlassCard(inState(state));
    const text = visibleText(card);
    expect(text).toContain(line);
    expect(text).toContain(`Until\n`);
    const untilRow = elementsOfType(card, "ColumnSet").find((set) => visibleText(set).startsWith("Until\n"));
    expect(visibleText(untilRow ?? {})).toBe(`Until\n${until}`);
  });

  describe("who closed it early is named, never an object id", () => {
    const oid = "00000000-0000-4000-8000-000000000106";
    const reviewer: Actor = { id: oid, upn: "Alice@Contoso.com", name: "Alice Owner" };

    it("an approver's done → name and UPN", () => {
      const closed = ok(revoke(inState("active"), reviewer, at(20)));
      const text = visibleText(breakGlassCard(closed));
      expect(text).toContain(
        "Revoked — closed early by Alice Owner (alice@contoso.com) at 2026-11-23 14:20 UTC",
      );
      expect(text).not.toContain(oid);
      expect(breakGlassCardSummary(closed)).not.toContain(oid);
    });

    it("the bot itself → Portcullis", () => {
      const closed = ok(revoke(inState("active"), { id: "portcullis" }, at(20), { privileged: true }));
      expect(visibleText(breakGlassCard(closed))).toContain("Revoked — closed early by Portcullis at");
    });

    it("a record written before names were kept → named from the review it carries", () => {
      const {
        endedByUpn: _upn,
        endedByName: _name,
        ...old
      } = ok(revoke(inState("active", { review: { ...REVIEWS.acknowledged, byId: oid } }), reviewer, at(20)));
      expect(old.endedBy).toBe(oid);
      expect(visibleText(breakGlassCard(old))).toContain("closed early by Alice Owner (alice@contoso.com)");
    });
  });

  it("failed → the until line is loud", () => {
    const card = breakGlassCard(inState("failed"));
    const run = elementsOfType(card, "TextRun").find((r) => String(r.text).startsWith("NOT opened"));
    expect(run).toMatchObject({ weight: "Bolder", color: "Attention" });
  });

  it("a firewall-fronted target and a second VM → each VM with its mapped ports", () => {
    const base = inState("active", {
      targets: [
        ...opening().targets,
        {
          vmId: "/subscriptions/s/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/app-02",
          vmName: "app-02",
          resourceGroup: "rg-app",
          location: "westeurope",
          policyName: "default",
          ports: [3389, 5985],
          osType: "Windows",
          connectAddress: "20.50.1.4",
          viaFirewall: true,
        },
      ],
    });
    // The firewall port Azure reported in the initiate response (request ports only), kept with the grant.
    const app02 = "/subscriptions/s/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/app-02";
    const request: AccessRequest = base.grant
      ? { ...base, grant: { ...base.grant, mappedPorts: [{ vmId: app02, port: 3389, mappedPort: 53389 }] } }
      : base;
    const card = breakGlassCard(request);
    const text = visibleText(card);
    expect(text).toContain("VMs");
    expect(text).toContain(
      "app-02 in resource group rg-app\nPorts 3389 via firewall 20.50.1.4:53389, 5985 via firewall 20.50.1.4",
    );
    expect(validate(card).issues).toEqual([]);
    expect(breakGlassCardSummary(request)).toContain("web-01 port 22, app-02 ports 3389, 5985");
  });

  it("summary → BREAK-GLASS, the id, who, VM, incident, state and review", () => {
    expect(breakGlassCardSummary(inState("active"))).toBe(
      "BREAK-GLASS R-17: Sam Engineer on web-01 port 22, incident INC-9 — Active — open until 2026-11-23 15:00 UTC — Review owed by 2026-11-23 18:00 UTC: an approver must acknowledge or flag",
    );
    expect(breakGlassCardSummary(withReview("failed", undefined))).toBe(
      "BREAK-GLASS R-17: Sam Engineer on web-01 port 22, incident INC-9 — Failed: Azure did not answer within 30 s.",
    );
  });

  describe("user text", () => {
    const hostile = "${$root.requester.upn}";
    const link = "[acknowledge here](https://evil.example) **now**";

    it.each<[string, Partial<AccessRequest>]>([
      ["incident", { incident: hostile }],
      ["reason", { reason: hostile }],
      ["flag note", { review: { ...REVIEWS.flagged, note: hostile } }],
      ["reviewer name", { review: { ...REVIEWS.acknowledged, byName: hostile } }],
    ])("a template expression in the %s renders literally, not evaluated", (_field, overrides) => {
      const card = breakGlassCard(inState("active", overrides));
      expect(runs(card).some((text) => text.includes(hostile))).toBe(true);
      // The UPN appears once, where the template binds it, not in place of the hostile text.
      expect(runs(card).filter((text) => text.includes("sam@contoso.com"))).toEqual([" (sam@contoso.com)"]);
      expect(validate(card).issues).toEqual([]);
    });

    it("template expressions in the requester's name and Azure's message stay literal", () => {
      const name = "Eve ${$root.id} ${concat('a','b')} $root.reason";
      const card = breakGlassCard(
        inState("active", { requester: { id: sam.id, upn: "sam@contoso.com", name } }),
      );
      expect(runs(card)).toContain(name);
      const failed = ok(fail(opening(), "X", "${$root.verbs.acknowledge}", at(1)));
      expect(visibleText(breakGlassCard(failed))).toContain("NOT opened: ${$root.verbs.acknowledge}");
    });

    it("markdown in incident, reason, note and names only reaches TextRuns (plain text), never TextBlocks", () => {
      const card = breakGlassCard(
        inState("active", {
          incident: link,
          reason: link,
          requester: { id: sam.id, upn: "sam@contoso.com", name: link },
          review: { ...REVIEWS.flagged, byName: link, note: link },
        }),
      );
      const blocks = elementsOfType(card, "TextBlock").map((block) => String(block.text));
      expect(blocks.filter((text) => text.includes("evil.example"))).toEqual([]);
      expect(runs(card).filter((text) => text === link)).toHaveLength(3);
      expect(runs(card)).toContain(`Flagged by ${link} (alice@contoso.com) at 2026-11-23 15:35 UTC: ${link}`);
    });
  });
});
