/**
 * Issue 9, items 12 and 13 for approval requests: every card reaches its reviewer exactly once —
 * at request time, or on first contact when the reviewer was unreachable, however many first-contact
 * activities run at once — and the sentences about who was told come from what was delivered.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deliverOwedCards } from "../../src/app/approval-delivery.ts";
import { plainTextOf } from "../../src/app/chat-text.ts";
import * as decideUseCase from "../../src/app/decide.ts";
import { status } from "../../src/app/my-requests.ts";
import type { Notifier } from "../../src/app/ports.ts";
import { requestAccess } from "../../src/app/request-access.ts";
import type { RequestRecord } from "../../src/app/request-record.ts";
import {
  alice,
  type Harness,
  markdownOf,
  requestCommand,
  sam,
  startHarness,
} from "../support/app-harness.ts";

const decide = async (...args: Parameters<typeof decideUseCase.decide>) => {
  const result = await decideUseCase.decide(...args);
  return { ...result, message: markdownOf(result.message) };
};

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

/** The harness notifier, with each send to a user taking a while (as a real connector call does). */
function slowToUsers(notifier: Notifier, ms: number): Notifier {
  return {
    toUser: async (recipient, message, options) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return notifier.toUser(recipient, message, options);
    },
    toConversation: (key, message) => notifier.toConversation(key, message),
    update: (handle, message) => notifier.update(handle, message),
  };
}

/** Every conversation unreachable: a notice has nowhere to go but a 1:1 chat. */
function withoutConversations(notifier: Notifier): Notifier {
  return {
    toUser: (recipient, message, options) => notifier.toUser(recipient, message, options),
    toConversation: async () => undefined,
    update: (handle, message) => notifier.update(handle, message),
  };
}

const approvalCardsTo = (id: string, ...keys: string[]) =>
  h.notifier.sent.filter(
    (entry) =>
      keys.includes(entry.to) && entry.message.kind === "approval" && entry.message.request.id === id,
  );

describe("approval cards reach each approver once (item 13)", () => {
  it("an approver unreachable at request time gets the card once, however many first contacts run at once", async () => {
    h.notifier.unreachable.add("alice@contoso.com");
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const id = asked.requestId ?? "";
    expect(approvalCardsTo(id, "user:aad-alice", "user:alice@contoso.com")).toHaveLength(0);

    h.notifier.unreachable.delete("alice@contoso.com");
    // Teams' install sends conversationUpdate and installationUpdate together, and the first message
    // follows; on two bot processes each may see a new conversation. Sends take a while.
    const app = { ...h.app, notifier: slowToUsers(h.notifier, 50) };
    const shown = await Promise.all([1, 2, 3].map(() => deliverOwedCards(app, alice)));
    expect(shown.reduce((sum, n) => sum + n, 0)).toBe(1);
    expect(approvalCardsTo(id, "user:aad-alice")).toHaveLength(1);
    expect(await deliverOwedCards(app, alice)).toBe(0);

    // The late copy is kept with the others, so a decision replaces it too.
    const [card] = approvalCardsTo(id, "user:aad-alice");
    expect((await h.store.requests.get<RequestRecord>(id))?.data.cards).toContainEqual(card?.handle);
    expect((await decide(h.app, alice, id, "approve")).outcome).toBe("decided");
    expect(h.notifier.updates.some((u) => u.handle.activityId === card?.handle.activityId)).toBe(true);
  });

  it("an approver reached at request time gets nothing more on first contact", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const id = asked.requestId ?? "";
    expect(approvalCardsTo(id, "user:alice@contoso.com")).toHaveLength(1);
    expect(await deliverOwedCards(h.app, alice)).toBe(0);
    expect(approvalCardsTo(id, "user:aad-alice", "user:alice@contoso.com")).toHaveLength(1);
  });

  it("the requester is never shown their own request as an approver", async () => {
    await requestAccess(h.app, sam, requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"));
    expect(await deliverOwedCards(h.app, sam)).toBe(0);
  });

  it("status lists what waits for the approver's decision, and not after they decided", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const id = asked.requestId ?? "";
    expect(plainTextOf(await status(h.app, alice))).toContain(
      `**Waiting for your decision (1)**\n- ${id} from Sam Engineer`,
    );
    await decide(h.app, alice, id, "approve");
    expect(plainTextOf(await status(h.app, alice))).not.toContain("Waiting for your decision");
  });
});

describe("who was told (item 12)", () => {
  it("the requester hears who has the card and who could not be reached", async () => {
    h.notifier.unreachable.add("bob@contoso.com");
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    expect(asked.reply).toContain("sent to alice@contoso.com.");
    expect(asked.reply).toContain(
      "I couldn't reach bob@contoso.com (they haven't added Portcullis in Teams); they get the card when they first message me.",
    );
  });

  it("approvals channel only: the approvers it could not reach are still named", async () => {
    h.notifier.unreachable.add("alice@contoso.com");
    h.notifier.unreachable.add("bob@contoso.com");
    const app = {
      ...h.app,
      settings: { ...h.app.settings, approvalsConversationKey: "conversation:approvals" },
    };
    const asked = await requestAccess(
      app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    expect(asked.reply).toContain("posted in the approvals channel.");
    expect(asked.reply).toContain("I couldn't reach alice@contoso.com, bob@contoso.com");
  });

  it("a denial says the requester was told only when the notice reached them", async () => {
    const first = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const told = await decide(h.app, alice, first.requestId ?? "", "deny", "not now");
    expect(told.message).toBe(`You denied ${first.requestId}; Sam Engineer has been told.`);

    const second = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-02 from 203.0.113.7 for 1h because INC-2"),
    );
    h.notifier.unreachable.add("sam@contoso.com");
    const app = { ...h.app, notifier: withoutConversations(h.notifier) };
    const untold = await decide(app, alice, second.requestId ?? "", "deny", "not now");
    expect(untold.outcome).toBe("decided");
    expect(untold.message).toBe(
      `You denied ${second.requestId}, but I could not reach Sam Engineer to say so: tell them yourself.`,
    );
  });
});
