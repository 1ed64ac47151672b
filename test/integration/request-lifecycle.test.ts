/**
 * A request's whole life on the injected clock: approval, grant, warning, expiry, closure check,
 * early finish, reminders and time-outs. The store is real (PGlite), Azure is the simulator
 * through the real SDK, and the simulator reads the same clock, so JIT expiry happens on cue.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { finishAccess, MAX_CLOSURE_ATTEMPTS } from "../../src/app/access-window.ts";
import { plainTextOf } from "../../src/app/chat-text.ts";
import type { AppContext } from "../../src/app/context.ts";
import * as decideUseCase from "../../src/app/decide.ts";
import { extendAccess } from "../../src/app/extend.ts";
import { cancelRequest, status } from "../../src/app/my-requests.ts";
import type { MessageHandle, Notifier, OutboundMessage, Recipient } from "../../src/app/ports.ts";
import { requestAccess } from "../../src/app/request-access.ts";
import type { RequestRecord } from "../../src/app/request-record.ts";
import { timerHandlers } from "../../src/app/timer-handlers.ts";
import { createTimerRunner } from "../../src/app/timer-runner.ts";
import { approvalCard, windowCard } from "../../src/chat/cards.ts";
import { toActivity } from "../../src/chat/teams/teams-notifier.ts";
import { ErrorCode, PortcullisError } from "../../src/domain/errors.ts";
import { initiatePlan } from "../../src/domain/justification.ts";
import {
  alice,
  type Harness,
  markdownOf,
  type RecordingNotifier,
  requestCommand,
  sam,
  startHarness,
} from "../support/app-harness.ts";

const decide = async (...args: Parameters<typeof decideUseCase.decide>) => {
  const result = await decideUseCase.decide(...args);
  return { ...result, message: markdownOf(result.message) };
};

import { elementsOfType, visibleText } from "../support/card-inspection.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function stateOf(id: string): Promise<string | undefined> {
  return (await h.store.requests.get<RequestRecord>(id))?.data.request.state;
}

async function approvedAndOpen(text = "ssh web-01 from 203.0.113.7 for 1h because INC-1"): Promise<string> {
  const asked = await requestAccess(h.app, sam, requestCommand(text));
  const id = asked.requestId ?? "";
  expect((await decide(h.app, alice, id, "approve")).outcome).toBe("decided");
  await h.settle();
  expect(await stateOf(id)).toBe("active");
  return id;
}

describe("an open window", () => {
  it("warns 10 minutes before the end, then says it closed, and the closure check finds it closed", async () => {
    const id = await approvedAndOpen();
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);

    h.clock.advance(49 * MINUTE);
    await h.settle();
    expect(h.notifier.textsTo("sam@contoso.com").some((text) => text.includes("closes in"))).toBe(false);

    h.clock.advance(1 * MINUTE);
    await h.settle();
    const warning = h.notifier.sent.find((entry) => entry.message.kind === "window");
    expect(warning?.to).toBe("user:sam@contoso.com");
    expect(
      visibleText(warning?.message.kind === "window" ? windowCard(warning.message.request) : {}),
    ).toContain("web-01 port 22 closes at 2026-11-24 10:00 UTC");

    h.clock.advance(10 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("expired");
    const closed = h.notifier.textsTo("sam@contoso.com").find((text) => text.includes("closed at"));
    expect(closed).toContain("port 22 on web-01 for 203.0.113.7 closed at 2026-11-24 10:00 UTC");
    expect(closed).toContain("Existing sessions are not cut by JIT");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);

    h.clock.advance(2 * MINUTE);
    await h.settle();
    const events = await h.store.audit.list({ requestId: id });
    expect(events.map((event) => event.type)).toEqual([
      "request.created",
      "request.approved",
      "request.activated",
      "request.expired",
      "request.closure_verified",
    ]);
    expect((await h.store.requests.get<RequestRecord>(id))?.data.closure).toMatchObject({
      closed: true,
      stillOpen: [],
    });
  });

  it("an expiry interrupted after it was recorded still tells the requester when the timer is retried", async () => {
    const id = await approvedAndOpen();
    h.clock.advance(60 * MINUTE);
    h.notifier.crashOnNextSend = true;
    await h.settle();
    expect(await stateOf(id)).toBe("expired");
    expect(h.notifier.textsTo("sam@contoso.com").some((text) => text.includes("closed at"))).toBe(false);
    h.clock.advance(5_000); // the timer's back-off
    await h.settle();
    expect(h.notifier.textsTo("sam@contoso.com").filter((text) => text.includes("closed at"))).toHaveLength(
      1,
    );
  });

  it("a grant retried after Azure trouble keeps the end time planned at the first attempt", async () => {
    // One lost request: the gateway does not resend it (only a 5xx is resent), so the grant timer's first attempt fails.
    await h.control("POST", "/_sim/faults", {
      kind: "drop",
      times: 1,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const id = asked.requestId ?? "";
    await decide(h.app, alice, id, "approve");
    await h.settle();
    expect(await stateOf(id)).toBe("approved");
    h.clock.advance(5 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("active");
    expect((await h.store.requests.get<RequestRecord>(id))?.data.request.grant?.endTimeUtc).toBe(
      "2026-11-24T10:00:00.000Z",
    );
  });

  it("after downtime the overdue warning, expiry and closure check of one window run in due order", async () => {
    const id = await approvedAndOpen();
    h.clock.advance(3 * 60 * MINUTE); // all three are overdue and claimed in one batch
    await h.settle();
    expect(await stateOf(id)).toBe("expired");
    const types = (await h.store.audit.list({ requestId: id })).map((event) => event.type);
    expect(types.slice(-2)).toEqual(["request.expired", "request.closure_verified"]);
  });

  it("raises the alarm to approvers and the security channel when Azure has not closed the port", async () => {
    const id = await approvedAndOpen();
    // Azure lags: its clock is 30 minutes behind, so the Allow rule is still there after the end.
    await h.control("POST", "/_sim/clock", { offsetMs: -30 * MINUTE });
    h.clock.advance(62 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("expired");
    const alarm = h.notifier.textsTo("alice@contoso.com").find((text) => text.includes("should have closed"));
    expect(alarm).toContain("203.0.113.7 can still get in");
    expect(alarm).toMatch(/Allow rule SecurityCenter-JITRule-\S+ \(priority \d+\) on nsg-web/);
    expect(
      h.notifier.sent.some(
        (entry) =>
          entry.to === "conversation:security" &&
          entry.message.kind === "text" &&
          markdownOf(entry.message.text).includes(id),
      ),
    ).toBe(true);
    const types = (await h.store.audit.list({ requestId: id })).map((event) => event.type);
    expect(types).toContain("request.closure_failed");
  });

  it("`done` closes it within a minute: the probe refuses the address afterwards, and no expiry notice follows", async () => {
    const id = await approvedAndOpen();
    const reply = await finishAccess(h.app, sam, undefined);
    expect(reply).toContain(`${id}: port 22 on web-01 for 203.0.113.7 closes at 2026-11-24 09:01 UTC`);
    expect(await stateOf(id)).toBe("revoked");
    h.clock.advance(61_000);
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
    h.clock.advance(2 * MINUTE);
    await h.settle();
    const types = (await h.store.audit.list({ requestId: id })).map((event) => event.type);
    expect(types).toEqual([
      "request.created",
      "request.approved",
      "request.activated",
      "request.revoked",
      "request.closure_verified",
    ]);
    h.clock.advance(60 * MINUTE);
    await h.settle();
    expect(
      h.notifier
        .textsTo("sam@contoso.com")
        .some((text) => text.includes("closes in") || text.includes("closed at 2026-11-24 10:00")),
    ).toBe(false);
  });

  it("`done` by someone who is neither requester nor approver is refused and changes nothing", async () => {
    const id = await approvedAndOpen();
    const mallory = {
      id: "aad-mallory",
      upn: "mallory@contoso.com",
      name: "Mallory",
      conversationKey: "user:aad-mallory",
    };
    expect(await finishAccess(h.app, mallory, id)).toContain("can close it");
    expect(await stateOf(id)).toBe("active");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);
  });

  it("an approver can end someone's access, audited as such, and the requester is told", async () => {
    const id = await approvedAndOpen();
    await finishAccess(h.app, alice, id);
    expect(await stateOf(id)).toBe("revoked");
    const revoked = (await h.store.audit.list({ requestId: id })).find(
      (event) => event.type === "request.revoked",
    );
    expect(revoked).toMatchObject({ actorId: alice.id, payload: { by: "approver" } });
    expect(
      h.notifier.textsTo("sam@contoso.com").some((text) => text.includes(`closed early by ${alice.name}`)),
    ).toBe(true);
  });
});

describe("done is as durable as a grant (issue 9, item 6)", () => {
  async function initiates(): Promise<number> {
    const log = (await h.control("GET", "/_sim/requests?pathIncludes=/initiate")) as {
      value: { method: string }[];
    };
    return log.value.filter((entry) => entry.method === "POST").length;
  }

  it("Azure closed it but the answer was lost: the bot says so honestly, then the timer finds the initiate in the history and records it without a second one", async () => {
    const id = await approvedAndOpen();
    // Every answer to the done-initiate is lost after Azure processed it (the SDK's retries too),
    // and the gateway cannot read the history to find out either.
    await h.control("POST", "/_sim/faults", [
      { kind: "500", when: "after", times: 20, match: { method: "POST", pathIncludes: "/initiate" } },
      { kind: "500", times: 50, match: { method: "GET", pathIncludes: "jitNetworkAccessPolicies" } },
    ]);
    const reply = await finishAccess(h.app, sam, id);
    await h.control("DELETE", "/_sim/faults");
    expect(reply).toContain(`I could not close ${id} yet`);
    expect(reply).toContain("I'll keep trying");
    expect(await stateOf(id)).toBe("active");
    const before = await initiates();

    h.clock.advance(61_000);
    await h.settle();
    expect(await stateOf(id)).toBe("revoked");
    expect(await initiates()).toBe(before);
    expect(
      h.notifier
        .textsTo("sam@contoso.com")
        .some((text) => text.includes(`${id} is closed: JIT closes it at`)),
    ).toBe(true);
    const record = (await h.store.requests.get<RequestRecord>(id))?.data;
    expect(record?.windowChange).toBeUndefined();
    expect(record?.closure?.expectedAt).toBeDefined();
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  it("the process dies after recording the intent and before Azure is asked: the timer closes it", async () => {
    const id = await approvedAndOpen();
    // This process's initiate never returns: as good as dead from here on.
    const stalled = { ...h.app, gateway: { ...h.app.gateway, initiate: () => new Promise<never>(() => {}) } };
    void finishAccess(stalled, sam, id);
    for (let i = 0; i < 50 && !(await h.store.requests.get<RequestRecord>(id))?.data.windowChange; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await h.store.requests.get<RequestRecord>(id))?.data.windowChange?.kind).toBe("close");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);

    h.clock.advance(61_000);
    await h.settle();
    expect(await stateOf(id)).toBe("revoked");
    h.clock.advance(2 * MINUTE);
    await h.settle();
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
    const events = (await h.store.audit.list({ requestId: id })).map((event) => event.type);
    expect(events).toContain("request.revoked");
    expect(events).not.toContain("request.expired");
  });
});

describe("a window replaced outside Portcullis", () => {
  it("a portal initiate on the same VM+port is noticed at the next window check: revoked, requester and security channel told", async () => {
    const id = await approvedAndOpen();
    const [target] = (await h.store.requests.get<RequestRecord>(id))?.data.request.targets ?? [];
    if (!target) throw new Error("target expected");
    h.clock.advance(2 * MINUTE);
    await h.app.gateway.initiate({
      policy: { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
      virtualMachines: [
        {
          vmId: target.vmId,
          ports: [
            {
              number: 22,
              endTimeUtc: new Date(h.clock.now().getTime() + 3 * 60 * MINUTE),
              allowedSourceAddressPrefix: "203.0.113.99",
            },
          ],
        },
      ],
      justification: "portal: patching",
    });
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
    expect(await stateOf(id)).toBe("active");

    h.clock.advance(3 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("revoked");
    const told = h.notifier.textsTo("sam@contoso.com").find((text) => text.includes("no longer yours"));
    expect(told).toMatch(
      new RegExp(
        `${id} is no longer yours in Azure: .* opened web-01 port 22 for 203.0.113.99 at .* outside Portcullis`,
      ),
    );
    const alarm = h.notifier.sent.find(
      (sent) => sent.to === "conversation:security" && JSON.stringify(sent.message).includes("did not make"),
    );
    expect(JSON.stringify(alarm?.message)).toContain("portal: patching");
    // No warning or expiry notice for a window that is not there any more.
    h.clock.advance(60 * MINUTE);
    await h.settle();
    expect(h.notifier.textsTo("sam@contoso.com").some((text) => text.includes("closes in"))).toBe(false);
  });

  it("our own newer initiate (an approved extension) is not mistaken for a replacement", async () => {
    const id = await approvedAndOpen("ssh web-01 from 203.0.113.7 for 1h because INC-2");
    h.clock.advance(6 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("active");
    const asked = await extendAccess(h.app, sam, id, 30 * MINUTE);
    const extension = /R-\d+ extends|R-\d+/.exec(asked.replace(id, ""))?.[0] ?? "";
    expect(extension).not.toBe("");
    expect((await decide(h.app, alice, extension, "approve")).outcome).toBe("decided");
    await h.settle();
    expect(await stateOf(extension)).toBe("active");
    h.clock.advance(11 * MINUTE);
    await h.settle();
    expect(await stateOf(extension)).toBe("active");
    expect(h.notifier.textsTo("sam@contoso.com").some((text) => text.includes("no longer yours"))).toBe(
      false,
    );
  });
});

describe("an undecided request", () => {
  it("reminds the approvers at half time and times out at the end; the card is replaced and the requester told", async () => {
    const asked = await requestAccess(h.app, sam, requestCommand("ssh web-01 from 203.0.113.7 for 1h"));
    const id = asked.requestId ?? "";
    h.clock.advance(30 * MINUTE);
    await h.settle();
    expect(h.notifier.textsTo("alice@contoso.com").some((text) => text.startsWith(`Reminder: ${id}`))).toBe(
      true,
    );
    h.clock.advance(30 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("timed_out");
    expect(h.notifier.textsTo("sam@contoso.com").some((text) => text.includes(`${id} timed out`))).toBe(true);
    const last = h.notifier.updates.at(-1);
    expect(last?.message.kind === "approval" && last.message.request.state).toBe("timed_out");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  it("a decision cancels the reminder and the time-out", async () => {
    const id = await approvedAndOpen();
    h.clock.advance(31 * MINUTE);
    await h.settle();
    expect(h.notifier.textsTo("alice@contoso.com").some((text) => text.startsWith(`Reminder: ${id}`))).toBe(
      false,
    );
  });

  it("ends when the address link is not opened in time", async () => {
    const asked = await requestAccess(h.app, sam, requestCommand("rdp app-02 for 30m"));
    const id = asked.requestId ?? "";
    expect(await stateOf(id)).toBe("awaiting_source");
    h.clock.advance(10 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("timed_out");
    expect(
      h.notifier.textsTo("sam@contoso.com").some((text) => text.includes("link was not opened in time")),
    ).toBe(true);
  });
});

describe("extending", () => {
  it("the warning carries Extend; beyond what was approved it goes to the approvers, and the granted extension supersedes the old window", async () => {
    const id = await approvedAndOpen();
    h.clock.advance(50 * MINUTE);
    await h.settle();
    const warning = h.notifier.sent.find((entry) => entry.message.kind === "window");
    expect(warning?.to).toBe("user:sam@contoso.com");

    const reply = await extendAccess(h.app, sam, id, 30 * MINUTE);
    expect(reply).toContain(`Extending ${id} to 2026-11-24 10:30 UTC goes beyond what was approved`);
    const extension = /R-\d+/.exec(reply.replace(id, ""))?.[0] ?? "";
    expect(extension).not.toBe("");
    expect(await extendAccess(h.app, sam, id, 30 * MINUTE)).toContain(
      `${extension} already asks to extend ${id}`,
    );

    expect((await decide(h.app, alice, extension, "approve")).outcome).toBe("decided");
    await h.settle();
    expect(await stateOf(extension)).toBe("active");
    expect(await stateOf(id)).toBe("revoked");
    const grant = (await h.store.requests.get<RequestRecord>(extension))?.data.request.grant;
    expect(grant?.endTimeUtc).toBe("2026-11-24T10:30:00.000Z");
    // The warning card of the old window no longer offers buttons.
    const replaced = h.notifier.updates.filter(
      (update) => update.handle.activityId === warning?.handle.activityId,
    );
    const last = replaced.at(-1)?.message;
    expect(last?.kind === "window" ? last.request.state : last?.kind).toBe("revoked");

    // Past the old end the address still gets in; no false alarm about the superseded window.
    h.clock.advance(15 * MINUTE);
    await h.settle();
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);
    expect((await h.store.audit.list({ requestId: id })).map((event) => event.type)).not.toContain(
      "request.closure_failed",
    );
    h.clock.advance(30 * MINUTE);
    await h.settle();
    expect(await stateOf(extension)).toBe("expired");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
    expect((await h.store.audit.list({ requestId: extension })).map((event) => event.type)).toContain(
      "request.closure_verified",
    );
  });

  it("past the policy's maximum from now: refused with the maximum", async () => {
    const id = await approvedAndOpen();
    expect(await extendAccess(h.app, sam, id, 3 * 60 * MINUTE)).toContain("can be open at most 3 h from now");
  });

  it("only the requester extends", async () => {
    const id = await approvedAndOpen();
    expect(await extendAccess(h.app, alice, id, 30 * MINUTE)).toContain("Only Sam Engineer");
  });
});

describe("a future window", () => {
  it("`at 02:00` in the requester's zone: approved ahead, echoed back, opened at the start and not before", async () => {
    const berlin = { ...sam, timeZone: "Europe/Berlin" };
    // Harness time: 2026-11-24 09:00 UTC = 10:00 in Berlin, so 02:00 is tomorrow 01:00 UTC.
    const asked = await requestAccess(
      h.app,
      berlin,
      requestCommand("ssh web-01 from 203.0.113.7 at 02:00 for 2h because maintenance"),
    );
    expect(asked.reply).toContain("It opens at 2026-11-25 02:00 Europe/Berlin (01:00 UTC) once approved.");
    const id = asked.requestId ?? "";
    expect((await decide(h.app, alice, id, "approve")).message).toBe(
      `You approved ${id}; it opens at 2026-11-25 01:00 UTC.`,
    );
    await h.settle();
    expect(await stateOf(id)).toBe("scheduled");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);

    h.clock.advance(16 * 60 * MINUTE - MINUTE); // 00:59 UTC
    await h.settle();
    expect(await stateOf(id)).toBe("scheduled");
    h.clock.advance(MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("active");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);
    expect((await h.store.requests.get<RequestRecord>(id))?.data.request.grant?.endTimeUtc).toBe(
      "2026-11-25T03:00:00.000Z",
    );
  });

  it("a start in the past or more than a week ahead is refused, with the time echoed", async () => {
    expect(
      (await requestAccess(h.app, sam, requestCommand("ssh web-01 from 203.0.113.7 at today 08:00"))).reply,
    ).toBe("2026-11-24 08:00 UTC is not in the future; leave out `at` to ask for access now.");
    expect(
      (await requestAccess(h.app, sam, requestCommand("ssh web-01 from 203.0.113.7 at 2026-12-24T08:00Z")))
        .reply,
    ).toContain("more than 7 days ahead");
  });
});

/** Every copy of `id`'s approval card as last replaced (or as sent, if never replaced). */
function approvalCardsOf(notifier: RecordingNotifier, id: string): Record<string, unknown>[] {
  return notifier.sent
    .filter((entry) => entry.message.kind === "approval" && entry.message.request.id === id)
    .map((entry) => {
      const last =
        notifier.updates.filter((update) => update.handle.activityId === entry.handle.activityId).at(-1)
          ?.message ?? entry.message;
      return last.kind === "approval" ? approvalCard(last.request, last.context) : {};
    });
}

