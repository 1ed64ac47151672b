/**
 * Two bot processes on one PostgreSQL behave as one bot (DESIGN.md "Outside contract"; issue 4
 * "Crashes and replicas"): real `node src/main.ts` processes, one external ARM simulator they share,
 * a fake Teams connector, and the CI PostgreSQL with a fresh schema per test.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";
import { openStore, type PortcullisStore } from "../../src/store/index.ts";
import { type BotProcess, repoRoot, startBotProcess } from "../support/bot-process.ts";
import { type FakeConnector, type FakeMember, startFakeConnector } from "../support/fake-connector.ts";
import {
  dropSchema,
  postgresUrl,
  randomSchema,
  redacted,
  requirePostgres,
  skipPostgres,
  withAdmin,
} from "../support/postgres.ts";
import { clickActivity, conversationOf, invoke, members, requestIdIn, say } from "../support/teams-client.ts";

const { sam, alice } = members;

/** Four requesters (one holder per VM and port: only two of them can hold web-01 and web-02). */
const engineers: FakeMember[] = ["ann", "ben", "cat", "dan"].map((name) => ({
  id: `29:${name}`,
  aadObjectId: `aad-${name}`,
  name,
  userPrincipalName: `${name}@contoso.com`,
}));
/** On the break-glass roster in env/rules.json. */
const olive: FakeMember = {
  id: "29:olive",
  aadObjectId: "aad-olive",
  name: "Olive Oncall",
  userPrincipalName: "olive@contoso.com",
};

/** Approval timeout for the timer test: short, so the timers are due while the test watches. */
const APPROVAL_TIMEOUT = "6s";

let simulator: RunningSimulator;
let connector: FakeConnector;
let rulesDir: string;

async function initiatePosts(): Promise<number> {
  const response = await fetch(`${simulator.url}/_sim/requests?pathIncludes=/initiate`);
  const log = (await response.json()) as { value: { method: string }[] };
  return log.value.filter((entry) => entry.method === "POST").length;
}

async function probe(source: string, vm: string, port: number): Promise<boolean> {
  const response = await fetch(`${simulator.url}/_sim/probe?source=${source}&vm=${vm}&port=${port}`);
  return ((await response.json()) as { allowed: boolean }).allowed;
}

