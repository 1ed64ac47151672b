/**
 * End to end: the bot as a real process (`node src/main.ts`, embedded simulator and database),
 * spoken to over HTTP like Teams does, replying through a fake Bot Framework connector.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";
import { openStore } from "../../src/store/index.ts";
import { type BotProcess, repoRoot, startBotProcess } from "../support/bot-process.ts";
import { type FakeConnector, startFakeConnector } from "../support/fake-connector.ts";

interface FleetFile {
  readonly virtualMachines: readonly { readonly name: string }[];
}

const engineer = {
  id: "29:engineer",
  aadObjectId: "aad-engineer",
  name: "Alex Wilber",
  userPrincipalName: "alexw@contoso.com",
};

let connector: FakeConnector;
let bot: BotProcess;
let dataDir: string;
let sequence = 0;

beforeAll(async () => {
  connector = await startFakeConnector([engineer]);
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-e2e-"));
  bot = await startBotProcess({ DATA_DIR: dataDir });
});

afterAll(async () => {
  await bot?.stop();
  await connector?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function say(text: string, overrides: Record<string, unknown> = {}): Promise<string> {
  const id = `activity-${++sequence}`;
  const conversationId = "a:personal-engineer";
  const response = await fetch(`${bot.url}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      type: "message",
      id,
      text,
      channelId: "msteams",
      serviceUrl: connector.url,
      timestamp: new Date().toISOString(),
      from: { id: engineer.id, aadObjectId: engineer.aadObjectId, name: engineer.name },
      recipient: { id: "28:portcullis", name: "Portcullis" },
      conversation: { id: conversationId, conversationType: "personal", tenantId: "tenant-1" },
      ...overrides,
    }),
  });
  expect(response.status).toBeLessThan(300);
  const reply = await connector.waitFor(
    (activity) => activity.body.replyToId === id && activity.body.type === "message",
  );
  return String(reply.body.text);
}

describe("the bot over HTTP", () => {
  it("answers `vms` with every VM in the simulator's fleet", async () => {
    const fleet = JSON.parse(readFileSync(join(repoRoot, "env/fleet.json"), "utf8")) as FleetFile;
    const text = await say("vms");
    expect(fleet.virtualMachines.length).toBeGreaterThanOrEqual(10);
    for (const vm of fleet.virtualMachines) expect(text).toContain(`\`${vm.name}\``);
    expect(text).toContain("JIT configured");
    expect(text).toContain("Not configured");
    expect(text).toContain("Unsupported");
  });

  it("answers an unknown word with the closest command, never silence", async () => {
    const text = await say("polciy web-01");
    expect(text).toContain("Did you mean `policy`?");
  });

  it("answers `help` with the grammar", async () => {
    const text = await say("help");
    expect(text).toContain("`policy ‹vm›`");
    expect(text).toContain("`vms`");
  });

  it("reports store and ARM health; /readyz agrees", async () => {
    const health = await fetch(`${bot.url}/healthz`);
    if (health.status !== 200) console.log(bot.output().slice(-3000));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({
      status: "ok",
      store: "ok",
      arm: "ok",
      armCheckedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    const ready = await fetch(`${bot.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it("handles an activity delivered twice only once", async () => {
    const id = "duplicate-delivery";
    const body = {
      type: "message",
      id,
      text: "help",
      channelId: "msteams",
      serviceUrl: connector.url,
      from: { id: engineer.id, aadObjectId: engineer.aadObjectId, name: engineer.name },
      recipient: { id: "28:portcullis", name: "Portcullis" },
      conversation: { id: "a:personal-engineer", conversationType: "personal", tenantId: "tenant-1" },
    };
    for (let i = 0; i < 2; i++) {
      await fetch(`${bot.url}/api/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    }
    await connector.waitFor((activity) => activity.body.replyToId === id);
    // A later, distinct message is answered: by then any second reply to the duplicate would have been sent.
    await say("vms");
    expect(connector.sent.filter((activity) => activity.body.replyToId === id)).toHaveLength(1);
  });

  // Last: it stops the bot, since the embedded database belongs to one process at a time.
  it("kept a conversation reference and the UPN of the user it heard from", async () => {
    await bot.stop();
    const store = await openStore({ dataDir: join(dataDir, "pglite") });
    try {
      const record = await store.conversations.get(`user:${engineer.aadObjectId}`);
      expect(record?.userPrincipalName).toBe(engineer.userPrincipalName);
      expect(record?.reference).toMatchObject({
        serviceUrl: connector.url,
        conversation: { id: "a:personal-engineer" },
      });
    } finally {
      await store.close();
    }
  });
});

describe("health while ARM throttles (issue 11, item 14)", () => {
  let sim: RunningSimulator;
  let throttled: BotProcess;
  let throttledData: string;
  const simControl = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${sim.url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    return response.status === 204 ? undefined : response.json();
  };
  const policyCalls = async (): Promise<number> =>
    (
      (await simControl("GET", "/_sim/requests?pathIncludes=/jitNetworkAccessPolicies")) as {
        value: unknown[];
      }
    ).value.length;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0 });
    // Every JIT policy read is throttled from the start, the SDK's retries included.
    await simControl("POST", "/_sim/faults", {
      kind: "429",
      retryAfterSeconds: 0,
      times: 100_000,
      match: { pathIncludes: "/jitNetworkAccessPolicies" },
    });
    throttledData = mkdtempSync(join(tmpdir(), "portcullis-e2e-"));
    throttled = await startBotProcess({
      DATA_DIR: throttledData,
      AZURE_ARM_ENDPOINT: sim.url,
      AZURE_SUBSCRIPTION_ID: sim.subscriptionId,
    });
  });
  afterAll(async () => {
    await throttled?.stop();
    await sim?.close();
    if (throttledData) rmSync(throttledData, { recursive: true, force: true });
  });

  it("/healthz stays 200 (liveness: process and store) and carries ARM's state as a detail; /readyz says 503", async () => {
    let body: Record<string, string> = {};
    for (let i = 0; i < 60 && !String(body.arm ?? "").includes("throttling"); i++) {
      const health = await fetch(`${throttled.url}/healthz`);
      expect(health.status).toBe(200);
      body = (await health.json()) as Record<string, string>;
      if (!String(body.arm).includes("throttling")) await new Promise((r) => setTimeout(r, 250));
    }
    expect(body).toMatchObject({ status: "ok", store: "ok" });
    expect(body.arm).toMatch(/^Azure is throttling the bot's requests/);
    const ready = await fetch(`${throttled.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: "unavailable", store: "ok" });
  });

  it("health probes do not hammer ARM: twenty probes within the cache's life add no ARM call", async () => {
    const before = await policyCalls();
    for (let i = 0; i < 20; i++) expect((await fetch(`${throttled.url}/healthz`)).status).toBe(200);
    expect(await policyCalls()).toBe(before);
  });
});
