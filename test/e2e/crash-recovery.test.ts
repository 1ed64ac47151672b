/**
 * A bot killed with SIGKILL at each dangerous point and started again loses nothing and grants
 * nothing twice (issue 4, "Crashes and replicas"). Real `node src/main.ts` processes on the
 * embedded database (PGlite in a temp DATA_DIR — the default deployment, one process at a time,
 * so it also shows PGlite coming back after an unclean stop), an external ARM simulator in this
 * process that outlives the bot, and a fake Teams connector that can hold a send to stop the bot
 * mid-step. Short timer settings make the restarted process reclaim the dead one's work at once.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RequestRecord } from "../../src/app/request-record.ts";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";
import { createStore, openPglite, openStore } from "../../src/store/index.ts";
import { type BotProcess, repoRoot, startBotProcess } from "../support/bot-process.ts";
import { type FakeConnector, type FakeMember, startFakeConnector } from "../support/fake-connector.ts";
import { clickActivity, conversationOf, invoke, members, requestIdIn, say } from "../support/teams-client.ts";

const { sam, alice } = members;

const SOURCE = "203.0.113.7";

let simulator: RunningSimulator;
let connector: FakeConnector;
let dataDir: string;
let bot: BotProcess | undefined;

interface LoggedCall {
  readonly method: string;
  readonly path: string;
  readonly status?: number;
}

async function simulatorLog(pathIncludes: string): Promise<LoggedCall[]> {
  const response = await fetch(
    `${simulator.url}/_sim/requests?pathIncludes=${encodeURIComponent(pathIncludes)}`,
  );
  return ((await response.json()) as { value: LoggedCall[] }).value;
}

async function initiatePosts(): Promise<LoggedCall[]> {
  return (await simulatorLog("/initiate")).filter((call) => call.method === "POST");
}

async function fault(body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${simulator.url}/_sim/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
}

async function probe(): Promise<boolean> {
  const response = await fetch(`${simulator.url}/_sim/probe?source=${SOURCE}&vm=web-01&port=22`);
  return ((await response.json()) as { allowed: boolean }).allowed;
}

/** JIT requests Azure holds for web-01's policy that carry this Portcullis request id, with their port status. */
async function azureHistory(requestId: string): Promise<string[]> {
  const fleet = (await (await fetch(`${simulator.url}/_sim/fleet`)).json()) as { subscriptionId: string };
  const url = `${simulator.url}/subscriptions/${fleet.subscriptionId}/resourceGroups/rg-web/providers/Microsoft.Security/jitNetworkAccessPolicies?api-version=2020-01-01`;
  const response = await fetch(url, { headers: { authorization: "Bearer test" } });
  const body = (await response.json()) as {
    value: {
      properties: {
        requests?: { justification?: string; virtualMachines: { ports: { status: string }[] }[] }[];
      };
    }[];
  };
  return body.value
    .flatMap((policy) => policy.properties.requests ?? [])
    .filter((request) => request.justification?.includes(requestId))
    .flatMap((request) => request.virtualMachines.flatMap((vm) => vm.ports.map((port) => port.status)));
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function textsTo(user: FakeMember, includes: string): string[] {
  return connector.sent
    .filter((sent) => sent.conversationId === conversationOf(user) && sent.method === "POST")
    .map((sent) => String(sent.body.text ?? ""))
    .filter((text) => text.includes(includes));
}

async function startBot(env: Record<string, string> = {}): Promise<BotProcess> {
  bot = await startBotProcess({
    DATA_DIR: dataDir,
    AZURE_ARM_ENDPOINT: simulator.url,
    TIMER_LEASE: "2s",
    TIMER_POLL_INTERVAL: "PT0.2S",
    ...env,
  });
  return bot;
}

async function kill(): Promise<void> {
  await bot?.stop("SIGKILL");
  bot = undefined;
}

/** The request as the store holds it, read after the bot has stopped (PGlite is one process at a time). */
async function storedAfterStop(requestId: string): Promise<{
  readonly state: string | undefined;
  readonly timers: { key: string; state: string; due_at: Date }[];
  readonly events: string[];
}> {
  await bot?.stop();
  bot = undefined;
  const sql = await openPglite({ dataDir: join(dataDir, "pglite") });
  const store = createStore(sql);
  try {
    const stored = await store.requests.get<RequestRecord>(requestId);
    const events = await store.audit.list({ requestId });
    const timers = await sql.query<{ key: string; state: string; due_at: Date }>(
      "SELECT key, state, due_at FROM timers WHERE payload->>'requestId' = $1 ORDER BY key",
      [requestId],
    );
    return { state: stored?.data.request.state, timers, events: events.map((event) => event.type) };
  } finally {
    await store.close();
  }
}

/** sam asks for web-01, alice (an owner) has talked to the bot; returns the request id. */
async function askForWeb01(running: BotProcess): Promise<string> {
  await say(running.url, connector, alice, "help");
  const reply = await say(running.url, connector, sam, `ssh web-01 from ${SOURCE} for 1h because INC-77`);
  expect(reply).toContain("is waiting for 1 approval");
  return requestIdIn(reply);
}

async function approve(running: BotProcess, requestId: string): Promise<void> {
  const answer = await invoke(
    running.url,
    clickActivity(connector, alice, "portcullis.approve", { requestId }),
  );
  expect(answer.status).toBe(200);
  expect(JSON.stringify(answer.body)).toContain(`You approved ${requestId}`);
}

function grantNotice(requestId: string): Promise<unknown> {
  return connector.waitFor(
    (sent) =>
      sent.conversationId === conversationOf(sam) &&
      String(sent.body.text ?? "").includes(`${requestId} is open for ${SOURCE}`),
    30_000,
  );
}

let template: string;

beforeAll(async () => {
  simulator = await startSimulator({ port: 0 });
  connector = await startFakeConnector([sam, alice]);
  // Creating an embedded database takes seconds; each test starts from a copy of a migrated one.
  template = mkdtempSync(join(tmpdir(), "portcullis-crash-template-"));
  const store = await openStore({ dataDir: join(template, "pglite") });
  await store.close();
});

afterAll(async () => {
  await connector?.close();
  await simulator?.close();
  if (template) rmSync(template, { recursive: true, force: true });
});

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-crash-"));
  cpSync(template, dataDir, { recursive: true });
  await fetch(`${simulator.url}/_sim/reset`, { method: "POST" });
  connector.sent.length = 0;
});

