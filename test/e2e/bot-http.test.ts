/**
 * End to end: the bot as a real process (`node src/main.ts`, embedded simulator and database),
 * spoken to over HTTP like Teams does, replying through a fake Bot Framework connector.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

  it("reports store and ARM health", async () => {
    const health = await fetch(`${bot.url}/healthz`);
    if (health.status !== 200) console.log(bot.output().slice(-3000));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", store: "ok", arm: "ok" });
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
