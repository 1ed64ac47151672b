/**
 * The one-time address link on the injected clock (the end-to-end file drives it over HTTP):
 * expiry on both GET and POST, and a break-glass link that opens nothing until confirmed.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as bgUseCase from "../../src/app/break-glass.ts";
import type { ChatUser } from "../../src/app/context.ts";
import { hashToken, requestAccess } from "../../src/app/request-access.ts";
import type { RequestRecord } from "../../src/app/request-record.ts";
import { confirmSourceLink, previewSourceLink } from "../../src/app/source-link.ts";
import { parseCommand } from "../../src/domain/commands.ts";
import { type Harness, markdownOf, sam, startHarness } from "../support/app-harness.ts";

const breakGlass = async (...args: Parameters<typeof bgUseCase.breakGlass>) =>
  markdownOf(await bgUseCase.breakGlass(...args));

const MINUTE = 60_000;
const fromInternet = { address: "203.0.113.50", forwardedFor: undefined };
// On the roster in env/rules.json (defaults.breakGlass.users).
const olive: ChatUser = {
  id: "aad-olive",
  upn: "olive@contoso.com",
  name: "Olive Oncall",
  conversationKey: "user:aad-olive",
};

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function stateOf(id: string): Promise<string | undefined> {
  return (await h.store.requests.get<RequestRecord>(id))?.data.request.state;
}

describe("the address link", () => {
  it("once expired, says so on GET and on POST, and records nothing", async () => {
    const parsed = parseCommand("rdp app-02 for 30m because patching");
    if (!parsed.ok || parsed.command.kind !== "request") throw new Error("not a request");
    const asked = await requestAccess(h.app, sam, parsed.command);
    const id = asked.requestId ?? "";
    // The harness's tokens count up: this request's link is the first.
    expect((await previewSourceLink(h.app, "token-1", fromInternet)).status).toBe(200);

    h.clock.advance(10 * MINUTE);
    const opened = await previewSourceLink(h.app, "token-1", fromInternet);
    const posted = await confirmSourceLink(h.app, "token-1", "203.0.113.50", fromInternet);
    for (const page of [opened, posted]) {
      expect(page.status).toBe(410);
      expect(page.title).toBe("Link expired");
      expect(page.confirm).toBeUndefined();
    }
    expect(await stateOf(id)).toBe("awaiting_source");
    expect(await h.store.sourceLinks.peek(hashToken("token-1"))).not.toHaveProperty("usedAt");
  });

  it("for break-glass opens nothing when opened, and opens the port when confirmed", async () => {
    const parsed = parseCommand("break-glass web-01 INC-9 database down");
    if (!parsed.ok || parsed.command.kind !== "break_glass") throw new Error("not break-glass");
    const reply = await breakGlass(h.app, olive, parsed.command);
    const id = /R-\d+/.exec(reply)?.[0] ?? "";
    expect(reply).toContain("/ip/token-1");

    const page = await previewSourceLink(h.app, "token-1", fromInternet);
    expect(page.confirm).toMatchObject({ requestId: id, breakGlass: true, address: "203.0.113.50" });
    await h.settle();
    expect(await stateOf(id)).toBe("awaiting_source");
    expect(await h.probe("203.0.113.50", "web-01", 22)).toBe(false);

    const done = await confirmSourceLink(h.app, "token-1", "203.0.113.50", fromInternet);
    expect(done.status).toBe(200);
    await h.settle();
    expect(await stateOf(id)).toBe("active");
    expect(await h.probe("203.0.113.50", "web-01", 22)).toBe(true);
  });
});
