/**
 * The access request end to end: the bot process over HTTP, a fake Bot Framework connector, and
 * the embedded ARM simulator whose NSG probe says who really gets through.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BotProcess, freePort, startBotProcess } from "../support/bot-process.ts";
import {
  type FakeConnector,
  type FakeMember,
  type SentActivity,
  startFakeConnector,
} from "../support/fake-connector.ts";
import {
  clickActivity,
  conversationOf,
  invoke,
  members,
  requestIdIn,
  say as sayTo,
  activityFrom as teamsActivity,
} from "../support/teams-client.ts";

const { sam, alice, mallory } = members;

let connector: FakeConnector;
let bot: BotProcess;
let simulator: string;
let dataDir: string;

beforeAll(async () => {
  connector = await startFakeConnector([sam, alice, mallory]);
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-access-"));
  const simulatorPort = await freePort();
  simulator = `http://127.0.0.1:${simulatorPort}`;
  bot = await startBotProcess({ DATA_DIR: dataDir, SIMULATOR_PORT: String(simulatorPort) });
});

afterAll(async () => {
  await bot?.stop();
  await connector?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function say(user: FakeMember, text: string): Promise<string> {
  return sayTo(bot.url, connector, user, text);
}

function activityFrom(user: FakeMember, extra: Record<string, unknown>): Record<string, unknown> {
  return teamsActivity(connector, user, extra);
}

/** Clicks a card button as Teams does: an adaptiveCard/action invoke, answered in the HTTP response. */
async function click(
  user: FakeMember,
  verb: string,
  data: Record<string, unknown>,
): Promise<{ type: string; value: unknown }> {
  const answer = await invoke(bot.url, clickActivity(connector, user, verb, data));
  expect(answer.status).toBe(200);
  return answer.body as { type: string; value: unknown };
}

function cardsIn(conversationId: string, requestId: string): SentActivity[] {
  return connector.sent.filter(
    (sent) =>
      sent.conversationId === conversationId &&
      JSON.stringify(sent.body.attachments ?? []).includes(`"${requestId}"`),
  );
}

async function probe(source: string, vm: string, port: number): Promise<boolean> {
  const response = await fetch(`${simulator}/_sim/probe?source=${source}&vm=${vm}&port=${port}`);
  return ((await response.json()) as { allowed: boolean }).allowed;
}

async function initiateCalls(): Promise<number> {
  const response = await fetch(`${simulator}/_sim/requests?pathIncludes=initiate`);
  const calls = (await response.json()) as { value: { method: string }[] };
  return calls.value.filter((call) => call.method === "POST").length;
}

