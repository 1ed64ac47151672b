/**
 * Break-glass on real parts (store, simulator through the SDK) and the injected clock: who may,
 * what they get, who is told, the review that is owed, and what happens when Azure says no.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { finishAccess } from "../../src/app/access-window.ts";
import { deliverOwedCards } from "../../src/app/approval-delivery.ts";
import * as bgUseCase from "../../src/app/break-glass.ts";
import { plainTextOf } from "../../src/app/chat-text.ts";
import type { ChatUser } from "../../src/app/context.ts";
import * as evidence from "../../src/app/evidence.ts";
import { status } from "../../src/app/my-requests.ts";
import type { RequestRecord } from "../../src/app/request-record.ts";
import { createStaticRoster } from "../../src/app/static-roster.ts";
import { type BreakGlassCommand, parseCommand } from "../../src/domain/commands.ts";
import { alice, type Harness, markdownOf, olive, sam, startHarness } from "../support/app-harness.ts";

// The use cases answer in ChatText; these read it as the chat does (Markdown, other people's text escaped).
const breakGlass = async (...args: Parameters<typeof bgUseCase.breakGlass>) =>
  markdownOf(await bgUseCase.breakGlass(...args));
const reviewBreakGlass = async (...args: Parameters<typeof bgUseCase.reviewBreakGlass>) => {
  const result = await bgUseCase.reviewBreakGlass(...args);
  return { ...result, message: markdownOf(result.message) };
};
const auditReport = async (...args: Parameters<typeof evidence.auditReport>) =>
  markdownOf(await evidence.auditReport(...args));
const { armWeeklyDigest } = evidence;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

function bg(text: string): BreakGlassCommand {
  const parsed = parseCommand(text);
  if (!parsed.ok || parsed.command.kind !== "break_glass")
    throw new Error(`not break-glass: ${text} (${parsed.ok ? parsed.command.kind : parsed.message})`);
  return parsed.command;
}

function idIn(text: string): string {
  const id = /R-\d+/.exec(text)?.[0];
  if (!id) throw new Error(`no request id in: ${text}`);
  return id;
}

async function record(id: string): Promise<RequestRecord | undefined> {
  return (await h.store.requests.get<RequestRecord>(id))?.data;
}

describe("breaking glass", () => {
  it("on the roster: open at once for the on-call's address, capped at 1 h, security channel and owners told", async () => {
    const reply = await breakGlass(
      h.app,
      olive,
      bg("break-glass web-01 INC-9 from 203.0.113.7 database down, owner asleep"),
    );
    const id = idIn(reply);
    expect(reply).toContain(
      `${id} BREAK-GLASS on web-01 for INC-9: opening port 22 for 203.0.113.7 now, for 1 h`,
    );
    await h.settle();
    expect((await record(id))?.request.state).toBe("active");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);
    expect(await h.probe("198.51.100.1", "web-01", 22)).toBe(false);
    const end = Date.parse((await record(id))?.request.grant?.endTimeUtc ?? "");
    expect(end - h.clock.now().getTime()).toBe(HOUR);

    const broadcast = h.notifier.sent.filter((entry) => entry.message.kind === "break-glass");
    expect(broadcast.map((entry) => entry.to).sort()).toEqual([
      "conversation:security",
      "user:alice@contoso.com",
      "user:bob@contoso.com",
    ]);
    const notice = h.notifier.textsTo("olive@contoso.com").join("\n");
    expect(notice).toContain(`${id} is open for 203.0.113.7`);
    const types = (await h.store.audit.list({ requestId: id })).map((event) => event.type);
    expect(types).toEqual(["request.break_glass", "request.activated"]);
  });

  it("not on the roster: refused, audited, pointed at the normal flow, nothing opened", async () => {
    const reply = await breakGlass(h.app, sam, bg("bg web-01 INC-9 from 203.0.113.7 need in"));
    expect(reply).toContain("not on the on-call roster");
    expect(reply).toContain("`ssh web-01 because");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
    const refused = (await h.store.audit.list()).filter((event) => event.type === "break_glass.refused");
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({
      actorId: sam.id,
      payload: { code: "not_on_call", incident: "INC-9" },
    });
  });

  it("BREAK_GLASS_USERS also counts as the roster", async () => {
    const app = { ...h.app, onCall: createStaticRoster(h.app.settings.rules, ["sam@contoso.com"]) };
    const reply = await breakGlass(app, sam, bg("bg web-01 INC-10 from 203.0.113.8 need in"));
    expect(reply).toContain("BREAK-GLASS on web-01");
  });

  it("longer than the cap: refused with the maximum", async () => {
    const reply = await breakGlass(
      h.app,
      olive,
      bg("break-glass web-01 INC-9 from 203.0.113.7 for 2h database down"),
    );
    expect(reply).toBe("Break-glass on web-01 lasts at most 1 h; ask for `for 60m` or less.");
  });

  it("a fourth break-glass by the same person within 24 h is refused; a day later it is allowed again", async () => {
    for (let i = 0; i < 3; i++) {
      const reply = await breakGlass(h.app, olive, bg(`bg web-01 INC-${i} from 203.0.113.7 still down`));
      expect(reply).toContain("BREAK-GLASS");
      await h.settle();
      expect(await finishAccess(h.app, olive, idIn(reply))).toContain("closes at");
      await h.settle();
    }
    expect(await breakGlass(h.app, olive, bg("bg web-01 INC-4 from 203.0.113.7 still down"))).toContain(
      "You have broken glass 3 times in the last 24 h",
    );
    h.clock.advance(24 * HOUR + MINUTE);
    expect(await breakGlass(h.app, olive, bg("bg web-01 INC-5 from 203.0.113.7 down again"))).toContain(
      "BREAK-GLASS",
    );
  });

  it("the per-VM limit holds across people (one after another: one holder per VM and port)", async () => {
    const crowd = ["a", "b", "c", "d", "e", "f"].map((n) => `${n}@contoso.com`);
    const app = { ...h.app, onCall: createStaticRoster(h.app.settings.rules, crowd) };
    for (const [i, upn] of crowd.slice(0, 5).entries()) {
      const user = { id: `aad-${i}`, upn, name: upn, conversationKey: `user:aad-${i}` };
      const reply = await breakGlass(app, user, bg(`bg web-01 INC-${i} from 203.0.113.${i + 1} down`));
      expect(reply).toContain("BREAK-GLASS");
      await h.settle();
      expect(await finishAccess(app, user, idIn(reply))).toContain("closes at");
      await h.settle();
    }
    const sixth = { id: "aad-6", upn: "f@contoso.com", name: "F", conversationKey: "user:aad-6" };
    expect(await breakGlass(app, sixth, bg("bg web-01 INC-6 from 203.0.113.9 down"))).toContain(
      "web-01 has had 5 break-glass grants",
    );
  });
});

describe("the review", () => {
  it("an approver acknowledges: the card is replaced for everyone and no reminder follows", async () => {
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    await h.settle();
    expect((await reviewBreakGlass(h.app, olive, id, "acknowledge")).message).toContain(
      "you cannot review it",
    );
    const result = await reviewBreakGlass(h.app, alice, id, "acknowledge");
    expect(result.outcome).toBe("decided");
    expect((await record(id))?.request.review).toMatchObject({
      state: "acknowledged",
      byUpn: "alice@contoso.com",
    });
    const updated = h.notifier.updates.filter(
      (u) => u.message.kind === "break-glass" && u.message.request.review?.state === "acknowledged",
    );
    expect(updated.map((u) => u.handle.conversationKey).sort()).toEqual([
      "conversation:security",
      "user:alice@contoso.com",
      "user:bob@contoso.com",
    ]);
    expect((await reviewBreakGlass(h.app, alice, id, "flag", "late")).message).toContain(
      "already acknowledged by Alice Owner (alice@contoso.com)",
    );
    h.clock.advance(5 * HOUR);
    await h.settle();
    expect(
      h.notifier.textsTo("alice@contoso.com").some((text) => text.startsWith("Reminder: the break-glass")),
    ).toBe(false);
  });

  it("a flag needs a note and tells the security channel", async () => {
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    expect((await reviewBreakGlass(h.app, alice, id, "flag", " ")).message).toContain("needs a note");
    await reviewBreakGlass(h.app, alice, id, "flag", "no incident INC-9 exists");
    expect((await record(id))?.request.review).toMatchObject({
      state: "flagged",
      note: "no incident INC-9 exists",
    });
    const security = h.notifier.sent.filter(
      (entry) => entry.to === "conversation:security" && entry.message.kind === "text",
    );
    expect(
      security.some(
        (entry) =>
          entry.message.kind === "text" &&
          markdownOf(entry.message.text).includes("no incident INC-9 exists"),
      ),
    ).toBe(true);
    expect((await h.store.audit.list({ requestId: id })).map((event) => event.type)).toContain(
      "review.flagged",
    );
  });

  it("nobody reviews: a reminder at half time, escalation to the security channel when it lapses", async () => {
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    await h.settle();
    h.clock.advance(2 * HOUR);
    await h.settle();
    expect(
      h.notifier
        .textsTo("alice@contoso.com")
        .some((text) => text.startsWith(`Reminder: the break-glass ${id}`)),
    ).toBe(true);
    h.clock.advance(2 * HOUR);
    await h.settle();
    expect((await record(id))?.request.review?.state).toBe("escalated");
    const escalation = h.notifier.sent.find(
      (entry) =>
        entry.to === "conversation:security" &&
        entry.message.kind === "text" &&
        markdownOf(entry.message.text).includes("Nobody reviewed"),
    );
    expect(escalation).toBeDefined();
    // A late acknowledgement is still taken.
    expect((await reviewBreakGlass(h.app, alice, id, "acknowledge")).outcome).toBe("decided");
  });
});

describe("when Azure says no", () => {
  it("Azure unreachable: the on-call hears at once with the fallback and it is retried; nothing is open", async () => {
    await h.control("POST", "/_sim/faults", {
      kind: "drop",
      times: 100,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    await h.settle();
    const first = h.notifier.textsTo("olive@contoso.com").find((text) => text.includes("is not open yet"));
    expect(first).toContain("I'm retrying");
    expect(first).toContain("az rest --method post");
    expect(first).toContain("/jitNetworkAccessPolicies/default/initiate?api-version=2020-01-01");
    expect(first).toContain("Runbook: https://wiki.example.com/runbooks/jit-break-glass");
    for (let i = 0; i < 5; i++) {
      h.clock.advance(10_000);
      await h.settle();
    }
    expect((await record(id))?.request.state).toBe("failed");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  it("a 5xx on the initiate and again on its one resend (issue 11, item 15): fails loudly at once with Azure's code and the fallback; nothing is open", async () => {
    await h.control("POST", "/_sim/faults", {
      kind: "500",
      times: 100,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    await h.settle();
    const rec = await record(id);
    expect(rec?.request.state).toBe("failed");
    expect(
      h.notifier
        .textsTo("olive@contoso.com")
        .some(
          (text) =>
            text.includes(`${id} could not be opened`) &&
            text.includes("HTTP 500 InternalServerError") &&
            text.includes("az rest"),
        ),
    ).toBe(true);
    expect(
      h.notifier.sent.some(
        (entry) =>
          entry.to === "conversation:security" &&
          entry.message.kind === "text" &&
          markdownOf(entry.message.text).includes(`Break-glass ${id} could not be opened`),
      ),
    ).toBe(true);
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
  });
});

describe("evidence", () => {
  const sec: ChatUser = {
    id: "aad-sec",
    upn: "sec@contoso.com",
    name: "Security",
    conversationKey: "user:aad-sec",
  };

  it("flagged break-glass reviews come first in the audit and in the weekly digest", async () => {
    await armWeeklyDigest(h.app);
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    await h.settle();
    await reviewBreakGlass(h.app, alice, id, "flag", "no such incident");

    const report = await auditReport(h.app, sec, { sinceMs: 7 * 24 * HOUR });
    expect(report).toContain("**Flagged break-glass reviews (1)**");
    expect(report).toMatch(
      new RegExp(
        `- ${id} olive@contoso.com → web-01:22 from 203.0.113.7 for 1 h; BREAK-GLASS INC-9, review flagged by Alice Owner \\(alice@contoso.com\\): no such incident`,
      ),
    );

    expect(await auditReport(h.app, alice, { vm: "web-01", sinceMs: 7 * 24 * HOUR })).toContain(id);
    expect(await auditReport(h.app, sam, { vm: "web-01", sinceMs: 7 * 24 * HOUR })).toContain(
      "not an approver of web-01",
    );
    expect(await auditReport(h.app, alice, { sinceMs: 7 * 24 * HOUR })).toContain("for the security team");

    // Harness time starts Tuesday 2026-11-24 09:00 UTC; the digest goes out Monday 08:00 UTC.
    h.clock.advance(6 * 24 * HOUR - HOUR);
    await h.settle();
    const digest = h.notifier.sent.find(
      (entry) =>
        entry.to === "conversation:security" &&
        entry.message.kind === "text" &&
        markdownOf(entry.message.text).startsWith("**Weekly JIT evidence**"),
    );
    expect(digest?.message.kind === "text" && markdownOf(digest.message.text)).toContain(
      "**Flagged break-glass reviews (1)**",
    );
  });
});

/** The harness notifier with the security channel (or any conversation) unreachable: toConversation says undefined. */
function withoutConversations(app: Harness["app"]): Harness["app"] {
  const notifier = app.notifier;
  return {
    ...app,
    notifier: {
      toUser: (recipient, message, options) => notifier.toUser(recipient, message, options),
      toConversation: async () => undefined,
      update: (handle, message) => notifier.update(handle, message),
    },
  };
}

