/**
 * Issue 10, items 5 and 7, on real parts (store on PGlite, simulator through the SDK): every free
 * text a person types has the same 500-character limit, and text the database cannot store
 * (U+0000, a lone surrogate) is cleaned where it enters — never "Something went wrong".
 */
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { breakGlass, reviewBreakGlass } from "../../src/app/break-glass.ts";
import { plainTextOf } from "../../src/app/chat-text.ts";
import { decide } from "../../src/app/decide.ts";
import { requestAccess } from "../../src/app/request-access.ts";
import type { RequestRecord } from "../../src/app/request-record.ts";
import { parseCommand } from "../../src/domain/commands.ts";
import { MAX_FREE_TEXT_LENGTH } from "../../src/domain/free-text.ts";
import { alice, type Harness, olive, sam, startHarness } from "../support/app-harness.ts";

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

function findInput(node: unknown, id: string): unknown {
  if (Array.isArray(node)) return node.map((item) => findInput(item, id)).find(Boolean);
  if (typeof node !== "object" || node === null) return undefined;
  if ((node as { id?: unknown }).id === id) return node;
  return Object.values(node)
    .map((value) => findInput(value, id))
    .find(Boolean);
}

async function record(id: string): Promise<RequestRecord | undefined> {
  return (await h.store.requests.get<RequestRecord>(id))?.data;
}

async function asked(text: string): Promise<string> {
  const parsed = parseCommand(text);
  if (!parsed.ok || parsed.command.kind !== "request") throw new Error(`not a request: ${text}`);
  const reply = await requestAccess(h.app, sam, parsed.command);
  if (!reply.requestId) throw new Error(`not asked: ${reply.reply}`);
  return reply.requestId;
}

async function brokenGlass(text: string): Promise<string> {
  const parsed = parseCommand(text);
  if (!parsed.ok || parsed.command.kind !== "break_glass") throw new Error(`not break-glass: ${text}`);
  const reply = plainTextOf(await breakGlass(h.app, olive, parsed.command));
  const id = /R-\d+/.exec(reply)?.[0];
  if (!id) throw new Error(`no grant: ${reply}`);
  return id;
}

describe("item 5: deny reasons and flag notes have the request reason's limit", () => {
  it("a 300,000-character deny reason is refused, nothing is stored or sent; 500 is fine", async () => {
    const id = await asked("ssh web-01 from 203.0.113.7 for 1h because INC-1");
    const sent = h.notifier.sent.length;
    const result = await decide(h.app, alice, id, "deny", "x".repeat(300_000));
    expect(result).toMatchObject({
      outcome: "refused",
      message:
        "The deny reason is 300000 characters; keep it to 500 or fewer (a ticket id and a line is plenty).",
    });
    expect((await record(id))?.request.state).toBe("pending");
    expect((await h.store.audit.list({ requestId: id })).map((event) => event.type)).not.toContain(
      "request.denied",
    );
    expect(h.notifier.sent.length).toBe(sent);

    expect((await decide(h.app, alice, id, "deny", "y".repeat(501))).message).toBe(
      "The deny reason is 501 characters; keep it to 500 or fewer (a ticket id and a line is plenty).",
    );
    expect((await decide(h.app, alice, id, "deny", ` ${"z".repeat(500)} `)).outcome).toBe("decided");
    expect((await record(id))?.request.decisions[0]?.reason).toBe("z".repeat(500));
  });

  it("a 300,000-character flag note is refused and the review stays owed; the security channel hears nothing", async () => {
    const id = await brokenGlass("bg web-01 INC-9 from 203.0.113.7 db down");
    await h.settle();
    const result = await reviewBreakGlass(h.app, alice, id, "flag", "n".repeat(300_000));
    expect(result).toMatchObject({
      outcome: "refused",
      message:
        "The flag note is 300000 characters; keep it to 500 or fewer (a ticket id and a line is plenty).",
    });
    expect((await record(id))?.request.review?.state).toBe("required");
    expect(
      h.notifier.sent.filter(
        (entry) => entry.to === "conversation:security" && entry.message.kind === "text",
      ),
    ).toEqual([]);
  });

  it("the cards' inputs allow exactly the same length (one constant, checked here)", () => {
    for (const [file, input] of [
      ["approval.json", "denyReason"],
      ["break-glass.json", "flagNote"],
    ] as const) {
      const card = JSON.parse(
        readFileSync(new URL(`../../cards/${file}`, import.meta.url), "utf8"),
      ) as unknown;
      expect(findInput(card, input)).toMatchObject({ maxLength: MAX_FREE_TEXT_LENGTH, isRequired: true });
    }
  });
});

describe("item 7: text the database cannot store is cleaned where it enters", () => {
  it("a request reason with NUL and a lone surrogate is asked and stored cleaned", async () => {
    const id = await asked("ssh web-01 from 203.0.113.7 for 1h because INC-1\u0000 broken \ud83d emoji");
    expect((await record(id))?.request.reason).toBe("INC-1 broken \ufffd emoji");
  });

  it("a break-glass reason with NUL and a lone surrogate is granted and stored cleaned", async () => {
    const id = await brokenGlass("bg web-01 INC-9 from 203.0.113.7 db\u0000down \udc00");
    expect((await record(id))?.request.reason).toBe("db down \ufffd");
    await h.settle();
    expect((await record(id))?.request.state).toBe("active");
  });

  it("a deny reason with NUL and a lone surrogate denies, stores and tells the requester the cleaned text", async () => {
    const id = await asked("ssh web-01 from 203.0.113.7 for 1h because INC-1");
    const result = await decide(h.app, alice, id, "deny", "use\u0000the bastion \ud800");
    expect(result.outcome).toBe("decided");
    expect((await record(id))?.request.decisions[0]?.reason).toBe("use the bastion \ufffd");
    expect(h.notifier.textsTo("sam@contoso.com").join("\n")).toContain(
      `${id} was denied by Alice Owner: use the bastion \ufffd. Nothing was opened.`,
    );
  });

  it("a flag note with NUL and a lone surrogate flags, and the security channel gets the cleaned note", async () => {
    const id = await brokenGlass("bg web-01 INC-9 from 203.0.113.7 db down");
    await h.settle();
    const result = await reviewBreakGlass(h.app, alice, id, "flag", "no\u0000such incident \udfff");
    expect(result.outcome).toBe("decided");
    expect((await record(id))?.request.review?.note).toBe("no such incident \ufffd");
    const security = h.notifier.sent.flatMap((entry) =>
      entry.to === "conversation:security" && entry.message.kind === "text"
        ? [plainTextOf(entry.message.text)]
        : [],
    );
    expect(security.join("\n")).toContain("was flagged by Alice Owner: no such incident \ufffd");
  });

  it("a NUL-only deny reason is no reason", async () => {
    const id = await asked("ssh web-01 from 203.0.113.7 for 1h because INC-1");
    expect((await decide(h.app, alice, id, "deny", "\u0000\u0000")).message).toBe(
      `Denying ${id} needs a reason, so Sam Engineer knows why.`,
    );
  });
});
