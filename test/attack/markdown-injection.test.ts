/**
 * Attack cases, issue 10 item 8: text someone typed (a reason, a deny reason, a flag note, a name)
 * reached the security channel, the requester and the auditor as live Teams Markdown, so
 * `[Re-authenticate](https://evil.example/sso)` arrived as a link called "Re-authenticate". Each
 * case reads what the Teams adapter puts on the wire (toActivity for notices, teamsText for replies).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { breakGlass, reviewBreakGlass } from "../../src/app/break-glass.ts";
import { code, md, plain, trustedMarkup } from "../../src/app/chat-text.ts";
import type { ChatUser } from "../../src/app/context.ts";
import { decide } from "../../src/app/decide.ts";
import { armWeeklyDigest, auditReport } from "../../src/app/evidence.ts";
import { approvalForPolicy, showPolicy } from "../../src/app/fleet.ts";
import { status } from "../../src/app/my-requests.ts";
import type { OutboundMessage } from "../../src/app/ports.ts";
import { requestAccess } from "../../src/app/request-access.ts";
import { escapeMarkdown } from "../../src/chat/markdown.ts";
import { policyText } from "../../src/chat/replies.ts";
import { toActivity } from "../../src/chat/teams/teams-notifier.ts";
import { teamsText } from "../../src/chat/teams/teams-text.ts";
import { type BreakGlassCommand, parseCommand, type RequestCommand } from "../../src/domain/commands.ts";
import { alice, type Harness, olive, sam, startHarness } from "../support/app-harness.ts";

const LINK = "[Re-authenticate](https://evil.example/sso)";
/** The same characters, shown literally: no `[text](url)` left for Markdown to read as a link. */
const SHOWN = "\\[Re-authenticate\\](https://evil.example/sso)";
const HOUR = 60 * 60_000;

const sec: ChatUser = {
  id: "aad-sec",
  upn: "sec@contoso.com",
  name: "Security",
  conversationKey: "user:aad-sec",
};

function parsed<K extends "request" | "break_glass">(kind: K, text: string) {
  const result = parseCommand(text);
  if (!result.ok || result.command.kind !== kind) throw new Error(`not ${kind}: ${text}`);
  return result.command as K extends "request" ? RequestCommand : BreakGlassCommand;
}

/** The Markdown text of what went to `to`, as the Teams adapter renders it. */
function wire(message: OutboundMessage): string {
  return String(toActivity(message).text ?? "");
}

