/**
 * Issue 10, item 10: malformed activities at /api/messages, against the real bot process in local
 * mode. Each is refused with a 400 (or, for a non-loopback serviceUrl, a 403) and one warn line
 * without a stack, fast — before botbuilder sees it — and no turn runs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BotProcess, startBotProcess } from "../support/bot-process.ts";
import { type FakeConnector, startFakeConnector } from "../support/fake-connector.ts";

let connector: FakeConnector;
let bot: BotProcess;
let dataDir: string;
let sequence = 0;

beforeAll(async () => {
  connector = await startFakeConnector();
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-attack-"));
  bot = await startBotProcess({ DATA_DIR: dataDir });
}, 90_000);

afterAll(async () => {
  await bot?.stop();
  await connector?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function helpMessage(): Record<string, unknown> {
  const n = ++sequence;
  return {
    type: "message",
    id: `attack-${n}`,
    text: "help",
    channelId: "msteams",
    serviceUrl: connector.url,
    timestamp: new Date().toISOString(),
    from: { id: `29:user-${n}`, aadObjectId: `aad-user-${n}`, name: "Mallory" },
    recipient: { id: "28:portcullis", name: "Portcullis" },
    conversation: { id: `a:personal-${n}`, conversationType: "personal", tenantId: "tenant-1" },
  };
}

async function postRaw(body: string): Promise<{ status: number; ms: number; text: string }> {
  const started = Date.now();
  const response = await fetch(`${bot.url}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, text: await response.text(), ms: Date.now() - started };
}

const refusalLines = (): string[] =>
  bot
    .output()
    .split("\n")
    .filter((line) => line.includes("activity refused at /api/messages"));

async function logSettles(count: number): Promise<void> {
  for (let waited = 0; refusalLines().length < count && waited < 3_000; waited += 50)
    await new Promise((resolve) => setTimeout(resolve, 50));
}

type Mutation = readonly [name: string, mutate: (activity: Record<string, unknown>) => unknown];

const set =
  (field: string, value: unknown) =>
  (activity: Record<string, unknown>): unknown => ({ ...activity, [field]: value });
const without =
  (field: string) =>
  (activity: Record<string, unknown>): unknown => {
    const { [field]: _gone, ...rest } = activity;
    return rest;
  };
const nested =
  (field: string, inner: string, value: unknown) =>
  (activity: Record<string, unknown>): unknown => ({
    ...activity,
    [field]: { ...(activity[field] as Record<string, unknown>), [inner]: value },
  });

/** Every one of these is refused with exactly 400. */
const malformed: Mutation[] = [
  ["type missing", without("type")],
  ["type numeric", set("type", 42)],
  ["type null", set("type", null)],
  ["type empty", set("type", "")],
  ["type an object", set("type", { message: true })],
  ["serviceUrl missing", without("serviceUrl")],
  ["serviceUrl numeric", set("serviceUrl", 7)],
  ["serviceUrl not a URL", set("serviceUrl", "not a url")],
  ["serviceUrl another scheme", set("serviceUrl", "file:///etc/passwd")],
  ["channelId missing", without("channelId")],
  ["from missing", without("from")],
  ["from a string", set("from", "mallory")],
  ["from.id numeric", nested("from", "id", 29)],
  ["recipient missing", without("recipient")],
  ["conversation missing", without("conversation")],
  ["conversation.id an array", nested("conversation", "id", ["a"])],
  ["conversation.tenantId numeric", nested("conversation", "tenantId", 1)],
  ["text numeric", set("text", 12345)],
  ["text an object", set("text", { toString: "x" })],
  ["timestamp not a date", set("timestamp", "yesterday-ish")],
  ["localTimezone not a zone", set("localTimezone", "Mars/Olympus_Mons")],
  ["channelData a string", set("channelData", "x")],
  ["entities an object", set("entities", { a: 1 })],
  ["attachments a number", set("attachments", 3)],
  ["membersAdded with a member without id", set("membersAdded", [{ name: "x" }])],
  ["the body an array", (activity) => [activity]],
  ["the body a string", () => "message"],
  ["the body null", () => null],
];

describe("malformed activities (issue 10, item 10)", () => {
  it.each(malformed)("%s → 400 at once, one warn line, no stack, no turn", async (_name, mutate) => {
    const before = refusalLines().length;
    const from = bot.output().length;
    const sent = await postRaw(JSON.stringify(mutate(helpMessage())));
    expect(sent.status).toBe(400);
    expect(sent.ms).toBeLessThan(2_000);
    expect(JSON.parse(sent.text)).toMatchObject({
      error: expect.stringMatching(/^Not a Bot Framework activity: /),
    });
    await logSettles(before + 1);
    expect(refusalLines()).toHaveLength(before + 1);
    expect(refusalLines().at(-1)).toContain('"level":40');
    const written = bot.output().slice(from);
    expect(written).not.toMatch(/\n\s+at /);
    expect(written).not.toContain('"level":50');
  });

  it("JSON that does not parse → 400", async () => {
    expect((await postRaw('{"type": "message",')).status).toBe(400);
  });

  it("local mode replies only to loopback: a serviceUrl elsewhere → 403, nothing sent there, no turn", async () => {
    const before = refusalLines().length;
    const activity = { ...helpMessage(), serviceUrl: "https://smba.trafficmanager.net/emea/" };
    const sent = await postRaw(JSON.stringify(activity));
    expect(sent.status).toBe(403);
    expect(sent.ms).toBeLessThan(2_000);
    await logSettles(before + 1);
    expect(refusalLines().at(-1)).toContain("https://smba.trafficmanager.net is not loopback");
  });

  it("the well-formed original is still answered (the fake connector gets the reply)", async () => {
    const activity = helpMessage();
    const sent = await postRaw(JSON.stringify(activity));
    expect(sent.status).toBe(200);
    const reply = await connector.waitFor((posted) => posted.body.replyToId === activity.id);
    expect(String(reply.body.text)).toContain("`vms`");
  });

  it("no refused activity ran a turn: the connector heard only about the well-formed one", () => {
    expect(connector.sent).toHaveLength(1);
  });
});