/** The card's label → value rows ("Ends" → "2026-11-24 19:30 UTC"). */
function runsByRow(card: Record<string, unknown>): Record<string, string> {
  const rows: Record<string, string> = {};
  for (const set of elementsOfType(card, "ColumnSet")) {
    const [label, value] = (set.columns as Record<string, unknown>[]).map((column) => visibleText(column));
    if (label !== undefined && value !== undefined) rows[label] = value;
  }
  return rows;
}

async function auditTypes(id: string): Promise<string[]> {
  return (await h.store.audit.list({ requestId: id })).map((event) => event.type);
}

describe("second thoughts: a window's end withdraws its extensions (issue 9, item 5)", () => {
  async function extensionAsked(): Promise<{ id: string; extension: string }> {
    const id = await approvedAndOpen();
    h.clock.advance(50 * MINUTE);
    await h.settle();
    const reply = await extendAccess(h.app, sam, id, 30 * MINUTE);
    const extension = /R-\d+/.exec(reply.replace(id, ""))?.[0] ?? "";
    expect(extension).not.toBe("");
    expect(await stateOf(extension)).toBe("pending");
    return { id, extension };
  }

  it("`done` withdraws the pending extension: audited, its cards replaced, a late Approve is a no-op that says why, the port stays shut", async () => {
    const { id, extension } = await extensionAsked();
    const reply = await finishAccess(h.app, sam, id);
    expect(reply).toContain(`${extension}, which asked to extend ${id}, is withdrawn with it.`);
    expect(await stateOf(extension)).toBe("cancelled");
    expect(await auditTypes(extension)).toEqual(["request.created", "request.withdrawn"]);

    const cards = approvalCardsOf(h.notifier, extension);
    expect(cards.length).toBeGreaterThan(0);
    for (const card of cards) {
      expect(card).not.toHaveProperty("actions");
      expect(visibleText(card)).toContain(
        `Withdrawn — ${id} was closed by Sam Engineer at 2026-11-24 09:50 UTC`,
      );
    }

    const late = await decide(h.app, alice, extension, "approve");
    expect(late.outcome).toBe("refused");
    expect(late.message).toBe(
      `${extension} was withdrawn because ${id} was closed by Sam Engineer at 09:50 UTC.`,
    );
    await h.settle();
    h.clock.advance(2 * MINUTE);
    await h.settle();
    expect(await stateOf(extension)).toBe("cancelled");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  it("an extension already approved but not yet opened when `done` comes is withdrawn too; its grant never opens the port", async () => {
    const { id, extension } = await extensionAsked();
    expect((await decide(h.app, alice, extension, "approve")).outcome).toBe("decided");
    expect(await stateOf(extension)).toBe("approved"); // the grant timer has not run yet
    await finishAccess(h.app, sam, id);
    await h.settle();
    expect(await stateOf(extension)).toBe("cancelled");
    h.clock.advance(2 * MINUTE);
    await h.settle();
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
    expect(await auditTypes(extension)).not.toContain("request.activated");
  });

  it("expiry withdraws an approved extension Azure had not opened yet: its retried grant never opens the port", async () => {
    const { id, extension } = await extensionAsked();
    // The extension's first two grant attempts are lost on the way (one call each: only a 5xx is resent).
    await h.control("POST", "/_sim/faults", {
      kind: "drop",
      times: 2,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    expect((await decide(h.app, alice, extension, "approve")).outcome).toBe("decided");
    await h.settle();
    h.clock.advance(10 * MINUTE - 1000); // 09:59:59: the second attempt fails too; the third is due 10:00:03
    await h.settle();
    expect(await stateOf(extension)).toBe("approved");
    h.clock.advance(1000); // 10:00: the window expires
    await h.settle();
    expect(await stateOf(id)).toBe("expired");
    expect(await stateOf(extension)).toBe("cancelled");
    expect(h.notifier.textsTo("sam@contoso.com").find((text) => text.includes("closed at"))).toContain(
      `${extension}, which asked to extend ${id}, is withdrawn with it.`,
    );
    h.clock.advance(MINUTE);
    await h.settle();
    expect(await stateOf(extension)).toBe("cancelled");
    expect(await auditTypes(extension)).not.toContain("request.activated");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
    const late = await decide(h.app, alice, extension, "approve");
    expect(late.message).toBe(`${extension} was withdrawn because ${id} expired at 10:00 UTC.`);
  });
});

describe("the extension card (issue 9, item 7)", () => {
  it("says which window it extends until when, the new end, when it was asked; the replaced window says continued as, the audit its real end", async () => {
    await h.close();
    // Tuesday 17:00 UTC: the request is in working hours; the extension, asked at 18:50, is not.
    h = await startHarness({ start: "2026-11-24T17:00:00Z" });
    const id = await approvedAndOpen("ssh web-01 from 203.0.113.7 for 2h because INC-1");
    h.clock.advance(110 * MINUTE); // 18:50
    await h.settle();
    const reply = await extendAccess(h.app, sam, id, 30 * MINUTE);
    const extension = /R-\d+/.exec(reply.replace(id, ""))?.[0] ?? "";

    const [card] = approvalCardsOf(h.notifier, extension);
    const text = visibleText(card ?? {});
    expect(text).toContain(`Extension of ${id}`);
    expect(text).toContain(`${id}, open until 2026-11-24 19:00 UTC when this was asked`);
    expect(text).toContain(`30 min more than ${id}, to 2026-11-24 19:30 UTC`);
    const rows = runsByRow(card ?? {});
    expect(rows.Ends).toBe("2026-11-24 19:30 UTC");
    expect(text).not.toContain("after approval");
    expect(rows.Asked).toBe("2026-11-24 18:50 UTC");
    // Its risk flags are about the extension's own asking, not the original request's.
    expect(text).toContain("Asked at Tue 18:50 (UTC), outside working hours");

    h.clock.advance(5 * MINUTE); // approved at 18:55: it still ends at 19:30, not 40 min after approval
    expect((await decide(h.app, alice, extension, "approve")).outcome).toBe("decided");
    await h.settle();
    expect(await stateOf(extension)).toBe("active");
    expect((await h.store.requests.get<RequestRecord>(extension))?.data.request.grant?.endTimeUtc).toBe(
      "2026-11-24T19:30:00.000Z",
    );

    for (const replaced of approvalCardsOf(h.notifier, id)) {
      const words = visibleText(replaced);
      expect(words).toContain(`Continued as ${extension} at 2026-11-24 18:55 UTC`);
      expect(words).not.toContain("Revoked");
      expect(words).not.toContain("closed early by Portcullis");
    }
    const superseded = (await h.store.audit.list({ requestId: id })).find(
      (event) => event.type === "request.superseded",
    );
    expect(superseded).toMatchObject({
      at: new Date("2026-11-24T18:55:00Z"),
      payload: {
        continuedAs: extension,
        endedAt: "2026-11-24T18:55:00.000Z",
        plannedEnd: "2026-11-24T19:00:00.000Z",
      },
    });
    expect((await h.store.requests.get<RequestRecord>(id))?.data.request.endedAt).toBe(
      "2026-11-24T18:55:00.000Z",
    );
  });
});

describe("approved future windows can be withdrawn (issue 9, item 8)", () => {
  async function scheduled(): Promise<string> {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 at 2026-11-25T01:00Z for 2h because maintenance"),
    );
    const id = asked.requestId ?? "";
    await decide(h.app, alice, id, "approve");
    await h.settle();
    expect(await stateOf(id)).toBe("scheduled");
    return id;
  }

  it("`status` shows it scheduled with its start; `cancel` withdraws it, replaces its card, and nothing opens at the start", async () => {
    const id = await scheduled();
    expect(plainTextOf(await status(h.app, sam))).toContain(
      `${id} web-01 port 22 from 203.0.113.7 for 2 h — scheduled: approved, opens at 2026-11-25 01:00 UTC`,
    );
    expect(await cancelRequest(h.app, sam, id)).toBe(
      `${id} is withdrawn: it was approved to open at 2026-11-25 01:00 UTC, and nothing was opened.`,
    );
    expect(await stateOf(id)).toBe("cancelled");
    expect(await auditTypes(id)).toEqual(["request.created", "request.approved", "request.cancelled"]);
    for (const card of approvalCardsOf(h.notifier, id)) {
      expect(card).not.toHaveProperty("actions");
      expect(visibleText(card)).toContain("Cancelled by the requester at 2026-11-24 09:00 UTC");
    }
    h.clock.advance(17 * 60 * MINUTE); // past the start
    await h.settle();
    expect(await stateOf(id)).toBe("cancelled");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
    expect(plainTextOf(await status(h.app, sam))).toBe("You have no open requests.");
  });

  it("`done` on a window that has not started withdraws it the same way", async () => {
    const id = await scheduled();
    expect(await finishAccess(h.app, sam, id)).toContain(`${id} is withdrawn`);
    h.clock.advance(17 * 60 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("cancelled");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  it("once its start has come it is opening: `cancel` is refused and points at `done`", async () => {
    const id = await scheduled();
    h.clock.advance(16 * 60 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("active");
    expect(await auditTypes(id)).toEqual([
      "request.created",
      "request.approved",
      "request.opening",
      "request.activated",
    ]);
    expect(await cancelRequest(h.app, sam, id)).toContain(`type \`done ${id}\``);
  });
});

/**
 * Like the Agents Playground's connector: an activity carrying text and a card is split into two
 * messages and answered 202 without an activity id, so the sender gets no handle back.
 */
class SplittingConnector implements Notifier {
  private readonly inner: RecordingNotifier;
  constructor(inner: RecordingNotifier) {
    this.inner = inner;
  }
  async toUser(recipient: Recipient, message: OutboundMessage): Promise<MessageHandle | undefined> {
    if (message.kind === "window" && message.text !== undefined) {
      await this.inner.toUser(recipient, { kind: "text", text: message.text });
      await this.inner.toUser(recipient, { kind: "window", request: message.request });
      return undefined;
    }
    return this.inner.toUser(recipient, message);
  }
  toConversation(key: string, message: OutboundMessage): Promise<MessageHandle | undefined> {
    return this.inner.toConversation(key, message);
  }
  update(handle: MessageHandle, message: OutboundMessage): Promise<boolean> {
    return this.inner.update(handle, message);
  }
}

describe("the pre-expiry warning (issue 9, item 9)", () => {
  it("comes once — one card, no second copy in text — and after expiry its Extend/Done buttons are gone", async () => {
    const app: AppContext = { ...h.app, notifier: new SplittingConnector(h.notifier) };
    const runner = createTimerRunner(app, timerHandlers(app), {
      owner: "splitting",
      pollMs: 1000,
      leaseMs: 60_000,
      batch: 50,
      loop: false,
    });
    const settle = async () => {
      while ((await runner.runOnce()) > 0);
    };
    const asked = await requestAccess(
      app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const id = asked.requestId ?? "";
    await decide(app, alice, id, "approve");
    await settle();
    expect(await stateOf(id)).toBe("active");
    const before = h.notifier.sent.length;

    h.clock.advance(50 * MINUTE);
    await settle();
    const warnings = h.notifier.sent.slice(before);
    expect(warnings.map((entry) => [entry.to, entry.message.kind])).toEqual([
      ["user:sam@contoso.com", "window"],
    ]);
    // What Teams shows: one card, no text beside it saying the same again.
    const [warning] = warnings;
    const activity = warning ? toActivity(warning.message) : {};
    expect(activity.text).toBeUndefined();
    expect(activity.attachments).toHaveLength(1);

    h.clock.advance(10 * MINUTE);
    await settle();
    expect(await stateOf(id)).toBe("expired");
    const replaced = h.notifier.updates.filter(
      (update) => update.handle.activityId === warning?.handle.activityId,
    );
    const last = replaced.at(-1)?.message;
    expect(last?.kind === "window" && last.request.state).toBe("expired");
    const card = last?.kind === "window" ? windowCard(last.request) : {};
    expect(elementsOfType(card, "Action.Execute")).toEqual([]);
    await runner.stop();
  });

  it("`done` from the warning card replaces it without buttons; a re-armed warning timer does not warn again", async () => {
    const id = await approvedAndOpen();
    h.clock.advance(50 * MINUTE);
    await h.settle();
    const warning = h.notifier.sent.find((entry) => entry.message.kind === "window");
    // The same end again (a retried grant, a second replica): no second warning.
    await h.store.timers.schedule({
      key: `pre-expiry-warning:${id}`,
      kind: "pre-expiry-warning",
      dueAt: h.clock.now(),
      payload: { requestId: id },
    });
    await h.settle();
    expect(h.notifier.sent.filter((entry) => entry.message.kind === "window")).toHaveLength(1);

    await finishAccess(h.app, sam, id);
    const last = h.notifier.updates
      .filter((update) => update.handle.activityId === warning?.handle.activityId)
      .at(-1)?.message;
    expect(last?.kind === "window" && last.request.state).toBe("revoked");
    expect(elementsOfType(last?.kind === "window" ? windowCard(last.request) : {}, "Action.Execute")).toEqual(
      [],
    );
  });
});

describe("the initiate is sent once (issue 10, item 12)", () => {
  it("reply lost after Azure recorded it: the request is active and Azure's history holds exactly one entry for it", async () => {
    await h.control("POST", "/_sim/faults", {
      kind: "drop",
      when: "after",
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const id = await approvedAndOpen();
    const posts = (
      (await h.control("GET", "/_sim/requests?pathIncludes=/initiate")) as {
        value: { method: string }[];
      }
    ).value.filter((call) => call.method === "POST");
    expect(posts).toHaveLength(1);
    const target = (await h.store.requests.get<RequestRecord>(id))?.data.request.targets[0];
    if (!target) throw new Error("no target");
    const policy = await h.app.gateway.getVmPolicy(
      { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
      target.vmId,
    );
    expect(policy.requests.filter((entry) => entry.justification?.includes(id))).toHaveLength(1);
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);
  });
});

describe("a 5xx on the initiate (issue 11, item 15)", () => {
  async function initiatePosts(): Promise<{ status?: number; body?: string }[]> {
    return (
      (await h.control("GET", "/_sim/requests?pathIncludes=/initiate")) as {
        value: { method: string; status?: number; body?: string }[];
      }
    ).value.filter((call) => call.method === "POST");
  }

  it("one 500 with nothing in the history: the identical body is sent once more and the window opens", async () => {
    await h.control("POST", "/_sim/faults", {
      kind: "500",
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const id = await approvedAndOpen();
    const posts = await initiatePosts();
    expect(posts.map((call) => call.status)).toEqual([500, 202]);
    expect(posts[1]?.body).toBe(posts[0]?.body);
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);
    expect(await stateOf(id)).toBe("active");
  });

  it("500 again on the resend: the request fails at once with Azure's code in a sentence; no third initiate, ever", async () => {
    await h.control("POST", "/_sim/faults", {
      kind: "500",
      times: 50,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const id = asked.requestId ?? "";
    await decide(h.app, alice, id, "approve");
    await h.settle();
    for (let i = 0; i < 5; i++) {
      h.clock.advance(MINUTE);
      await h.settle();
    }
    expect(await stateOf(id)).toBe("failed");
    const posts = await initiatePosts();
    expect(posts.map((call) => call.status)).toEqual([500, 500]);
    expect(posts[1]?.body).toBe(posts[0]?.body);
    const told = h.notifier
      .textsTo("sam@contoso.com")
      .find((text) => text.includes(`${id} could not be opened`));
    expect(told).toContain("HTTP 500 InternalServerError");
    expect(told).toContain("Azure did not act on it");
    expect(told).not.toMatch(/[{}]/);
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(false);
  });
});

describe("an id that is not ours alone (issue 11, item 9)", () => {
  async function initiateOutside(justification: string, source: string, minutes: number): Promise<void> {
    const vmId = `/subscriptions/${h.simulator.subscriptionId}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01`;
    await h.app.gateway.initiate({
      policy: { resourceGroup: "rg-web", location: "westeurope", name: "default" },
      virtualMachines: [
        {
          vmId,
          ports: [
            {
              number: 22,
              endTimeUtc: new Date(h.clock.now().getTime() + minutes * MINUTE),
              allowedSourceAddressPrefix: source,
            },
          ],
        },
      ],
      justification,
    });
  }

  it("another deployment (or a reset database) already used R-1 on this VM: our R-1 still initiates, for our address, and says so truly", async () => {
    await initiateOutside("Portcullis R-1 | requested by Pat Other (pat@fabrikam.com)", "198.51.100.20", 120);
    const id = await approvedAndOpen();
    expect(id).toBe("R-1");
    const record = (await h.store.requests.get<RequestRecord>(id))?.data;
    expect(record?.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(record?.request.grant?.justification).toMatch(
      new RegExp(`^Portcullis R-1 #${record?.nonce} \\| `),
    );
    expect(record?.request.grant?.endTimeUtc).toBe("2026-11-24T10:00:00.000Z");
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);
  });

  it('a person types "Portcullis R-1" in the portal over our window: it is noticed as a replacement, not taken for ours', async () => {
    const id = await approvedAndOpen();
    h.clock.advance(2 * MINUTE);
    await initiateOutside(`Portcullis ${id} | typed by hand`, "203.0.113.99", 180);
    h.clock.advance(3 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("revoked");
    expect(h.notifier.textsTo("sam@contoso.com").some((text) => text.includes("no longer yours"))).toBe(true);
  });

  it("a record from before nonces, whose first attempt got through with the old text: found in the history by id, VM, port, source and end; no second initiate", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      requestCommand("ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const id = asked.requestId ?? "";
    await decide(h.app, alice, id, "approve");
    const stored = await h.store.requests.get<RequestRecord>(id);
    if (!stored) throw new Error("no record");
    const plannedEnd = "2026-11-24T10:00:00.000Z";
    await h.store.requests.compareAndSwap(stored.id, stored.version, {
      state: stored.state,
      data: { ...stored.data, plannedEnd },
    });
    const [call] = initiatePlan(stored.data.request, new Date(Date.parse(plannedEnd) - HOUR)) ?? [];
    if (!call) throw new Error("no plan");
    await h.app.gateway.initiate(call);
    await h.control("DELETE", "/_sim/requests");
    await h.settle();
    expect(await stateOf(id)).toBe("active");
    const record = (await h.store.requests.get<RequestRecord>(id))?.data;
    expect(record?.nonce).toBeUndefined();
    expect(record?.request.grant?.justification).toBe(call.justification);
    const posts = (
      (await h.control("GET", "/_sim/requests?pathIncludes=/initiate")) as { value: { method: string }[] }
    ).value.filter((entry) => entry.method === "POST");
    expect(posts).toHaveLength(0);
  });
});

describe("closure checks that tell the truth (issue 11, item 7)", () => {
  it("a standing rule that outranks JIT's Deny still lets the address in: the alarm names it, no 'closure verified'", async () => {
    await h.close();
    h = await startHarness({
      fleet: (fleet) => ({
        ...fleet,
        networkSecurityGroups: (fleet.networkSecurityGroups ?? []).map((nsg) =>
          nsg.name === "nsg-web"
            ? {
                ...nsg,
                rules: [
                  ...(nsg.rules ?? []),
                  {
                    name: "Allow-SSH-Anywhere-Legacy",
                    priority: 300,
                    access: "Allow" as const,
                    sourceAddressPrefix: "Internet",
                    destinationPortRange: "22",
                  },
                ],
              }
            : nsg,
        ),
      }),
    });
    const id = await approvedAndOpen();
    h.clock.advance(62 * MINUTE);
    await h.settle();
    expect(await stateOf(id)).toBe("expired");
    // Azure did remove JIT's Allow rule; the address gets in all the same.
    expect(await h.probe("203.0.113.7", "web-01", 22)).toBe(true);
    const types = (await h.store.audit.list({ requestId: id })).map((event) => event.type);
    expect(types).toContain("request.closure_failed");
    expect(types).not.toContain("request.closure_verified");
    const alarm = h.notifier.textsTo("alice@contoso.com").find((text) => text.includes("should have closed"));
    expect(alarm).toContain("203.0.113.7 can still get in");
    expect(alarm).toContain("web-01 port 22: Allow rule Allow-SSH-Anywhere-Legacy (priority 300) on nsg-web");
    expect(
      h.notifier.sent.some(
        (entry) =>
          entry.to === "conversation:security" &&
          entry.message.kind === "text" &&
          markdownOf(entry.message.text).includes("Allow-SSH-Anywhere-Legacy"),
      ),
    ).toBe(true);
    expect((await h.store.requests.get<RequestRecord>(id))?.data.closure?.closed).toBe(false);
  });

  it("NSG reads keep failing (5xx): the check stops after a bounded number of attempts and says so to approvers and security, loudly, once", async () => {
    const id = await approvedAndOpen();
    await h.control("POST", "/_sim/faults", {
      kind: "500",
      times: 100_000,
      match: { method: "GET", pathIncludes: "/networkSecurityGroups/" },
    });
    h.clock.advance(62 * MINUTE);
    for (let i = 0; i < 12; i++) {
      await h.settle();
      h.clock.advance(5 * MINUTE);
    }
    const types = (await h.store.audit.list({ requestId: id })).map((event) => event.type);
    expect(types.filter((type) => type === "request.closure_unverified")).toHaveLength(1);
    expect(types).not.toContain("request.closure_verified");
    const event = (await h.store.audit.list({ requestId: id })).find(
      (each) => each.type === "request.closure_unverified",
    );
    expect(event?.payload.attempts).toBe(MAX_CLOSURE_ATTEMPTS);
    const told = h.notifier.textsTo("alice@contoso.com").filter((text) => text.includes("I could not check"));
    expect(told).toHaveLength(1);
    expect(told[0]).toContain(`I could not check that ${id} closed`);
    expect(told[0]).toContain(`I tried ${MAX_CLOSURE_ATTEMPTS} times and have stopped`);
    expect(told[0]).toContain("Azure is unavailable");
    expect(
      h.notifier.sent.filter(
        (entry) =>
          entry.to === "conversation:security" &&
          entry.message.kind === "text" &&
          markdownOf(entry.message.text).includes("I could not check"),
      ),
    ).toHaveLength(1);
    // Stopped means stopped: no more reads.
    const reads = async () =>
      (
        (await h.control("GET", "/_sim/requests?pathIncludes=/networkSecurityGroups/")) as {
          value: unknown[];
        }
      ).value.length;
    const before = await reads();
    h.clock.advance(60 * MINUTE);
    await h.settle();
    expect(await reads()).toBe(before);
    expect((await h.store.requests.get<RequestRecord>(id))?.data.closure?.unverified).toMatch(/unavailable/);
  });

  it("a refused read (403) stops the check at the first attempt and says the role is missing", async () => {
    const id = await approvedAndOpen();
    h.clock.advance(61 * MINUTE); // the expiry is due, the closure check (2 minutes later) not yet
    const refusing: AppContext = {
      ...h.app,
      gateway: {
        ...h.app.gateway,
        listInboundPaths: async () => {
          throw new PortcullisError(
            ErrorCode.AzureForbidden,
            "The bot's identity is not allowed to read the network security rules of web-01; ask an admin to assign the Portcullis role to it.",
          );
        },
      },
    };
    // The expiry first (on the real gateway), then the closure check on the refusing one.
    await h.timers.runOnce();
    expect(await stateOf(id)).toBe("expired");
    h.clock.advance(3 * MINUTE);
    const runner = createTimerRunner(refusing, timerHandlers(refusing), {
      owner: "refusing",
      pollMs: 1000,
      leaseMs: 60_000,
      batch: 50,
      loop: false,
    });
    await runner.runOnce();
    await runner.stop();
    const told = h.notifier.textsTo("alice@contoso.com").find((text) => text.includes("I could not check"));
    expect(told).toContain("not allowed to read the network security rules of web-01");
    expect(told).toContain("I tried once and have stopped");
    const types = (await h.store.audit.list({ requestId: id })).map((event) => event.type);
    expect(types).toContain("request.closure_unverified");
  });
});