async function until<T>(
  what: () => string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function textsTo(user: FakeMember, includes: string): string[] {
  return connector.sent
    .filter((sent) => sent.conversationId === conversationOf(user) && sent.method === "POST")
    .map((sent) => String(sent.body.text ?? ""))
    .filter((text) => text.includes(includes));
}

if (skipPostgres) {
  describe.skip("two bot processes on one PostgreSQL — SKIPPED because PORTCULLIS_SKIP_POSTGRES=1", () => {
    it("needs a PostgreSQL server", () => {});
  });
} else {
  describe(`two bot processes on one PostgreSQL (${redacted(postgresUrl)})`, () => {
    let schema: string;
    let bots: BotProcess[] = [];
    let store: PortcullisStore | undefined;

    beforeAll(async () => {
      await requirePostgres();
      simulator = await startSimulator({ port: 0 });
      connector = await startFakeConnector([sam, alice, olive, ...engineers]);
      rulesDir = mkdtempSync(join(tmpdir(), "portcullis-replicas-"));
      const rules = JSON.parse(readFileSync(join(repoRoot, "env/rules.json"), "utf8")) as {
        defaults: Record<string, unknown>;
      };
      rules.defaults.approvalTimeout = APPROVAL_TIMEOUT;
      writeFileSync(join(rulesDir, "short-timeout.json"), JSON.stringify(rules));
    });

    afterAll(async () => {
      await connector?.close();
      await simulator?.close();
      if (rulesDir) rmSync(rulesDir, { recursive: true, force: true });
    });

    beforeEach(async () => {
      schema = randomSchema();
      await fetch(`${simulator.url}/_sim/reset`, { method: "POST" });
    });

    afterEach(async () => {
      await Promise.all(bots.map((bot) => bot.stop()));
      bots = [];
      await store?.close();
      store = undefined;
      await dropSchema(schema);
    });

    async function startBots(env: Record<string, string> = {}): Promise<BotProcess[]> {
      // Started together: both run the migrations on the fresh schema at once, as replicas do.
      const started = await Promise.allSettled(
        [0, 1].map(() =>
          startBotProcess({
            DATABASE_URL: postgresUrl,
            DATABASE_SCHEMA: schema,
            AZURE_ARM_ENDPOINT: simulator.url,
            TIMER_POLL_INTERVAL: "PT0.2S",
            ...env,
          }),
        ),
      );
      for (const result of started) if (result.status === "fulfilled") bots.push(result.value);
      for (const result of started) if (result.status === "rejected") throw result.reason;
      return bots;
    }

    /** The test's own view of the database the bots share. */
    async function sharedStore(): Promise<PortcullisStore> {
      store ??= await openStore({ databaseUrl: postgresUrl, schema });
      return store;
    }

    it("50 concurrent Approve clicks spread over both processes give exactly one initiate", {
      timeout: 90_000,
    }, async () => {
      const [one, two] = await startBots();
      if (!one || !two) throw new Error("two bots expected");
      await say(one.url, connector, alice, "help");
      const reply = await say(two.url, connector, sam, "ssh web-01 from 203.0.113.7 for 1h because INC-1");
      const requestId = requestIdIn(reply);

      const clicks = Array.from({ length: 50 }, (_, i) =>
        invoke(
          (i % 2 === 0 ? one : two).url,
          clickActivity(connector, alice, "portcullis.approve", { requestId }),
        ),
      );
      const answers = await Promise.all(clicks);

      for (const answer of answers) expect(answer.status).toBe(200);
      // The one click that decided says so (in words, or with the card); every other one says who decided first.
      const decided = answers.filter(
        (answer) =>
          answer.body?.type === "application/vnd.microsoft.card.adaptive" ||
          JSON.stringify(answer.body?.value ?? "").includes(`You approved ${requestId}`),
      );
      const already = answers.filter((answer) =>
        JSON.stringify(answer.body?.value ?? "").includes(
          `${requestId} was already approved by Alice Owner (alice@contoso.com)`,
        ),
      );
      expect(decided).toHaveLength(1);
      expect(already).toHaveLength(49);

      await connector.waitFor(
        (sent) =>
          sent.conversationId === conversationOf(sam) &&
          String(sent.body.text ?? "").includes(`${requestId} is open for 203.0.113.7`),
      );
      expect(await initiatePosts()).toBe(1);
      expect(await probe("203.0.113.7", "web-01", 22)).toBe(true);
      const stored = await (await sharedStore()).requests.get<{ request: { state: string } }>(requestId);
      expect(stored?.data.request.state).toBe("active");
      const events = await withAdmin((pool) =>
        pool.query<{ type: string; n: string }>(
          `SELECT type, count(*) AS n FROM "${schema}".audit_events WHERE request_id = $1 GROUP BY type`,
          [requestId],
        ),
      );
      const counts = Object.fromEntries(events.rows.map((row) => [row.type, Number(row.n)]));
      expect(counts["request.approved"]).toBe(1);
      expect(counts["request.activated"]).toBe(1);
    });

    it("a grant slower than the timer lease is not taken over by the other process", {
      timeout: 90_000,
    }, async () => {
      // The initiate takes 5 s; the lease is 2 s. Without the holder renewing its lease, the other
      // process would claim the grant timer, find nothing in Azure's history yet, and initiate again.
      const [one, two] = await startBots({ TIMER_LEASE: "2s" });
      if (!one || !two) throw new Error("two bots expected");
      await fetch(`${simulator.url}/_sim/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          match: { method: "POST", pathIncludes: "/initiate" },
          kind: "latency",
          latencyMs: 5_000,
        }),
      });
      await say(one.url, connector, alice, "help");
      const requestId = requestIdIn(
        await say(two.url, connector, sam, "ssh web-02 from 203.0.113.9 for 1h because INC-2"),
      );
      const answer = await invoke(
        one.url,
        clickActivity(connector, alice, "portcullis.approve", { requestId }),
      );
      expect(JSON.stringify(answer.body)).toContain(`You approved ${requestId}`);
      await connector.waitFor(
        (sent) =>
          sent.conversationId === conversationOf(sam) &&
          String(sent.body.text ?? "").includes(`${requestId} is open for 203.0.113.9`),
        30_000,
      );
      // The notice goes out inside the handler; the timer is completed just after it returns.
      const grant = await until(
        () => "the grant timer to complete",
        async () => {
          const rows = await withAdmin((pool) =>
            pool.query<{ state: string; attempts: number }>(
              `SELECT state, attempts FROM "${schema}".timers WHERE key = $1`,
              [`grant:${requestId}`],
            ),
          );
          return rows.rows.every((row) => row.state === "done") ? rows.rows : undefined;
        },
        15_000,
      );
      expect(grant).toEqual([{ state: "done", attempts: 1 }]);
      expect(await initiatePosts()).toBe(1);
    });

    it("every timer fires once: each of several timed-out requests gets one reminder and one notice", {
      timeout: 90_000,
    }, async () => {
      const [one, two] = await startBots({ RULES_FILE: join(rulesDir, "short-timeout.json") });
      if (!one || !two) throw new Error("two bots expected");
      await say(one.url, connector, alice, "help");
      const ids: string[] = [];
      const asked: { who: FakeMember; id: string }[] = [];
      // ann and ben hold web-01 and web-02 (asked through different processes); cat and dan,
      // asking for the same while those are pending, are refused with who holds them.
      for (const [i, who] of engineers.entries()) {
        const vm = i % 2 === 0 ? "web-01" : "web-02";
        const bot = i % 2 === 0 ? one : two;
        const reply = await say(
          bot.url,
          connector,
          who,
          `ssh ${vm} from 203.0.113.${20 + i} for 1h because T-${i}`,
        );
        if (i < 2) {
          expect(reply).toContain("is waiting for 1 approval");
          ids.push(requestIdIn(reply));
          asked.push({ who, id: requestIdIn(reply) });
        } else {
          const holder = engineers[i - 2];
          expect(reply).toContain(`${vm} port 22 is held by ${holder?.name}`);
        }
      }

      // Every timer of these requests done (fired and completed), none left pending or claimed.
      let last: unknown;
      const timers = await until(
        () => `the approval timers to fire: ${JSON.stringify(last)}`,
        async () => {
          const rows = await withAdmin((pool) =>
            pool.query<{ key: string; kind: string; state: string; attempts: number }>(
              `SELECT key, kind, state, attempts FROM "${schema}".timers WHERE kind IN ('approval-timeout', 'approval-reminder')`,
            ),
          );
          last = rows.rows;
          return rows.rows.length === ids.length * 2 && rows.rows.every((row) => row.state === "done")
            ? rows.rows
            : undefined;
        },
      );
      // Claimed once each: no timer was taken by both processes, or taken again after a lost lease.
      for (const timer of timers)
        expect({ key: timer.key, attempts: timer.attempts }).toEqual({ key: timer.key, attempts: 1 });

      for (const { who, id } of asked) {
        expect(textsTo(who, `${id} timed out`)).toHaveLength(1);
        expect(textsTo(alice, `Reminder: ${id} `)).toHaveLength(1);
      }
      const events = await withAdmin((pool) =>
        pool.query<{ request_id: string }>(
          `SELECT request_id FROM "${schema}".audit_events WHERE type = 'request.timed_out'`,
        ),
      );
      expect(events.rows.map((row) => row.request_id).sort()).toEqual([...ids].sort());
    });

    async function requestRows(): Promise<{ id: string; state: string; requester_id: string }[]> {
      const rows = await withAdmin((pool) =>
        pool.query<{ id: string; state: string; requester_id: string }>(
          `SELECT id, state, requester_id FROM "${schema}".access_requests ORDER BY id`,
        ),
      );
      return rows.rows;
    }

    it("8 identical requests at once over both processes make one request and one set of cards", {
      timeout: 90_000,
    }, async () => {
      const [one, two] = await startBots();
      if (!one || !two) throw new Error("two bots expected");
      await say(one.url, connector, alice, "help");
      const before = connector.sent.length;
      const replies = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          say(
            (i % 2 === 0 ? one : two).url,
            connector,
            sam,
            "ssh web-01 from 203.0.113.7 for 1h because INC-8",
          ),
        ),
      );
      const rows = await requestRows();
      expect(rows).toHaveLength(1);
      const id = rows[0]?.id ?? "";
      expect(replies.filter((reply) => reply.includes(`${id} is waiting for 1 approval`))).toHaveLength(1);
      expect(replies.filter((reply) => reply.includes(`You already have ${id}`))).toHaveLength(7);
      const cardsToAlice = connector.sent
        .slice(before)
        .filter(
          (sent) =>
            sent.method === "POST" && sent.conversationId === conversationOf(alice) && sent.body.attachments,
        );
      expect(cardsToAlice).toHaveLength(1);
      expect(JSON.stringify(cardsToAlice[0]?.body)).toContain(id);
    });

    it("two engineers asking for web-01 port 22 at once: one holds it, the other is told who; one initiate, probe only for the holder", {
      timeout: 90_000,
    }, async () => {
      const [one, two] = await startBots();
      if (!one || !two) throw new Error("two bots expected");
      await say(one.url, connector, alice, "help");
      const [ann, ben] = engineers;
      if (!ann || !ben) throw new Error("engineers expected");
      const [annReply, benReply] = await Promise.all([
        say(one.url, connector, ann, "ssh web-01 from 203.0.113.31 for 1h because INC-31"),
        say(two.url, connector, ben, "ssh web-01 from 203.0.113.32 for 1h because INC-32"),
      ]);
      const rows = await requestRows();
      expect(rows).toHaveLength(1);
      const [winner, loser, loserReply] =
        rows[0]?.requester_id === ann.aadObjectId ? [ann, ben, benReply] : [ben, ann, annReply];
      expect(
        [annReply, benReply].filter((reply) => reply.includes("is waiting for 1 approval")),
      ).toHaveLength(1);
      expect(loserReply).toContain(`web-01 port 22 is held by ${winner.name}`);
      const requestId = rows[0]?.id ?? "";
      const answer = await invoke(
        two.url,
        clickActivity(connector, alice, "portcullis.approve", { requestId }),
      );
      expect(JSON.stringify(answer.body)).toContain(`You approved ${requestId}`);
      const winnerAddress = winner === ann ? "203.0.113.31" : "203.0.113.32";
      const loserAddress = loser === ann ? "203.0.113.31" : "203.0.113.32";
      await connector.waitFor(
        (sent) =>
          sent.conversationId === conversationOf(winner) &&
          String(sent.body.text ?? "").includes(`${requestId} is open for ${winnerAddress}`),
      );
      expect(await initiatePosts()).toBe(1);
      expect(await probe(winnerAddress, "web-01", 22)).toBe(true);
      expect(await probe(loserAddress, "web-01", 22)).toBe(false);
      // Still refused while the window is open, now with until when.
      expect(
        await say(one.url, connector, loser, `ssh web-01 from ${loserAddress} for 1h because again`),
      ).toMatch(new RegExp(`web-01 port 22 is held by ${winner.name}.*${requestId} has it open until`));
    });

    it("8 break-glass requests at once by one on-call person: exactly 3 grants (3 per person per 24 h), 3 initiates", {
      timeout: 90_000,
    }, async () => {
      const [one, two] = await startBots();
      if (!one || !two) throw new Error("two bots expected");
      // Every JIT-configured VM the roster covers, and web-01 twice.
      const vms = ["web-01", "web-02", "app-01", "app-02", "sftp-01", "ops-01", "jump-01", "web-01"];
      const replies = await Promise.all(
        vms.map((vm, i) =>
          say(
            (i % 2 === 0 ? one : two).url,
            connector,
            olive,
            `break-glass ${vm} INC-${i} from 203.0.113.40 down`,
          ),
        ),
      );
      expect(replies.filter((reply) => reply.includes("BREAK-GLASS"))).toHaveLength(3);
      expect(
        replies.filter(
          (reply) =>
            reply.includes("You have broken glass 3 times in the last 24 h") ||
            /^You already have R-\d+ \(\w+\) for web-01 port 22/.test(reply),
        ),
      ).toHaveLength(5);
      expect(await requestRows()).toHaveLength(3);
      await until(
        () => "three initiates",
        async () => ((await initiatePosts()) === 3 ? true : undefined),
      );
      const refused = await withAdmin((pool) =>
        pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM "${schema}".audit_events WHERE type = 'break_glass.refused'`,
        ),
      );
      expect(Number(refused.rows[0]?.n)).toBe(5);
    });
  });
}