describe("an access request", () => {
  let requestId: string;

  it("goes to the approver as a card once the approver has talked to the bot", async () => {
    await say(alice, "help");
    const reply = await say(sam, "ssh web-01 from 203.0.113.7 for 1h because INC-4211");
    requestId = requestIdIn(reply);
    expect(reply).toContain("waiting for 1 approval");
    expect(reply).toContain("alice@contoso.com");
    const [card] = await Promise.all([
      connector.waitFor((sent) => cardsIn(conversationOf(alice), requestId).includes(sent)),
    ]);
    const content = JSON.stringify(card.body.attachments);
    expect(content).toContain("203.0.113.7");
    expect(content).toContain("portcullis.approve");
  });

  it("is refused when the requester approves it themselves, and nothing opens", async () => {
    const answer = await click(sam, "portcullis.approve", { requestId });
    expect(JSON.stringify(answer)).toContain("you cannot decide it");
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  it("is refused for someone who is not an approver", async () => {
    const answer = await click(mallory, "portcullis.approve", { requestId });
    expect(JSON.stringify(answer)).toMatch(/not .*approver|cannot approve|can't approve/i);
  });

  it("opens port 22 for exactly that address and end time when approved, and tells the requester", async () => {
    const before = await initiateCalls();
    const answer = await click(alice, "portcullis.approve", { requestId });
    // Answered in words; the cards themselves are replaced by the bot (no stale card can roll back "Active").
    expect(answer).toMatchObject({
      type: "application/vnd.microsoft.activity.message",
      value: `You approved ${requestId}; I'm opening it now.`,
    });
    const notice = await connector.waitFor(
      (sent) =>
        sent.conversationId === conversationOf(sam) &&
        String(sent.body.text ?? "").includes(`${requestId} is open for 203.0.113.7`),
    );
    expect(String(notice.body.text)).toContain("`ssh ");
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(true);
    expect(await probe("198.51.100.99", "web-01", 22)).toBe(false);
    expect(await initiateCalls()).toBe(before + 1);

    const policy = await fetch(`${simulator}/_sim/probe?source=203.0.113.7&vm=web-01&port=22`).then(
      (r) => r.json() as Promise<{ rule?: string }>,
    );
    expect(policy.rule).toMatch(/^SecurityCenter-JITRule-/);
    const end = /until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC/.exec(String(notice.body.text))?.[1];
    expect(end).toBeDefined();
    const minutesAhead = (Date.parse(`${end?.replace(" ", "T")}:00Z`) - Date.now()) / 60_000;
    expect(minutesAhead).toBeGreaterThan(55);
    expect(minutesAhead).toBeLessThanOrEqual(60);
  });

  it("replaces the approver's card: no buttons after the decision, and it ends up saying Active", async () => {
    const updates = () =>
      connector.sent.filter(
        (sent) =>
          sent.method === "PUT" &&
          sent.conversationId === conversationOf(alice) &&
          JSON.stringify(sent.body).includes(requestId),
      );
    await connector.waitFor(
      (sent) => updates().includes(sent) && JSON.stringify(sent.body).includes("Active"),
    );
    for (const update of updates()) expect(JSON.stringify(update.body)).not.toContain("portcullis.approve");
    expect(JSON.stringify(updates().at(-1)?.body)).toContain("Active");
  });

  it("answers a second click with who decided, and initiates nothing more", async () => {
    const before = await initiateCalls();
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => click(alice, "portcullis.approve", { requestId })),
    );
    for (const answer of answers) expect(JSON.stringify(answer)).toContain("already approved by");
    expect(await initiateCalls()).toBe(before);
  });

  it("shows up in status with time left", async () => {
    const text = await say(sam, "status");
    expect(text).toContain(requestId);
    expect(text).toContain("left");
  });
});

describe("a denied request", () => {
  it("needs a reason, then tells the requester why and opens nothing", async () => {
    const reply = await say(sam, "ssh web-02 from 203.0.113.8 for 30m because deploy");
    const requestId = requestIdIn(reply);
    const noReason = await click(alice, "portcullis.deny", { requestId, denyReason: "  " });
    expect(JSON.stringify(noReason)).toContain("needs a reason");
    await click(alice, "portcullis.deny", { requestId, denyReason: "use the bastion" });
    const notice = await connector.waitFor(
      (sent) =>
        sent.conversationId === conversationOf(sam) &&
        String(sent.body.text ?? "").includes(`${requestId} was denied`),
    );
    expect(String(notice.body.text)).toContain("use the bastion");
    expect(await probe("203.0.113.8", "web-02", 22)).toBe(false);
  });
});

describe("a card click Teams delivers twice (same activity id)", () => {
  it("is handled once: one decision, one notice", async () => {
    await say(alice, "help");
    const reply = await say(sam, "ssh web-02 from 203.0.113.9 for 30m because duplicate");
    const requestId = requestIdIn(reply);
    const activity = activityFrom(alice, {
      type: "invoke",
      name: "adaptiveCard/action",
      replyToId: "card",
      value: {
        action: { type: "Action.Execute", verb: "portcullis.deny", data: { requestId, denyReason: "twice" } },
        trigger: "manual",
      },
    });
    const deliver = () =>
      fetch(`${bot.url}/api/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(activity),
      });
    const first = await deliver();
    const second = await deliver();
    expect(first.status).toBe(200);
    expect(JSON.stringify(await first.json())).toMatch(new RegExp(`You denied ${requestId}|"${requestId}"`));
    // The repeat is answered (Teams would show a failed card otherwise) but not handled again.
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual({
      statusCode: 200,
      type: "application/vnd.microsoft.activity.message",
      value: "Already handled.",
    });
    await connector.waitFor(
      (sent) =>
        sent.conversationId === conversationOf(sam) &&
        String(sent.body.text ?? "").includes(`${requestId} was denied`),
    );
    // A later, distinct message is answered: by then a second handling would have told sam again.
    await say(sam, "status");
    const notices = connector.sent.filter((sent) =>
      String(sent.body.text ?? "").includes(`${requestId} was denied`),
    );
    expect(notices).toHaveLength(1);
    // The decision's outcome is the same either way (a second handling would be refused as
    // already decided), so the bot's own word is the evidence that the repeat was not handled.
    const ignored = bot
      .output()
      .split("\n")
      .filter((line) => line.includes("duplicate delivery ignored") && line.includes(String(activity.id)));
    expect(ignored).toHaveLength(1);
  });
});
