/**
 * N-of-M as the rules say it, everywhere the rules are read (issue 9, item 14): a request, a click,
 * an extension, a break-glass review, and `policy <vm>`. The fleet is env/fleet.json and the rules
 * env/rules.json (rg-data needs 2 approvals; heidi approves there besides the tags).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { breakGlass } from "../../src/app/break-glass.ts";
import { plainTextOf } from "../../src/app/chat-text.ts";
import type { AppContext, ChatUser } from "../../src/app/context.ts";
import { decide } from "../../src/app/decide.ts";
import { extendAccess } from "../../src/app/extend.ts";
import { approvalForPolicy, showPolicy } from "../../src/app/fleet.ts";
import { requestAccess } from "../../src/app/request-access.ts";
import type { RequestRecord } from "../../src/app/request-record.ts";
import { policyText } from "../../src/chat/replies.ts";
import { parseCommand } from "../../src/domain/commands.ts";
import { type ApprovalRules, parseApprovalRules } from "../../src/domain/rules.ts";
import {
  alice,
  bob,
  type Harness,
  olive,
  requestCommand,
  sam,
  startHarness,
} from "../support/app-harness.ts";

const HOUR = 3_600_000;
const grace: ChatUser = {
  id: "aad-grace",
  upn: "grace@contoso.com",
  name: "Grace Data",
  conversationKey: "user:aad-grace",
};

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

function rules(json: unknown): ApprovalRules {
  const parsed = parseApprovalRules(json);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.rules;
}

/** The same bot after an admin changed the rules file. */
function withRules(json: unknown): AppContext {
  return { ...h.app, settings: { ...h.app.settings, rules: rules(json) } };
}

async function record(id: string): Promise<RequestRecord | undefined> {
  return (await h.store.requests.get<RequestRecord>(id))?.data;
}

describe("N-of-M is never quietly weakened", () => {
  it("an approver asks for their own VM and only one other approver is left for 2 approvals → refused, nobody asked", async () => {
    // ops-01 (rg-data): grace and heidi in its tag, heidi again from the rules; rg-data needs 2.
    const asked = await requestAccess(
      h.app,
      grace,
      requestCommand("rdp ops-01 from 203.0.113.7 because INC-1"),
    );
    expect(asked.requestId).toBeUndefined();
    expect(asked.reply).toContain(
      "ops-01 needs 2 approvals (the rules for resource group rg-data), but you are one of its 2 approvers and nobody approves their own request, so only 1 can approve yours (heidi@contoso.com). I won't ask for fewer approvals than the rules require.",
    );
    expect(asked.reply).toContain("a VM owner adds approvers to ops-01's `jit-approvers` tag");
    expect(asked.reply).toContain(
      "a Portcullis admin (ADMINS) adds approvers for it in the approval rules file",
    );
    expect(h.notifier.sent).toEqual([]);
    expect(await h.store.requests.listByState(["pending", "awaiting_source"])).toEqual([]);
  });

  it("a VM listing fewer approvers than the rules need → refused for anyone", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh jump-01 from 203.0.113.7 because INC-2"),
    );
    expect(asked.requestId).toBeUndefined();
    expect(asked.reply).toContain(
      "jump-01 needs 2 approvals (the rules for resource group rg-data), but only 1 approver is listed (heidi@contoso.com).",
    );
  });

  it("enough approvers → the request asks for N as the rules say", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh db-01 from 198.51.100.7 because INC-3"),
    );
    expect(asked.reply).toContain("is waiting for 2 approvals");
    expect((await record(asked.requestId ?? ""))?.request.approval.required).toBe(2);
  });

  it("rules tightened after the card was sent → a click counts towards N as the rules say now", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 because INC-4"),
    );
    const id = asked.requestId ?? "";
    expect((await record(id))?.request.approval.required).toBe(1);
    const tightened = withRules({ scopes: [{ resourceGroup: "rg-web", requiredApprovals: 2 }] });

    const first = await decide(tightened, alice, id, "approve");
    expect(first.message).toBe(`Your approval of ${id} is recorded (1 of 2).`);
    expect((await record(id))?.request).toMatchObject({ state: "pending", approval: { required: 2 } });
    expect((await decide(tightened, bob, id, "approve")).message).toContain(`You approved ${id}`);
    expect((await record(id))?.request.state).toBe("approved");
  });

  it("an extension beyond the approved window is asked under the rules as they stand: too few approvers → refused", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-5"),
    );
    const id = asked.requestId ?? "";
    await decide(h.app, alice, id, "approve");
    await h.settle();
    expect((await record(id))?.request.state).toBe("active");

    // web-01 lists alice and bob; the rules now want 3 — the original 1-of-2 approval does not carry over.
    const tightened = withRules({ scopes: [{ resourceGroup: "rg-web", requiredApprovals: 3 }] });
    const reply = await extendAccess(tightened, sam, id, HOUR);
    expect(reply).toContain(`Extending ${id} to 2026-11-24 11:00 UTC goes beyond what was approved`);
    expect(reply).toContain(
      "web-01 needs 3 approvals (the rules for resource group rg-web), but only 2 approvers are listed (alice@contoso.com, bob@contoso.com).",
    );
    expect(await h.store.requests.listByState(["pending"])).toEqual([]);
  });

  it("an extension asks for N as the rules say now, not the original request's N", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-6"),
    );
    const id = asked.requestId ?? "";
    await decide(h.app, alice, id, "approve");
    await h.settle();
    const tightened = withRules({ scopes: [{ resourceGroup: "rg-web", requiredApprovals: 2 }] });
    const reply = await extendAccess(tightened, sam, id, HOUR);
    const extension = /R-\d+ is waiting/.exec(reply)?.[0].split(" ")[0] ?? "";
    expect((await record(extension))?.request).toMatchObject({
      extends: id,
      approval: { approvers: ["alice@contoso.com", "bob@contoso.com"], required: 2 },
    });
  });

  it("break-glass where N cannot be met → still reviewed by everyone eligible (one review is owed, not N)", async () => {
    const reply = await breakGlass(
      h.app,
      olive,
      (() => {
        const parsed = parseCommand("break-glass jump-01 INC-9 from 203.0.113.7 bastion down");
        if (!parsed.ok || parsed.command.kind !== "break_glass") throw new Error("not break-glass");
        return parsed.command;
      })(),
    );
    const id = /R-\d+/.exec(plainTextOf(reply))?.[0] ?? "";
    expect((await record(id))?.request.approval.approvers).toEqual(["heidi@contoso.com"]);
  });
});

