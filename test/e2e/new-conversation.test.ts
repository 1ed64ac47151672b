/**
 * An approver the bot has never talked to, known by Entra object id (the jit-approvers tag and the
 * rules file allow object ids): the bot opens a 1:1 conversation through the connector
 * (createConversation, in the requester's tenant) and delivers the card there.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type BotProcess, startBotProcess } from "../support/bot-process.ts";
import { type FakeConnector, startFakeConnector } from "../support/fake-connector.ts";

const OWNER_OBJECT_ID = "0b1c2d3e-4f50-4617-8899-aabbccddeeff";
const sam = {
  id: "29:sam",
  aadObjectId: "aad-sam",
  name: "Sam Engineer",
  userPrincipalName: "sam@contoso.com",
};

let connector: FakeConnector;
let bot: BotProcess;
let dir: string;

beforeAll(async () => {
  connector = await startFakeConnector([sam]);
  dir = mkdtempSync(join(tmpdir(), "portcullis-newconv-"));
  const rules = join(dir, "rules.json");
  writeFileSync(
    rules,
    JSON.stringify({ scopes: [{ resourceGroup: "rg-web", approvers: [OWNER_OBJECT_ID] }] }),
  );
  bot = await startBotProcess({ DATA_DIR: dir, RULES_FILE: rules });
});

afterAll(async () => {
  await bot?.stop();
  await connector?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("opens a 1:1 conversation with an approver known only by object id and sends the card there", async () => {
  const activity = {
    type: "message",
    id: "m-1",
    text: "ssh web-01 from 203.0.113.7 for 30m because deploy",
    channelId: "msteams",
    serviceUrl: connector.url,
    from: { id: sam.id, aadObjectId: sam.aadObjectId, name: sam.name },
    recipient: { id: "28:portcullis", name: "Portcullis" },
    conversation: { id: "a:personal-sam", conversationType: "personal", tenantId: "tenant-1" },
  };
  const response = await fetch(`${bot.url}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(activity),
  });
  expect(response.status).toBeLessThan(300);
  const reply = await connector.waitFor((sent) => sent.body.replyToId === "m-1");
  const requestId = /R-\d+/.exec(String(reply.body.text))?.[0] ?? "missing";
  expect(String(reply.body.text)).toContain(`sent to ${OWNER_OBJECT_ID}`);
  const card = await connector.waitFor(
    (sent) =>
      sent.conversationId !== "a:personal-sam" &&
      JSON.stringify(sent.body.attachments ?? []).includes(`"${requestId}"`),
  );
  // The conversation the connector created for the bot, not one the test made up.
  expect(card.conversationId).toMatch(/^a:[0-9a-f-]{36}$/);
});