describe("the Teams render step", () => {
  it("keeps the bot's own links and bold, and shows someone else's link literally", () => {
    const text = md`**Runbook:** [the runbook](https://wiki.example.com/rb). Note from ${"Mallory"}: ${LINK}`;
    expect(teamsText(text)).toBe(
      `**Runbook:** [the runbook](https://wiki.example.com/rb). Note from Mallory: ${SHOWN}`,
    );
  });

  it.each([
    ["image (a tracking pixel)", "![x](https://evil.example/p.png)", "!\\[x\\](https://evil.example/p.png)"],
    ["bold and italics", "**URGENT** _now_", "\\*\\*URGENT\\*\\* \\_now\\_"],
    ["code and strike", "`rm -rf` ~~ok~~", "\\`rm -rf\\` \\~\\~ok\\~\\~"],
    ["an HTML link", '<a href="https://evil.example">SSO</a>', '‹a href="https://evil.example"›SSO‹/a›'],
    ["a mention", "<at>Security</at>", "‹at›Security‹/at›"],
    ["an entity", "&lt;b&gt;", "\\&lt;b\\&gt;"],
    ["a backslash", "a\\[b]", "a\\\\\\[b\\]"],
    [
      "a line break that would start a fake line",
      "ok\n\n**Approved by security**",
      "ok  \\*\\*Approved by security\\*\\*",
    ],
  ])("%s in someone's text → literal", (_what, input, expected) => {
    expect(teamsText(md`note: ${input}`)).toBe(`note: ${expected}`);
  });

  it("someone's text at the start of a line cannot open a heading, a list or a numbered list", () => {
    expect(teamsText(md`${"# Approved"}`)).toBe("\\# Approved");
    expect(teamsText(md`x\n${"- item"}`)).toBe("x\n\\- item");
    expect(teamsText(md`x\n${"   1. first"}`)).toBe("x\n1\\. first");
    // Mid-line the same characters are harmless and stay as typed.
    expect(teamsText(md`R-1 on ${"web-01"} for ${"INC-9 #4211"}`)).toBe("R-1 on web-01 for INC-9 #4211");
  });

  it("a code span outlasts the backticks inside it", () => {
    expect(teamsText(code("echo `id`"))).toBe("`` echo `id` ``");
    expect(teamsText(md`run ${code('az rest --body \'{"j":"INC`9"}\'')}`)).toBe(
      'run ``az rest --body \'{"j":"INC`9"}\'``',
    );
  });

  it("plain() and trustedMarkup() say which is which", () => {
    expect(teamsText(plain("**x**"))).toBe("\\*\\*x\\*\\*");
    expect(teamsText(trustedMarkup("**x**"))).toBe("**x**");
    expect(escapeMarkdown("[a](b)")).toBe("\\[a\\](b)");
  });
});

describe("requester text reaching other people (harness, real use cases)", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  const toSecurity = () =>
    h.notifier.sent.filter((entry) => entry.to === "conversation:security" && entry.message.kind === "text");

  it("a flag note with a link reaches the security channel as text, not a link", async () => {
    const reply = await breakGlass(
      h.app,
      olive,
      parsed("break_glass", "break-glass web-01 INC-9 from 203.0.113.7 db down"),
    );
    const id = /R-\d+/.exec(teamsText(reply))?.[0] ?? "";
    await reviewBreakGlass(h.app, alice, id, "flag", LINK);
    const flagged = toSecurity().map((entry) => wire(entry.message));
    expect(flagged).toContain(
      `⚑ ${id} (break-glass by Olive Oncall on web-01 port 22, INC-9) was flagged by Alice Owner: ${SHOWN}`,
    );
    expect(flagged.join("\n")).not.toContain(LINK);
  });

  it("a deny reason with a link reaches the requester as text", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      parsed("request", "ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const id = asked.requestId ?? "";
    await decide(h.app, alice, id, "deny", LINK);
    const toSam = h.notifier.sent
      .filter((entry) => entry.to === "user:sam@contoso.com" && entry.message.kind === "text")
      .map((entry) => wire(entry.message));
    expect(toSam).toEqual([`${id} was denied by Alice Owner: ${SHOWN}. Nothing was opened.`]);
  });

  it("a requester's name with a link is text in the approver's answer", async () => {
    const mallory: ChatUser = { ...sam, name: LINK };
    const asked = await requestAccess(
      h.app,
      mallory,
      parsed("request", "ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const result = await decide(h.app, alice, asked.requestId ?? "", "deny", "no");
    expect(teamsText(result.message)).toBe(`You denied ${asked.requestId}; ${SHOWN} has been told.`);
  });

  it("a requester's name and incident with links are text in an approver's `status`", async () => {
    const mallory: ChatUser = { ...sam, name: LINK };
    const asked = await requestAccess(
      h.app,
      mallory,
      parsed("request", "ssh web-01 from 203.0.113.7 for 1h because INC-1"),
    );
    const shown = teamsText(await status(h.app, alice));
    expect(shown).toContain(`- ${asked.requestId} from ${SHOWN}: web-01 port 22`);
    expect(shown).not.toContain(LINK);
    expect(shown).toContain("**Waiting for your decision (1)**");
  });

  it("a request reason with a link is text in the auditor's `audit` reply", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      parsed("request", `ssh web-01 from 203.0.113.7 for 1h because ${LINK}`),
    );
    await decide(
      h.app,
      alice,
      asked.requestId ?? "",
      "deny",
      "**Approved** by [security](https://evil.example/ok)",
    );
    const report = teamsText(await auditReport(h.app, sec, { sinceMs: 7 * 24 * HOUR }));
    expect(report).toContain(
      `- ${asked.requestId} sam@contoso.com → web-01:22 from 203.0.113.7 for 1 h; denied by Alice Owner (alice@contoso.com): \\*\\*Approved\\*\\* by \\[security\\](https://evil.example/ok); denied “${SHOWN}”`,
    );
    // The bot's own headings still render.
    expect(report).toContain("**All requests**\n- ");
    expect(report).not.toContain(LINK);
    expect(report).not.toContain("[security](");
  });

  it("`policy` shows an open grant's justification (the requester's reason, from Azure) as text", async () => {
    const asked = await requestAccess(
      h.app,
      sam,
      parsed("request", `ssh web-01 from 203.0.113.7 for 1h because ${LINK}`),
    );
    await decide(h.app, alice, asked.requestId ?? "", "approve");
    await h.settle();
    const view = await showPolicy(h.app.gateway, h.app.clock, "web-01");
    const shown = teamsText(policyText(view, await approvalForPolicy(h.app, view.vm)));
    expect(shown).toContain(SHOWN);
    expect(shown).not.toContain(LINK);
    expect(shown).toMatch(/^\*\*web-01\*\* — /);
  });

  it("the review escalation and the weekly digest carry the incident reason and flag note as text", async () => {
    const reply = await breakGlass(
      h.app,
      olive,
      parsed("break_glass", `break-glass web-01 INC-9 from 203.0.113.7 ${LINK}`),
    );
    const id = /R-\d+/.exec(teamsText(reply))?.[0] ?? "";
    h.clock.advance(5 * HOUR);
    await h.settle();
    const escalation = toSecurity()
      .map((entry) => wire(entry.message))
      .find((text) => text.startsWith("⚠ Nobody reviewed"));
    expect(escalation).toBe(
      `⚠ Nobody reviewed the break-glass ${id} by Olive Oncall on web-01 port 22 (INC-9: ${SHOWN}) in time. The security team owns the review now.`,
    );
    // A late review is still taken; flagging tells the security channel too.
    expect((await reviewBreakGlass(h.app, alice, id, "flag", `see ${LINK}`)).outcome).toBe("decided");
    await armWeeklyDigest(h.app);
    // Harness time starts Tuesday 2026-11-24 09:00 UTC; the digest goes out Monday 08:00 UTC.
    h.clock.advance(6 * 24 * HOUR);
    await h.settle();
    const digest = toSecurity()
      .map((entry) => wire(entry.message))
      .find((text) => text.startsWith("**Weekly JIT evidence**"));
    expect(digest).toContain(`review flagged by Alice Owner (alice@contoso.com): see ${SHOWN}`);
    expect(digest).toContain("**Flagged break-glass reviews (1)**");
    expect(digest).not.toContain(LINK);
  });
});