describe("saying only what was delivered (issue 9, item 12)", () => {
  it("reviewers nobody can reach are named as unreached, not as told", async () => {
    h.notifier.unreachable.add("alice@contoso.com");
    h.notifier.unreachable.add("bob@contoso.com");
    const reply = await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down"));
    expect(reply).toContain(
      "I've told the security channel; I could not reach alice@contoso.com and bob@contoso.com; they get the review card when they first message me; a review is owed.",
    );
    expect(reply).not.toMatch(/told[^;]*alice/);
  });

  it("some reached, some not: each named for what happened", async () => {
    h.notifier.unreachable.add("bob@contoso.com");
    const reply = await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down"));
    expect(reply).toContain(
      "I've told the security channel and alice@contoso.com; I could not reach bob@contoso.com; they get the review card",
    );
  });

  it("no security channel configured: the reply says so and does not claim it", async () => {
    const app = { ...h.app, settings: { ...h.app.settings, securityConversationKey: undefined } };
    const reply = await breakGlass(app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down"));
    expect(reply).toContain(
      "I've told alice@contoso.com and bob@contoso.com; no security channel is set up (SECURITY_CHANNEL)",
    );
    expect(reply).not.toContain("security channel and");
  });

  it("the security channel cannot be reached and nor can the owners: nobody is claimed", async () => {
    h.notifier.unreachable.add("alice@contoso.com");
    h.notifier.unreachable.add("bob@contoso.com");
    const reply = await breakGlass(
      withoutConversations(h.app),
      olive,
      bg("bg web-01 INC-9 from 203.0.113.7 down"),
    );
    expect(reply).toContain(
      "I could not tell anyone; I could not post in the security channel; I could not reach alice@contoso.com and bob@contoso.com",
    );
    expect(reply).not.toContain("I've told");
  });

  it("Flag says the security channel is told only when it was", async () => {
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    const unset = { ...h.app, settings: { ...h.app.settings, securityConversationKey: undefined } };
    const flagged = await reviewBreakGlass(unset, alice, id, "flag", "no incident INC-9 exists");
    expect(flagged.outcome).toBe("decided");
    expect(flagged.message).toBe(
      `You flagged ${id}; it is in the audit, but no security channel is set up (SECURITY_CHANNEL): tell the security team yourself.`,
    );

    // One holder per VM and port: each break-glass is closed before the next one on web-01.
    await h.settle();
    await finishAccess(h.app, olive, id);
    const other = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-10 from 203.0.113.7 down")));
    const failed = await reviewBreakGlass(withoutConversations(h.app), alice, other, "flag", "odd");
    expect(failed.message).toBe(
      `You flagged ${other}; it is in the audit, but I could not post it in the security channel: tell the security team yourself.`,
    );

    await h.settle();
    await finishAccess(h.app, olive, other);
    const third = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-11 from 203.0.113.7 down")));
    expect((await reviewBreakGlass(h.app, alice, third, "flag", "odd")).message).toBe(
      `You flagged ${third}; the security channel is told.`,
    );
  });
});

describe("review cards reach every reviewer once (issue 9, item 13)", () => {
  const aliceChat = (to: string) => to === "user:aad-alice" || to === "user:alice@contoso.com";
  const reviewCardsFor = (id: string) =>
    h.notifier.sent.filter(
      (entry) =>
        aliceChat(entry.to) && entry.message.kind === "break-glass" && entry.message.request.id === id,
    );

  it("a reviewer unreachable at the time gets the card on first contact, once, and it is replaced on acknowledge", async () => {
    h.notifier.unreachable.add("alice@contoso.com");
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    await h.settle();
    expect(reviewCardsFor(id)).toHaveLength(0);

    h.notifier.unreachable.delete("alice@contoso.com");
    // Teams sends several activities on install; each may run first contact (and on another process).
    const shown = await Promise.all([1, 2, 3].map(() => deliverOwedCards(h.app, alice)));
    expect(shown.reduce((sum, n) => sum + n, 0)).toBe(1);
    expect(reviewCardsFor(id)).toHaveLength(1);
    expect(await deliverOwedCards(h.app, alice)).toBe(0);

    await reviewBreakGlass(h.app, alice, id, "acknowledge");
    const [card] = reviewCardsFor(id);
    expect(
      h.notifier.updates.some(
        (u) =>
          u.handle.activityId === card?.handle.activityId &&
          u.message.kind === "break-glass" &&
          u.message.request.review?.state === "acknowledged",
      ),
    ).toBe(true);
    expect(await deliverOwedCards(h.app, alice)).toBe(0);
  });

  it("a reviewer who got the card at the time does not get it again on first contact", async () => {
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    expect(reviewCardsFor(id)).toHaveLength(1);
    expect(await deliverOwedCards(h.app, alice)).toBe(0);
    expect(reviewCardsFor(id)).toHaveLength(1);
  });

  it("status shows the reviews the person owes, until they give them", async () => {
    const id = idIn(await breakGlass(h.app, olive, bg("bg web-01 INC-9 from 203.0.113.7 down")));
    const owed = plainTextOf(await status(h.app, alice));
    expect(owed).toContain("**Break-glass reviews you owe (1)**");
    expect(owed).toContain(`- ${id} break-glass by Olive Oncall (INC-9): web-01 port 22 from 203.0.113.7`);
    expect(owed).toContain("due by 2026-11-24 13:00 UTC");
    expect(plainTextOf(await status(h.app, olive))).not.toContain("reviews you owe");
    expect(plainTextOf(await status(h.app, sam))).not.toContain("reviews you owe");

    h.clock.advance(5 * HOUR);
    await h.settle();
    expect(plainTextOf(await status(h.app, alice))).toContain(
      "overdue since 2026-11-24 13:00 UTC, escalated to the security team",
    );

    await reviewBreakGlass(h.app, alice, id, "acknowledge");
    expect(plainTextOf(await status(h.app, alice))).not.toContain("reviews you owe");
    expect(plainTextOf(await status(h.app, alice))).not.toContain(id);
  });
});

describe("break-glass always has a reviewer (issue 10, item 2)", () => {
  const bob: ChatUser = {
    id: "aad-bob",
    upn: "bob@contoso.com",
    name: "Bob",
    conversationKey: "user:aad-bob",
  };

  it("the VM's only approver breaking glass, with no auditors: refused with why and who can fix it; nothing opened", async () => {
    const app = {
      ...h.app,
      onCall: createStaticRoster(h.app.settings.rules, ["bob@contoso.com"]),
      settings: { ...h.app.settings, auditors: [] },
    };
    const reply = await breakGlass(app, bob, bg("bg sftp-01 INC-7 from 203.0.113.7 transfers stuck"));
    expect(reply).toContain(
      "Break-glass on sftp-01 needs someone other than you to review it afterwards, and there is nobody: apart from you, nobody approves sftp-01 and no AUDITORS are set.",
    );
    expect(reply).toContain("`jit-approvers` tag");
    expect(await h.store.requests.listByState(["awaiting_source", "approved", "active"])).toEqual([]);
    const refused = await h.store.audit.list();
    expect(refused.map((event) => event.type)).toEqual(["break_glass.refused"]);
    expect(refused[0]?.payload).toMatchObject({ code: "no_reviewer" });
  });

  it("with AUDITORS set, the auditor reviews it: told, and may acknowledge", async () => {
    const app = {
      ...h.app,
      onCall: createStaticRoster(h.app.settings.rules, ["bob@contoso.com"]),
      settings: { ...h.app.settings, auditors: ["audrey@contoso.com"] },
    };
    const id = idIn(await breakGlass(app, bob, bg("bg sftp-01 INC-7 from 203.0.113.7 transfers stuck")));
    expect((await record(id))?.request.approval.approvers).toEqual(["audrey@contoso.com"]);
    const audrey: ChatUser = {
      id: "aad-audrey",
      upn: "audrey@contoso.com",
      name: "Audrey Auditor",
      conversationKey: "user:aad-audrey",
    };
    expect((await reviewBreakGlass(app, audrey, id, "acknowledge")).outcome).toBe("decided");
    expect((await reviewBreakGlass(app, bob, id, "acknowledge")).outcome).toBe("refused");
  });
});