describe("`policy <vm>` says who approves, how many, and whether a reason is needed", () => {
  async function policyReply(app: AppContext, vm: string): Promise<string> {
    const view = await showPolicy(app.gateway, app.clock, vm);
    return plainTextOf(policyText(view, await approvalForPolicy(app, view.vm)));
  }

  it("db-01: approvers from the tag and the rules, 2 approvals, a reason required", async () => {
    const text = await policyReply(h.app, "db-01");
    expect(text).toContain(
      "**Approval**: 2 approvals needed (the rules for resource group rg-data); nobody approves their own request.",
    );
    expect(text).toContain(
      "A reason is required (the rules for resource group rg-data): add `because …` to the request.",
    );
    expect(text).toContain(
      [
        "Approvers (3):",
        "- frank@contoso.com — the VM's `jit-approvers` tag",
        "- grace@contoso.com — the VM's `jit-approvers` tag",
        "- heidi@contoso.com — the rules for resource group rg-data",
      ].join("\n"),
    );
    expect(text).not.toContain("⚠");
  });

  it("web-01 with 2 needed and 2 listed: no reason needed; an approver asking for themselves is refused", async () => {
    const text = await policyReply(
      withRules({
        defaults: { requiredApprovals: 2 },
        scopes: [{ resourceGroup: "rg-web", requireReason: false }],
      }),
      "web-01",
    );
    expect(text).toContain("**Approval**: 2 approvals needed (the rules' defaults)");
    expect(text).toContain("No reason is required (the rules for resource group rg-web).");
    expect(text).toContain(
      "An approver who asks for web-01 themselves is refused: only 1 other could approve, and 2 approvals are needed.",
    );
  });

  it("jump-01: fewer approvers than needed → says every request is refused, and who can fix it", async () => {
    const text = await policyReply(h.app, "jump-01");
    expect(text).toContain("- heidi@contoso.com — the rules for resource group rg-data");
    expect(text).toContain(
      "⚠ 1 approver listed, 2 approvals needed: every request for jump-01 is refused until more approvers are added. To fix it, a VM owner adds approvers to jump-01's `jit-approvers` tag",
    );
  });

  it("an approver listed by object id is named by the UPN the bot knows, else said to be an object id", async () => {
    const known = "00000000-0000-4000-8000-0000000000f1";
    const unknown = "00000000-0000-4000-8000-0000000000f2";
    await h.store.conversations.upsert({
      key: `user:${known}`,
      channel: "msteams",
      reference: {},
      userPrincipalName: "ivy@contoso.com",
      updatedAt: h.clock.now(),
    });
    const text = await policyReply(
      withRules({
        scopes: [{ resourceGroup: "rg-data", approvers: [known, unknown], requiredApprovals: 2 }],
      }),
      "jump-01",
    );
    expect(text).toContain("- ivy@contoso.com — the rules for resource group rg-data");
    expect(text).toContain(`- Entra object id ${unknown} — the rules for resource group rg-data`);
    expect(text).not.toContain(`- ${known}`);
  });
});
