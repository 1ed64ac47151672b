/**
 * Who sees who asked and from where (issue 10, item 3): `policy` and `audit` follow one rule —
 * the requester, the VM's approvers and the auditors; others see that a port is open and until when.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { plainTextOf } from "../../src/app/chat-text.ts";
import type { ChatUser } from "../../src/app/context.ts";
import { decide } from "../../src/app/decide.ts";
import { auditReport } from "../../src/app/evidence.ts";
import { policyFor } from "../../src/app/fleet.ts";
import { requestAccess } from "../../src/app/request-access.ts";
import { policyText } from "../../src/chat/replies.ts";
import { parseCommand } from "../../src/domain/commands.ts";
import { alice, type Harness, sam, startHarness } from "../support/app-harness.ts";

const mallory: ChatUser = {
  id: "aad-mallory",
  upn: "mallory@contoso.com",
  name: "Mallory",
  conversationKey: "user:aad-mallory",
};
const auditor: ChatUser = {
  id: "aad-sec",
  upn: "sec@contoso.com",
  name: "Sec",
  conversationKey: "user:aad-sec",
};

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function openForSam(): Promise<string> {
  const parsed = parseCommand("ssh web-01 from 203.0.113.7 for 1h because INC-4211 secret maintenance");
  if (!parsed.ok || parsed.command.kind !== "request") throw new Error("not a request");
  const asked = await requestAccess(h.app, sam, parsed.command);
  await decide(h.app, alice, asked.requestId ?? "", "approve");
  await h.settle();
  return asked.requestId ?? "";
}

async function policyAs(user: ChatUser): Promise<string> {
  const { view, approval } = await policyFor(h.app, { id: user.id, upn: user.upn }, "web-01");
  return plainTextOf(policyText(view, approval));
}

describe("`policy <vm>` shows an open grant's requester, address and reason only to those who may see them", () => {
  it("someone else: the port is open and until when, not by whom, from where or why", async () => {
    await openForSam();
    const seen = await policyAs(mallory);
    expect(seen).toContain(
      "- port 22 until 2026-11-24 10:00 UTC (who asked and from where: for the requester",
    );
    expect(seen).not.toContain("203.0.113.7");
    expect(seen).not.toContain("sam@contoso.com");
    expect(seen).not.toContain("INC-4211");
  });

  it("the requester, an approver of the VM and an auditor see everything", async () => {
    await openForSam();
    for (const user of [sam, alice, auditor]) {
      const seen = await policyAs(user);
      expect(seen, user.upn).toContain("- port 22 for 203.0.113.7 until 2026-11-24 10:00 UTC, requested by");
      expect(seen, user.upn).toContain("INC-4211");
    }
  });
});

describe("`audit` follows the same rule", () => {
  it("an approver listed by Entra object id reads the VM's audit; someone else does not", async () => {
    const id = await openForSam();
    // web-01's approvers as stored on the request; one listed by object id only.
    const stored = await h.store.requests.get<{ request: { approval: { approvers: string[] } } }>(id);
    expect(stored?.data.request.approval.approvers).toContain("alice@contoso.com");
    const byObjectId: ChatUser = { id: "aad-alice", name: "Alice", conversationKey: "user:aad-alice" };
    const listedById = {
      ...h.app,
      store: {
        ...h.store,
        requests: {
          ...h.store.requests,
          // The same request, its approvers listed by object id.
          listByState: async (states: readonly string[]) =>
            (
              await h.store.requests.listByState<{ request: { approval: { approvers: string[] } } }>(states)
            ).map((row) => ({
              ...row,
              data: {
                ...row.data,
                request: {
                  ...row.data.request,
                  approval: { ...row.data.request.approval, approvers: ["aad-alice"] },
                },
              },
            })),
        },
      },
    } as typeof h.app;
    const report = plainTextOf(
      await auditReport(listedById, byObjectId, { vm: "web-01", sinceMs: 24 * 3600_000 }),
    );
    expect(report).toContain(id);
    expect(report).toContain("203.0.113.7");
    const refused = plainTextOf(await auditReport(h.app, mallory, { vm: "web-01", sinceMs: 24 * 3600_000 }));
    expect(refused).not.toContain("203.0.113.7");
  });
});
