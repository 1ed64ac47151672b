/**
 * Issue 9, item 13 end to end: a reviewer the bot could not reach installs Portcullis. Teams then
 * sends conversationUpdate, installationUpdate and the first message at once, here spread over two
 * bot processes on one PostgreSQL, each seeing a conversation it has not stored yet. Every card
 * they are owed — the pending approval and the break-glass review — arrives exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BotProcess, startBotProcess } from "../support/bot-process.ts";
import { type FakeConnector, type FakeMember, startFakeConnector } from "../support/fake-connector.ts";
import {
  dropSchema,
  postgresUrl,
  randomSchema,
  redacted,
  requirePostgres,
  skipPostgres,
} from "../support/postgres.ts";
import { activityFrom, conversationOf, members, requestIdIn, say } from "../support/teams-client.ts";

const { sam, alice } = members;
// On the roster in env/rules.json (defaults.breakGlass.users).
const olive: FakeMember = {
  id: "29:olive",
  aadObjectId: "aad-olive",
  name: "Olive Oncall",
  userPrincipalName: "olive@contoso.com",
};

function post(botUrl: string, activity: Record<string, unknown>): Promise<Response> {
  return fetch(`${botUrl}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(activity),
  });
}

if (skipPostgres) {
  describe.skip("first contact on two bot processes — SKIPPED because PORTCULLIS_SKIP_POSTGRES=1", () => {
    it("needs a PostgreSQL server", () => {});
  });
} else {
  describe(`first contact on two bot processes (${redacted(postgresUrl)})`, () => {
    let connector: FakeConnector;
    let bots: BotProcess[] = [];
    const schema = randomSchema();

    beforeAll(async () => {
      await requirePostgres();
      // A member lookup takes as long as in Teams, so every install activity finds no stored conversation.
      connector = await startFakeConnector([sam, alice, olive], { memberLookupDelayMs: 400 });
      const started = await Promise.allSettled(
        [0, 1].map(() =>
          startBotProcess({
            DATABASE_URL: postgresUrl,
            DATABASE_SCHEMA: schema,
            TIMER_POLL_INTERVAL: "PT0.2S",
          }),
        ),
      );
      for (const result of started) if (result.status === "fulfilled") bots.push(result.value);
      for (const result of started) if (result.status === "rejected") throw result.reason;
    }, 120_000);

    afterAll(async () => {
      await Promise.all(bots.map((bot) => bot.stop()));
      bots = [];
      await connector?.close();
      await dropSchema(schema);
    });

    it("the approval card and the break-glass review card each arrive once", {
      timeout: 90_000,
    }, async () => {
      const [one, two] = bots;
      if (!one || !two) throw new Error("two bots expected");
      const asked = await say(one.url, connector, sam, "ssh web-01 from 203.0.113.7 for 1h because INC-1");
      const requestId = requestIdIn(asked);
      expect(asked).toContain("couldn't reach");
      const broke = await say(two.url, connector, olive, "break-glass web-02 INC-9 from 203.0.113.8 db down");
      const breakGlassId = requestIdIn(broke);
      expect(broke).toMatch(
        /I could not reach [^;]*alice@contoso\.com[^;]*; they get the review card when they first message me/,
      );

      const cardsFor = (id: string) =>
        connector.sent.filter(
          (sent) =>
            sent.method === "POST" &&
            sent.conversationId === conversationOf(alice) &&
            JSON.stringify(sent.body.attachments ?? []).includes(`"${id}"`),
        );
      // The first card on its way is held: whoever else thinks it is first has time to send its own.
      const held = connector.hold(
        (sent) =>
          sent.conversationId === conversationOf(alice) &&
          JSON.stringify(sent.body.attachments ?? []).includes("R-"),
      );
      const install = [
        post(
          one.url,
          activityFrom(connector, alice, {
            type: "conversationUpdate",
            membersAdded: [{ id: alice.id, aadObjectId: alice.aadObjectId }],
          }),
        ),
        post(two.url, activityFrom(connector, alice, { type: "installationUpdate", action: "add" })),
        post(two.url, activityFrom(connector, alice, { type: "message", text: "status" })),
      ];
      await held.held;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      held.release();
      for (const response of await Promise.all(install)) expect(response.status).toBeLessThan(300);
      await connector.waitFor(() => cardsFor(requestId).length > 0 && cardsFor(breakGlassId).length > 0);
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      expect(cardsFor(requestId)).toHaveLength(1);
      expect(cardsFor(breakGlassId)).toHaveLength(1);

      // Her status lists both: the decision and the review she owes.
      const status = await say(one.url, connector, alice, "status");
      expect(status).toContain(`**Waiting for your decision (1)**\n- ${requestId} from Sam Engineer`);
      expect(status).toContain(`**Break-glass reviews you owe (1)**`);
      expect(status).toContain(`- ${breakGlassId} break-glass by Olive Oncall (INC-9)`);
    });
  });
}
