// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the injection tests need literal ${…} strings.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import {
  type ApprovalCardContext,
  approvalCard,
  approvalCardSummary,
  CARD_VERBS,
  WINDOW_VERBS,
  windowCard,
} from "../../src/chat/cards.ts";
import {
  type AccessRequest,
  type Actor,
  approve,
  cancel,
  createExtension,
  createRequest,
  deny,
  expire,
  fail,
  markActive,
  type NewRequest,
  type RequestState,
  revoke,
  supersede,
  type Transition,
  timeout,
  withdraw,
} from "../../src/domain/access-request.ts";
import { AC, elementsOfType, type Json, runs, validate, visibleText } from "../support/card-inspection.ts";

const T0 = new Date("2026-11-23T14:00:00Z");
const at = (minutes: number): Date => new Date(T0.getTime() + minutes * 60_000);

const sam: Actor = { id: "id-sam", upn: "sam@contoso.com", name: "Sam Engineer" };
const alice: Actor = { id: "id-alice", upn: "alice@contoso.com", name: "Alice Owner" };
const bob: Actor = { id: "id-bob", upn: "bob@contoso.com", name: "Bob Owner" };

const context: ApprovalCardContext = {
  maxDurationMs: 3 * 3_600_000,
  riskFlags: [
    {
      code: "outside_hours",
      message: "Asked at Sat 02:10 (UTC), outside working hours (Mon–Fri 08:00–18:00).",
    },
  ],
};
const quiet: ApprovalCardContext = { maxDurationMs: 3 * 3_600_000, riskFlags: [] };

function newRequest(overrides: Partial<NewRequest> = {}): NewRequest {
  return {
    id: "R-17",
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
    durationMs: 2 * 3_600_000,
    reason: "INC-4211",
    approval: { approvers: ["alice@contoso.com", "bob@contoso.com"], required: 1 },
    ...overrides,
  };
}

function without(request: NewRequest, key: "source" | "reason"): NewRequest {
  const copy: Partial<NewRequest> & Pick<NewRequest, "id"> = { ...request };
  delete copy[key];
  return copy as NewRequest;
}

function ok(result: Transition): AccessRequest {
  if (!result.ok) throw new Error(`expected a move, got ${result.error.code}: ${result.error.message}`);
  return result.request;
}

const grant = { initiatedAt: at(5).toISOString(), endTimeUtc: at(125).toISOString(), justification: "R-17" };

/** Every state, reached through the real transitions. */
function inState(state: RequestState, overrides: Partial<NewRequest> = {}): AccessRequest {
  const pending = createRequest(newRequest(overrides), T0).request;
  const approved = (): AccessRequest => ok(approve(pending, alice, at(5)));
  const active = (): AccessRequest => ok(markActive(approved(), grant, at(5)));
  switch (state) {
    case "awaiting_source":
      return createRequest(without(newRequest(overrides), "source"), T0).request;
    case "pending":
      return pending;
    case "scheduled":
      return ok(
        approve(
          createRequest(newRequest({ ...overrides, startAt: at(600).toISOString() }), T0).request,
          alice,
          at(5),
        ),
      );
    case "approved":
      return approved();
    case "active":
      return active();
    case "expired":
      return ok(expire(active(), at(125)));
    case "revoked":
      return ok(revoke(active(), sam, at(30)));
    case "denied":
      return ok(deny(pending, bob, at(7), "Use the bastion for this one"));
    case "cancelled":
      return ok(cancel(pending, sam, at(3)));
    case "timed_out":
      return ok(timeout(pending, at(60)));
    case "failed":
      return ok(
        fail(approved(), "InvalidInitiateInput", "Azure refused: port 22 is not in the policy.", at(6)),
      );
  }
}