afterEach(async () => {
  await bot?.stop("SIGKILL");
  bot = undefined;
  rmSync(dataDir, { recursive: true, force: true });
});

describe("a bot killed with SIGKILL and started again", () => {
  it("before initiating (stuck reading the JIT policy): grants once after the restart", {
    timeout: 90_000,
  }, async () => {
    const first = await startBot();
    const requestId = await askForWeb01(first);
    // The grant re-reads the JIT policy before initiating; that read hangs, and the bot dies there.
    await fault({
      match: { method: "GET", pathIncludes: "/locations/" },
      kind: "latency",
      latencyMs: 20_000,
    });
    await approve(first, requestId);
    await until("the grant to read the history", async () =>
      (await simulatorLog("/locations/")).some((call) => call.method === "GET") ? true : undefined,
    );
    await kill();
    expect(await initiatePosts()).toHaveLength(0);

    await startBot();
    await grantNotice(requestId);
    expect(await initiatePosts()).toHaveLength(1);
    expect(await probe()).toBe(true);
    const after = await storedAfterStop(requestId);
    expect(after.state).toBe("active");
    expect(after.events.filter((type) => type === "request.activated")).toHaveLength(1);
  });

  it("with the initiate in flight, which Azure completes after the bot died: finds it, initiates nothing more", {
    timeout: 90_000,
  }, async () => {
    const first = await startBot();
    const requestId = await askForWeb01(first);
    await fault({
      match: { method: "POST", pathIncludes: "/initiate" },
      kind: "latency",
      latencyMs: 1_500,
      when: "before",
    });
    await approve(first, requestId);
    await until("the initiate to reach Azure", async () =>
      (await initiatePosts()).length > 0 ? true : undefined,
    );
    await kill();
    // Azure goes on with the request it received; the client is gone.
    await until("Azure to complete the initiate", async () =>
      (await initiatePosts()).some((call) => call.status === 202) ? true : undefined,
    );

    await startBot();
    await grantNotice(requestId);
    expect(await initiatePosts()).toHaveLength(1);
    expect(await azureHistory(requestId)).toEqual(["Initiated"]);
    expect(await probe()).toBe(true);
    const after = await storedAfterStop(requestId);
    expect(after.state).toBe("active");
    expect(after.events.filter((type) => type === "request.activated")).toHaveLength(1);
  });

  it("between Azure recording the initiate and the bot recording it: exactly one initiate", {
    timeout: 90_000,
  }, async () => {
    const first = await startBot();
    const requestId = await askForWeb01(first);
    // Azure records the initiate at once; its answer is late, and the bot dies waiting for it.
    await fault({
      match: { method: "POST", pathIncludes: "/initiate" },
      kind: "latency",
      latencyMs: 20_000,
      when: "after",
    });
    await approve(first, requestId);
    await until("Azure to record the initiate", async () =>
      (await initiatePosts()).some((call) => call.status === 202) ? true : undefined,
    );
    expect(await probe()).toBe(true);
    await kill();

    await startBot();
    await grantNotice(requestId);
    expect(await initiatePosts()).toHaveLength(1);
    expect(await azureHistory(requestId)).toEqual(["Initiated"]);
    const after = await storedAfterStop(requestId);
    expect(after.state).toBe("active");
    expect(after.events.filter((type) => type === "request.activated")).toHaveLength(1);
  });

  it("while firing the grant timer after recording the grant: the window's timers and the notice still come", {
    timeout: 90_000,
  }, async () => {
    const first = await startBot();
    const requestId = await askForWeb01(first);
    // The grant timer has recorded `active` and is replacing the approver's card when the bot dies.
    const held = connector.hold(
      (sent) =>
        sent.method === "PUT" &&
        sent.conversationId === conversationOf(alice) &&
        JSON.stringify(sent.body).includes(requestId) &&
        !JSON.stringify(sent.body).includes("waiting to open"),
    );
    await approve(first, requestId);
    await held.held;
    await kill();
    held.release();
    expect(textsTo(sam, `${requestId} is open`)).toHaveLength(0);

    await startBot();
    await grantNotice(requestId);
    expect(await initiatePosts()).toHaveLength(1);
    const after = await storedAfterStop(requestId);
    expect(after.state).toBe("active");
    const expiry = after.timers.find((timer) => timer.key === `expiry:${requestId}`);
    expect(expiry?.state).toBe("pending");
    expect(after.timers.find((timer) => timer.key === `closure-check:${requestId}`)?.state).toBe("pending");
    expect(textsTo(sam, `${requestId} is open`)).toHaveLength(1);
  });

  it("while firing an approval time-out: after the restart it fires (late) and the requester is told once", {
    timeout: 90_000,
  }, async () => {
    const rules = JSON.parse(readFileSync(join(repoRoot, "env/rules.json"), "utf8")) as {
      defaults: Record<string, unknown>;
    };
    rules.defaults.approvalTimeout = "4s";
    const rulesFile = join(dataDir, "rules.json");
    writeFileSync(rulesFile, JSON.stringify(rules));
    const first = await startBot({ RULES_FILE: rulesFile });
    // The time-out has recorded `timed_out` and is replacing the approver's card when the bot dies.
    const held = connector.hold(
      (sent) =>
        sent.method === "PUT" &&
        sent.conversationId === conversationOf(alice) &&
        /timed out/i.test(JSON.stringify(sent.body)),
    );
    const requestId = await askForWeb01(first);
    await held.held;
    await kill();
    held.release();
    expect(textsTo(sam, `${requestId} timed out`)).toHaveLength(0);

    await startBot({ RULES_FILE: rulesFile });
    await connector.waitFor(
      (sent) =>
        sent.conversationId === conversationOf(sam) &&
        String(sent.body.text ?? "").includes(`${requestId} timed out`),
      30_000,
    );
    const after = await storedAfterStop(requestId);
    expect(after.state).toBe("timed_out");
    expect(after.events.filter((type) => type === "request.timed_out")).toHaveLength(1);
    expect(after.timers.find((timer) => timer.key === `approval-timeout:${requestId}`)?.state).toBe("done");
    expect(textsTo(sam, `${requestId} timed out`)).toHaveLength(1);
  });
});
