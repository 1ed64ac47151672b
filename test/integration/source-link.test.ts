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
import { type Harness, markdownOf, olive, sam, startHarness } from "../support/app-harness.ts";

const breakGlass = async (...args: Parameters<typeof bgUseCase.breakGlass>) =>
  markdownOf(await bgUseCase.breakGlass(...args));

const MINUTE = 60_000;
const fromInternet = { address: "203.0.113.50", forwardedFor: undefined };

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

describe("the link goes only to the requester's 1:1 chat (issue 10, item 1)", () => {
  const inChannel = (user: ChatUser): ChatUser => ({
    ...user,
    conversationKey: "conversation:19:ops@thread.tacv2",
  });
  const command = (text: string) => {
    const parsed = parseCommand(text);
    if (!parsed.ok || (parsed.command.kind !== "request" && parsed.command.kind !== "break_glass"))
      throw new Error(`not a request: ${text}`);
    return parsed.command;
  };

  it("asked in a channel: the channel hears only that a private link was sent; the link is in the 1:1 chat", async () => {
    const cmd = command("ssh web-01 for 30m because patching");
    if (cmd.kind !== "request") throw new Error("request expected");
    const asked = await requestAccess(h.app, inChannel(sam), cmd);
    expect(asked.reply).toContain("I've sent you a private link in our 1:1 chat");
    expect(asked.reply).not.toContain("/ip/");
    expect(h.notifier.sent.filter((sent) => sent.to.startsWith("conversation:"))).toEqual([]);
    const private1to1 = h.notifier.textsTo("sam@contoso.com").filter((text) => text.includes("/ip/token-1"));
    expect(private1to1).toHaveLength(1);
    expect(await stateOf(asked.requestId ?? "")).toBe("awaiting_source");
  });

  it("asked in a channel by someone the bot cannot reach privately: no link anywhere, the request is withdrawn, and they are told how to go on", async () => {
    h.notifier.unreachable.add("sam@contoso.com");
    const cmd = command("ssh web-01 for 30m because patching");
    if (cmd.kind !== "request") throw new Error("request expected");
    const asked = await requestAccess(h.app, inChannel(sam), cmd);
    expect(asked.reply).toContain("I could not reach you in a 1:1 chat");
    expect(asked.reply).toContain("`from <your public address>`");
    expect(asked.reply).not.toContain("/ip/");
    expect(h.notifier.sent.some((sent) => JSON.stringify(sent.message).includes("/ip/"))).toBe(false);
    expect(await stateOf(asked.requestId ?? "")).toBe("cancelled");
  });

  it("break-glass typed in a channel: the link goes to the on-call's 1:1 chat only", async () => {
    const cmd = command("break-glass web-01 INC-9 database down");
    if (cmd.kind !== "break_glass") throw new Error("break-glass expected");
    const reply = await breakGlass(h.app, inChannel(olive), cmd);
    expect(reply).toContain("I've sent you a private link in our 1:1 chat");
    expect(reply).not.toContain("/ip/");
    expect(h.notifier.textsTo("olive@contoso.com").some((text) => text.includes("/ip/token-1"))).toBe(true);
    expect(
      h.notifier.sent.some(
        (sent) => sent.to.startsWith("conversation:") && JSON.stringify(sent.message).includes("/ip/"),
      ),
    ).toBe(false);
  });
});