const ALL_STATES: readonly RequestState[] = [
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

describe("approval card", () => {
  describe.each(ALL_STATES)("state %s", (state) => {
    const request = inState(state);
    const card = approvalCard(request, context);

    it("renders a card the adaptivecards SDK parses at schema ≤ 1.5 without events or issues", () => {
      expect(request.state).toBe(state);
      expect(card.type).toBe("AdaptiveCard");
      expect(Number(card.version)).toBeLessThanOrEqual(1.5);
      const { parseEvents, issues, card: parsed } = validate(card);
      expect(parseEvents).toEqual([]);
      expect(issues).toEqual([]);
      expect(parsed.version?.toString()).toBe("1.5");
    });

    it("shows the request id prominently and never a refresh", () => {
      const [first] = card.body as Json[];
      expect(first).toMatchObject({ type: "TextBlock", text: "R-17", size: "ExtraLarge", weight: "Bolder" });
      expect(card).not.toHaveProperty("refresh");
    });

    it("shows what is opened: requester, VM and resource group, port, source, duration, limit", () => {
      const text = visibleText(card);
      expect(text).toContain("Sam Engineer (sam@contoso.com)");
      expect(text).toContain("web-01 in resource group rg-web");
      expect(text).toContain("Port 22");
      expect(text).toContain("2 h");
      expect(text).toContain("3 h at most");
      expect(text).toContain("Asked at Sat 02:10");
    });

    it("is a pure function: rendering twice gives identical JSON", () => {
      expect(approvalCard(inState(state), context)).toEqual(card);
      expect(JSON.stringify(approvalCard(request, context))).toBe(JSON.stringify(card));
    });

    if (state !== "pending") {
      it("has no actions and no inputs once it is not pending", () => {
        expect(card).not.toHaveProperty("actions");
        expect(elementsOfType(card, "Input.Text")).toEqual([]);
        const { card: parsed } = validate(card);
        expect(parsed.getActionCount()).toBe(0);
        expect(parsed.getAllInputs()).toEqual([]);
      });
    }
  });

  it("pending → exactly Approve and Deny as Action.Execute with the verbs and the request id", () => {
    const card = approvalCard(inState("pending"), context);
    const actions = card.actions as Json[];
    expect(actions).toHaveLength(2);
    expect(actions).toEqual([
      expect.objectContaining({
        type: "Action.Execute",
        title: "Approve",
        verb: CARD_VERBS.approve,
        data: { requestId: "R-17" },
        associatedInputs: "none",
      }),
      expect.objectContaining({
        type: "Action.Execute",
        title: "Deny",
        verb: CARD_VERBS.deny,
        data: { requestId: "R-17" },
        associatedInputs: "auto",
      }),
    ]);
    const { card: parsed } = validate(card);
    const executes = parsed.getAllActions().filter((action) => action instanceof AC.ExecuteAction);
    expect(executes.map((action) => [action.verb, action.associatedInputs])).toEqual([
      ["portcullis.approve", "none"],
      ["portcullis.deny", "auto"],
    ]);
  });

  it("pending → a deny reason input the Deny action carries", () => {
    const card = approvalCard(inState("pending"), context);
    const inputs = elementsOfType(card, "Input.Text");
    expect(inputs).toEqual([
      expect.objectContaining({ id: "denyReason", placeholder: "Reason for denying (required to deny)" }),
    ]);
    expect(
      validate(card)
        .card.getAllInputs()
        .map((input) => input.id),
    ).toEqual(["denyReason"]);
  });

  it("pending → ends a duration after approval; active → the grant's end time in UTC", () => {
    expect(visibleText(approvalCard(inState("pending"), context))).toContain("2 h after approval");
    const active = visibleText(approvalCard(inState("active"), context));
    expect(active).toContain("Active — open until 2026-11-23 16:05 UTC");
    expect(active).toContain("Approved by Alice Owner (alice@contoso.com) at 2026-11-23 14:05 UTC");
  });

  it.each<[RequestState, string]>([
    ["awaiting_source", "Waiting for the requester's address"],
    ["pending", "Waiting for approval (0 of 1)"],
    ["scheduled", "Scheduled — approved, opens at 2026-11-24 00:00 UTC"],
    ["approved", "Approved (waiting to open)"],
    ["active", "Active — open until 2026-11-23 16:05 UTC"],
    ["denied", "Denied by Bob Owner (bob@contoso.com) at 2026-11-23 14:07 UTC"],
    ["failed", "Failed: Azure refused: port 22 is not in the policy."],
    ["timed_out", "Timed out — nobody decided in time"],
    ["cancelled", "Cancelled by the requester at 2026-11-23 14:03 UTC"],
    ["expired", "Expired — closed at 2026-11-23 16:05 UTC"],
    ["revoked", "Revoked — closed early by the requester (Sam Engineer) at 2026-11-23 14:30 UTC"],
  ])("%s → outcome line %j", (state, line) => {
    const request = inState(state);
    expect(visibleText(approvalCard(request, context))).toContain(line);
    expect(approvalCardSummary(request)).toBe(`R-17: Sam Engineer asks for web-01 port 22 for 2 h — ${line}`);
  });

  it("revoked by an approver → named by name and UPN, not by object id", () => {
    const closed = ok(revoke(inState("active"), bob, at(30)));
    const text = visibleText(approvalCard(closed, context));
    expect(text).toContain("Revoked — closed early by Bob Owner (bob@contoso.com) at 2026-11-23 14:30 UTC");
    expect(text).not.toContain(bob.id);
  });

  it("denied → the denial's reason, and nothing opened", () => {
    const text = visibleText(approvalCard(inState("denied"), quiet));
    expect(text).toContain("Reason: Use the bastion for this one");
    expect(text).toContain("never opened");
  });

  it("N-of-M → approvals so far with who", () => {
    const request = ok(
      approve(
        createRequest(
          newRequest({ approval: { approvers: ["alice@contoso.com", "bob@contoso.com"], required: 2 } }),
          T0,
        ).request,
        alice,
        at(4),
      ),
    );
    const card = approvalCard(request, quiet);
    expect(visibleText(card)).toContain("1 of 2 — Alice Owner (alice@contoso.com) at 2026-11-23 14:04 UTC");
    expect(visibleText(card)).toContain("Waiting for approval (1 of 2)");
    expect(card.actions).toHaveLength(2);
  });

  it("source origin: typed with from, or recorded by the one-time link", () => {
    expect(visibleText(approvalCard(inState("pending"), quiet))).toContain(
      "198.51.100.7 — typed with “from” by the requester",
    );
    const linked = inState("pending", { source: { prefix: "203.0.113.9", origin: "link" } });
    expect(visibleText(approvalCard(linked, quiet))).toContain(
      "203.0.113.9 — recorded by the one-time link on the requester's machine",
    );
    expect(visibleText(approvalCard(inState("awaiting_source"), quiet))).toContain("not known yet");
  });

  it("risk flags → an attention container with each flag's message; none → no container", () => {
    const flagged = approvalCard(inState("pending"), {
      maxDurationMs: 3_600_000,
      riskFlags: [
        { code: "wide_prefix", message: "The source 198.51.100.0/24 is 256 addresses, not one machine." },
        { code: "long_duration", message: "6 h is longer than 4 h." },
      ],
    });
    const containers = elementsOfType(flagged, "Container").filter((c) => c.style === "attention");
    expect(containers).toHaveLength(1);
    const flagText = visibleText(containers[0] ?? {});
    expect(flagText).toContain("Risk flags");
    expect(flagText).toContain("⚠ The source 198.51.100.0/24 is 256 addresses, not one machine.");
    expect(flagText).toContain("⚠ 6 h is longer than 4 h.");
    const calm = approvalCard(inState("pending"), quiet);
    expect(elementsOfType(calm, "Container").filter((c) => c.style === "attention")).toEqual([]);
    expect(visibleText(calm)).not.toContain("Risk flags");
  });

  it("no reason → says so", () => {
    expect(
      visibleText(approvalCard(createRequest(without(newRequest(), "reason"), T0).request, quiet)),
    ).toContain("no reason given");
  });

  it("several VMs and a firewall-fronted target → each VM, its ports and the firewall address (its port comes with the grant)", () => {
    const request = inState("pending", {
      targets: [
        ...newRequest().targets,
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
    const card = approvalCard(request, quiet);
    const text = visibleText(card);
    expect(text).toContain("VMs");
    expect(text).toContain("web-01 in resource group rg-web\nPort 22");
    expect(text).toContain(
      "app-02 in resource group rg-app\nPorts 3389 via firewall 20.50.1.4, 5985 via firewall 20.50.1.4",
    );
    expect(validate(card).issues).toEqual([]);
    expect(approvalCardSummary(request)).toContain("web-01 port 22, app-02 ports 3389, 5985");
  });

  describe("user text", () => {
    const hostile = "${$root.requester.upn}";

    it("a reason of ${$root.requester.upn} renders literally, not evaluated", () => {
      const card = approvalCard(inState("pending", { reason: hostile }), quiet);
      expect(runs(card)).toContain(hostile);
      // The UPN appears once, where the template binds it, not a second time in place of the reason.
      expect(runs(card).filter((text) => text.includes("sam@contoso.com"))).toEqual([" (sam@contoso.com)"]);
    });

    it("template expressions in names, deny reasons and Azure messages stay literal", () => {
      const name = "Eve ${$root.id} ${concat('a','b')} $root.reason";
      const request = inState("denied", {
        requester: { id: sam.id, upn: "sam@contoso.com", name },
      });
      const denied = ok(
        deny(createRequest(newRequest({ requester: { id: sam.id, name } }), T0).request, bob, at(7), "${id}"),
      );
      expect(runs(approvalCard(request, quiet))).toContain(name);
      expect(visibleText(approvalCard(denied, quiet))).toContain("Reason: ${id}");
      const failed = ok(fail(inState("approved"), "X", "${$root.verbs.approve}", at(6)));
      expect(visibleText(approvalCard(failed, quiet))).toContain("Failed: ${$root.verbs.approve}");
      const flagged = approvalCard(inState("pending"), {
        maxDurationMs: 1,
        riskFlags: [{ code: "x", message: "${$root.pending}" }],
      });
      expect(runs(flagged)).toContain("${$root.pending}");
    });

    it("user text is only bound into TextRuns (plain text), never into markdown TextBlocks", () => {
      const link = "[approve here](https://evil.example) **now**";
      const card = approvalCard(
        inState("pending", { reason: link, requester: { id: sam.id, upn: "sam@contoso.com", name: link } }),
        quiet,
      );
      const blocks = elementsOfType(card, "TextBlock").map((block) => String(block.text));
      expect(blocks.filter((text) => text.includes("evil.example"))).toEqual([]);
      expect(runs(card).filter((text) => text === link)).toHaveLength(2);
    });
  });

  it("imports under plain Node (the production path), outside vitest", async () => {
    const node = fileURLToPath(new URL("../../node_modules/.bin/node", import.meta.url));
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const { stdout } = await promisify(execFile)(
      node,
      [
        "-e",
        "import('./src/chat/cards.ts').then(m => console.log(typeof m.approvalCard, typeof m.approvalCardSummary))",
      ],
      { cwd: root },
    );
    expect(stdout.trim()).toBe("function function");
  });

  describe("the requester's window card", () => {
    it.each(ALL_STATES)("%s: validates at 1.5, buttons only while active", (state) => {
      const card = windowCard(inState(state));
      const { parseEvents, issues } = validate(card);
      expect(parseEvents).toEqual([]);
      expect(issues).toEqual([]);
      const actions = elementsOfType(card, "Action.Execute");
      if (state === "active") {
        expect(actions.map((action) => [action.verb, (action.data as Json).minutes ?? null])).toEqual([
          [WINDOW_VERBS.extend, 30],
          [WINDOW_VERBS.extend, 60],
          [WINDOW_VERBS.done, null],
        ]);
        expect(visibleText(card)).toContain("closes at 2026-11-23 16:05 UTC");
      } else {
        expect(actions).toEqual([]);
        expect(card.actions).toBeUndefined();
      }
    });
  });
});

describe("an extension's card (issue 9, item 7)", () => {
  const open = (): AccessRequest =>
    ok(markActive(ok(approve(createRequest(newRequest(), T0).request, alice, at(5))), grant, at(5)));
  // R-17 is open until 16:05; at 15:55 Sam asks to keep it until 16:35.
  const extension = (): AccessRequest =>
    createExtension(
      open(),
      { id: "R-18", until: at(155), approval: { approvers: ["alice@contoso.com"], required: 1 } },
      at(115),
    ).request;

  it("says it extends an open window (which, until when) to a new end, and when it was asked", () => {
    const card = approvalCard(extension(), quiet);
    expect(validate(card).issues).toEqual([]);
    const text = visibleText(card);
    expect(text).toContain("Extension of R-17: just-in-time VM access");
    expect(text).toContain("R-17, open until 2026-11-23 16:05 UTC when this was asked");
    expect(text).toContain("30 min more than R-17, to 2026-11-23 16:35 UTC");
    expect(text).toContain(
      "Approving keeps exactly what is listed below open, for the source address only, until 2026-11-23 16:35 UTC instead of R-17's end at 2026-11-23 16:05 UTC.",
    );
    expect(text).toContain("2026-11-23 15:55 UTC"); // asked
    expect(text).not.toContain("after approval");
    expect(card.actions).toHaveLength(2);
  });

  it("a plain request shows no Extends row", () => {
    expect(visibleText(approvalCard(inState("pending"), quiet))).not.toContain("Extends");
  });

  it("the window it replaced says continued as R-18, from the moment the extension's initiate was made", () => {
    const granted = ok(
      markActive(
        ok(approve(extension(), alice, at(117))),
        { initiatedAt: at(118).toISOString(), endTimeUtc: at(155).toISOString(), justification: "R-18" },
        at(118),
      ),
    );
    const continued = ok(supersede(open(), granted));
    const text = visibleText(approvalCard(continued, quiet));
    expect(text).toContain("Continued as R-18 at 2026-11-23 15:58 UTC");
    expect(text).toContain("2026-11-23 15:58 UTC, continued as R-18 (it was to end 2026-11-23 16:05 UTC)");
    expect(text).not.toContain("Revoked");
    const window = windowCard(continued);
    expect(visibleText(window)).toContain("It carries on as R-18");
    expect(elementsOfType(window, "Action.Execute")).toEqual([]);
  });

  it("withdrawn because its window was closed: says so, no buttons", () => {
    const closed = ok(revoke(open(), sam, at(120)));
    const withdrawn = ok(withdraw(extension(), closed, at(120)));
    const card = approvalCard(withdrawn, quiet);
    expect(card).not.toHaveProperty("actions");
    expect(visibleText(card)).toContain(
      "Withdrawn — R-17 was closed by Sam Engineer at 2026-11-23 16:00 UTC",
    );
    expect(validate(card).issues).toEqual([]);
  });
});
