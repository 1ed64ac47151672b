/**
 * Issue 10, items 4–7 over HTTP: the bot process, a fake connector and the embedded simulator.
 * What a Teams user (or anyone who can post an activity in local mode) types or clicks gets a
 * sentence, never "Something went wrong on my side".
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BotProcess, freePort, startBotProcess } from "../support/bot-process.ts";
import { type FakeConnector, type FakeMember, startFakeConnector } from "../support/fake-connector.ts";
import { clickActivity, conversationOf, invoke, members, requestIdIn, say } from "../support/teams-client.ts";

const { sam, alice } = members;
// The same person, with a display name the database cannot store as it is.
const samGarbled: FakeMember = { ...sam, name: "Sam\u0000Engineer \ud800" };
const WRONG = "Something went wrong";

let connector: FakeConnector;
let bot: BotProcess;
let dataDir: string;

beforeAll(async () => {
  connector = await startFakeConnector([sam, alice]);
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-attack-"));
  bot = await startBotProcess({ DATA_DIR: dataDir, SIMULATOR_PORT: String(await freePort()) });
});

afterAll(async () => {
  await bot?.stop();
  await connector?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function click(user: FakeMember, verb: string, data: Record<string, unknown>): Promise<string> {
  const answer = await invoke(bot.url, clickActivity(connector, user, verb, data));
  expect(answer.status).toBe(200);
  return JSON.stringify(answer.body);
}

describe("typed text", () => {
  it("a message over the length cap gets the cap's sentence", async () => {
    const text = `ssh ${"web-01 ".repeat(5000)}`;
    expect(await say(bot.url, connector, sam, text)).toBe(
      `That message is ${text.length} characters; I read commands of up to 4000. Put the details in a ticket and give its id with \`because\`.`,
    );
  });

  it("`extend R-1 99999999999h` is refused by the parser, and nothing is asked", async () => {
    const before = connector.sent.length;
    expect(await say(bot.url, connector, sam, "extend R-1 99999999999h")).toBe(
      '"99999999999h" is longer than any access window: Azure JIT opens a port for at most 24 h. Ask for less, and extend later if you need to.',
    );
    expect(connector.sent.length).toBe(before + 1);
  });

  it("NUL and a lone surrogate in a reason and in the display name: the request is asked", async () => {
    const reply = await say(
      bot.url,
      connector,
      samGarbled,
      "ssh web-02 from 203.0.113.20 for 30m because deploy\u0000now \udc00",
    );
    expect(reply).not.toContain(WRONG);
    expect(reply).toMatch(/R-\d+/);
  });
});

describe("card inputs", () => {
  it("a request id the database cannot store is no request id: a sentence, no query", async () => {
    for (const requestId of ["R-1\u0000", "R-\ud800", "R-1 OR 1=1", "x".repeat(100_000)]) {
      expect(await click(alice, "portcullis.deny", { requestId, denyReason: "no" })).toContain(
        "This card is missing its request id; ask the requester to send the request again.",
      );
      expect(await click(alice, "portcullis.review.flag", { requestId, flagNote: "no" })).toContain(
        "This card is missing its request id.",
      );
    }
  });

  it("a deny reason over 500 characters is refused on the card; NUL in one is cleaned and the denial goes through", async () => {
    const reply = await say(bot.url, connector, sam, "ssh web-02 from 203.0.113.21 for 30m because deploy");
    const requestId = requestIdIn(reply);
    expect(await click(alice, "portcullis.deny", { requestId, denyReason: "x".repeat(5000) })).toContain(
      "The deny reason is 5000 characters; keep it to 500 or fewer (a ticket id and a line is plenty).",
    );
    const denied = await click(alice, "portcullis.deny", { requestId, denyReason: "use\u0000the bastion" });
    expect(denied).not.toContain(WRONG);
    expect(denied).toContain(`You denied ${requestId}`);
    const notice = await connector.waitFor(
      (sent) =>
        sent.conversationId === conversationOf(sam) &&
        String(sent.body.text ?? "").includes(`${requestId} was denied`),
    );
    expect(String(notice.body.text)).toContain("use the bastion");
  });
});
