/**
 * The one-time address link end to end: bot processes over HTTP, the fake Bot Framework connector,
 * and the ARM simulator's NSG probe. Two bots: one as `npm start` runs (local mode, embedded
 * simulator: the demo), one in local mode against an external simulator (not the demo), where
 * 127.0.0.2 plays a trusted reverse proxy and the tests' own 127.0.0.1 an untrusted client.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";
import { type BotProcess, freePort, startBotProcess } from "../support/bot-process.ts";
import { type FakeConnector, type FakeMember, startFakeConnector } from "../support/fake-connector.ts";
import { launchChromium } from "../support/playground.ts";
import { clickActivity, conversationOf, invoke, members, say } from "../support/teams-client.ts";

const { sam, alice } = members;

let connector: FakeConnector;
let demo: BotProcess;
let demoSimulator: string;
let deployed: BotProcess;
let externalSimulator: RunningSimulator;
const dataDirs: string[] = [];

beforeAll(async () => {
  connector = await startFakeConnector([sam, alice]);
  const simulatorPort = await freePort();
  demoSimulator = `http://127.0.0.1:${simulatorPort}`;
  externalSimulator = await startSimulator({ port: 0 });
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "portcullis-link-"));
    dataDirs.push(dir);
    return dir;
  };
  [demo, deployed] = await Promise.all([
    startBotProcess({ DATA_DIR: dataDir(), SIMULATOR_PORT: String(simulatorPort) }),
    startBotProcess({
      DATA_DIR: dataDir(),
      AZURE_ARM_ENDPOINT: externalSimulator.url,
      TRUSTED_PROXIES: "127.0.0.2",
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([demo?.stop(), deployed?.stop()]);
  await externalSimulator?.close();
  await connector?.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP exchange from a chosen local address (127.0.0.1 or the "proxy" 127.0.0.2). */
function send(
  url: string,
  options: {
    readonly from?: string;
    readonly method?: "GET" | "POST";
    readonly headers?: Record<string, string>;
    readonly body?: string;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      {
        localAddress: options.from ?? "127.0.0.1",
        method: options.method ?? "GET",
        headers: options.headers ?? {},
      },
      (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => {
          body += chunk.toString("utf8");
        });
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    request.on("error", reject);
    request.end(options.body);
  });
}

/** Asks for access without `from` and returns the link, pointed at the bot's real address. */
async function linkFor(
  bot: BotProcess,
  user: FakeMember,
  text: string,
): Promise<{ url: string; requestId: string }> {
  const reply = await say(bot.url, connector, user, text);
  const link = /(http:\/\/\S+\/ip\/[A-Za-z0-9_-]+)/.exec(reply)?.[1];
  const requestId = /\bR-\d+\b/.exec(reply)?.[0];
  if (link === undefined || requestId === undefined) throw new Error(`no link in: ${reply}`);
  return { url: link.replace(/^http:\/\/localhost:\d+/, bot.url), requestId };
}

function hiddenField(html: string, name: string): string | undefined {
  return new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(html)?.[1];
}

/** Posts the page's own form back, as the browser does on Confirm. */
function confirm(
  bot: BotProcess,
  page: string,
  options: { readonly from?: string; readonly headers?: Record<string, string> } = {},
): Promise<Answer> {
  const form = new URLSearchParams({
    token: hiddenField(page, "token") ?? "",
    address: hiddenField(page, "address") ?? "",
  });
  return send(`${bot.url}/ip/confirm`, {
    method: "POST",
    ...(options.from ? { from: options.from } : {}),
    headers: { "content-type": "application/x-www-form-urlencoded", origin: bot.url, ...options.headers },
    body: form.toString(),
  });
}

function textsTo(user: FakeMember): string[] {
  return connector.sent
    .filter((sent) => sent.conversationId === conversationOf(user))
    .map((sent) => String(sent.body.text ?? ""));
}

async function told(user: FakeMember, fragment: string): Promise<string> {
  const sent = await connector.waitFor(
    (activity) =>
      activity.conversationId === conversationOf(user) && String(activity.body.text ?? "").includes(fragment),
  );
  return String(sent.body.text);
}

async function probe(simulator: string, source: string, vm: string, port: number): Promise<boolean> {
  const response = await fetch(`${simulator}/_sim/probe?source=${source}&vm=${vm}&port=${port}`);
  return ((await response.json()) as { allowed: boolean }).allowed;
}

describe("the address link, opened", () => {
  it("shows the request, who asked and the address it would record, and records nothing — however often", async () => {
    const { url, requestId } = await linkFor(deployed, sam, "rdp app-02 for 30m because patching");
    const first = await send(url, {
      from: "127.0.0.2",
      headers: { "x-forwarded-for": "10.9.9.9, 203.0.113.50" },
    });
    const second = await send(url, { from: "127.0.0.2", headers: { "x-forwarded-for": "203.0.113.50" } });
    for (const page of [first, second]) {
      expect(page.status).toBe(200);
      expect(page.body).toContain(requestId);
      expect(page.body).toContain("app-02, port 3389");
      expect(page.body).toContain("Sam Engineer (sam@contoso.com)");
      expect(page.body).toContain("Address that will be recorded");
      expect(page.body).toContain("203.0.113.50");
      expect(page.body).toContain('<form method="post" action="confirm">');
      expect(page.body).not.toContain("Local demo only");
    }
    expect(first.headers["x-frame-options"]).toBe("DENY");
    expect(first.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(first.headers["content-security-policy"]).toContain("form-action 'self'");
    expect(first.headers["cache-control"]).toBe("no-store");
    expect(first.headers["referrer-policy"]).toBe("same-origin");
    expect(textsTo(sam).some((text) => text.includes(`for ${requestId} from the link`))).toBe(false);

    const recorded = await confirm(deployed, second.body, {
      from: "127.0.0.2",
      headers: { "x-forwarded-for": "203.0.113.50" },
    });
    expect(recorded.status).toBe(200);
    expect(recorded.body).toContain("Address recorded");
    expect(recorded.headers.location).toBeUndefined();
    await told(sam, `I recorded **203.0.113.50** for ${requestId} from the link.`);

    const reopened = await send(url, { from: "127.0.0.2", headers: { "x-forwarded-for": "203.0.113.50" } });
    expect(reopened.status).toBe(410);
    expect(reopened.body).toContain("Link already used");
    expect(reopened.body).not.toContain("<form");
    const reposted = await confirm(deployed, second.body, {
      from: "127.0.0.2",
      headers: { "x-forwarded-for": "203.0.113.51" },
    });
    expect(reposted.status).toBe(410);
    expect(reposted.body).toContain("Link already used");
  });

  it("answers an unknown token with a clear page on GET and on POST", async () => {
    const opened = await send(`${deployed.url}/ip/not-a-token`);
    expect(opened.status).toBe(404);
    expect(opened.body).toContain("Unknown link");
    const posted = await confirm(deployed, '<input type="hidden" name="token" value="not-a-token">');
    expect(posted.status).toBe(404);
    expect(posted.body).toContain("Unknown link");
  });

  it("refuses a confirmation posted from another site, and the link still works", async () => {
    const { url, requestId } = await linkFor(deployed, sam, "ssh web-01 for 30m because cross-site");
    const proxied = { "x-forwarded-for": "203.0.113.60" };
    const page = await send(url, { from: "127.0.0.2", headers: proxied });
    expect(page.status).toBe(200);
    for (const foreign of [
      { origin: "https://evil.example" },
      { origin: "null" },
      { origin: deployed.url, "sec-fetch-site": "cross-site" },
      { referer: "https://evil.example/page" },
    ]) {
      const headers: Record<string, string> = { ...proxied, ...foreign };
      if (!("origin" in foreign)) headers.origin = "";
      const refused = await send(`${deployed.url}/ip/confirm`, {
        from: "127.0.0.2",
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== "")),
        },
        body: new URLSearchParams({ token: hiddenField(page.body, "token") ?? "" }).toString(),
      });
      expect(refused.status, JSON.stringify(foreign)).toBe(403);
      expect(refused.body).toContain("did not come from the Portcullis page");
    }
    const again = await send(url, { from: "127.0.0.2", headers: proxied });
    expect(again.status).toBe(200);
    expect(textsTo(sam).some((text) => text.includes(`for ${requestId} from the link`))).toBe(false);

    // The bot's PUBLIC_BASE_URL (http://localhost:<port>) is our origin too, as is the Host it was reached at.
    const recorded = await confirm(deployed, again.body, {
      from: "127.0.0.2",
      headers: { ...proxied, origin: `http://localhost:${deployed.port}` },
    });
    expect(recorded.status).toBe(200);
  });

  it("refuses a form too large, or not a form, without using the link", async () => {
    const { url } = await linkFor(deployed, sam, "ssh web-02 for 30m because big");
    const proxied = { "x-forwarded-for": "203.0.113.61" };
    const page = await send(url, { from: "127.0.0.2", headers: proxied });
    const token = hiddenField(page.body, "token") ?? "";
    const big = await send(`${deployed.url}/ip/confirm`, {
      from: "127.0.0.2",
      method: "POST",
      headers: { ...proxied, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token, padding: "x".repeat(5000) }).toString(),
    });
    expect(big.status).toBe(413);
    const streamed = await send(`${deployed.url}/ip/confirm`, {
      from: "127.0.0.2",
      method: "POST",
      headers: {
        ...proxied,
        "content-type": "application/x-www-form-urlencoded",
        "transfer-encoding": "chunked",
      },
      body: new URLSearchParams({ token, padding: "x".repeat(50_000) }).toString(),
    });
    expect(streamed.status).toBe(413);
    const json = await send(`${deployed.url}/ip/confirm`, {
      from: "127.0.0.2",
      method: "POST",
      headers: { ...proxied, "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    expect(json.status).toBe(415);
    expect((await send(url, { from: "127.0.0.2", headers: proxied })).status).toBe(200);
  });

  it("asks again when the confirmation comes from another address than the page showed", async () => {
    const { url } = await linkFor(deployed, sam, "ssh sftp-01 for 30m because moved");
    const page = await send(url, { from: "127.0.0.2", headers: { "x-forwarded-for": "203.0.113.62" } });
    const moved = await confirm(deployed, page.body, {
      from: "127.0.0.2",
      headers: { "x-forwarded-for": "203.0.113.63" },
    });
    expect(moved.status).toBe(409);
    expect(moved.body).toContain("Your address changed");
    expect(hiddenField(moved.body, "address")).toBe("203.0.113.63");
    const recorded = await confirm(deployed, moved.body, {
      from: "127.0.0.2",
      headers: { "x-forwarded-for": "203.0.113.63" },
    });
    expect(recorded.status).toBe(200);
    expect(recorded.body).toContain("203.0.113.63");
  });
});

describe("the address link from a loopback peer, outside the local demo", () => {
  it("is refused with advice that does not point back at the link, and the requester is told in chat", async () => {
    const { url, requestId } = await linkFor(deployed, sam, "rdp app-01 for 30m because loopback");
    // An untrusted peer's X-Forwarded-For is never believed: the bot sees 127.0.0.1.
    const refused = await send(url, { from: "127.0.0.1", headers: { "x-forwarded-for": "203.0.113.66" } });
    expect(refused.status).toBe(403);
    expect(refused.body).toContain("127.0.0.1");
    expect(refused.body).toContain("loopback");
    expect(refused.body).not.toContain("203.0.113.66");
    expect(refused.body).not.toContain("<form");
    expect(refused.body).toContain("TRUSTED_PROXIES");
    expect(refused.body).not.toContain("Local demo only");

    const notice = await told(sam, `The address link for ${requestId} was opened from **127.0.0.1**`);
    expect(notice).toContain("loopback");
    expect(notice).toContain("Nothing was recorded");
    expect(notice).toContain(`cancel ${requestId}`);

    // Nothing was used up: from the right place the link still works.
    const page = await send(url, { from: "127.0.0.2", headers: { "x-forwarded-for": "203.0.113.67" } });
    expect(page.status).toBe(200);
  });
});

describe("the address link in the local demo (`npm start`)", () => {
  it("offers a documentation address for this machine, says it is the demo only, and confirming records it", async () => {
    await say(demo.url, connector, alice, "help");
    const { url, requestId } = await linkFor(demo, sam, "ssh web-01 for 1h because demo");
    const page = await send(url, { from: "127.0.0.1" });
    expect(page.status).toBe(200);
    expect(page.body).toContain("Local demo only");
    expect(page.body).toContain("127.0.0.1");
    expect(hiddenField(page.body, "address")).toBe("203.0.113.7");

    const recorded = await confirm(demo, page.body);
    expect(recorded.status).toBe(200);
    expect(recorded.body).toContain("203.0.113.7");
    await told(sam, `I recorded **203.0.113.7** (the demo's stand-in for 127.0.0.1) for ${requestId}`);

    const answer = await invoke(
      demo.url,
      clickActivity(connector, alice, "portcullis.approve", { requestId }),
    );
    expect(answer.status).toBe(200);
    await told(sam, `${requestId} is open for 203.0.113.7`);
    expect(await probe(demoSimulator, "203.0.113.7", "web-01", 22)).toBe(true);
  });

  it("picks a stand-in the VM's rule allows (db-01 port 22 allows only 198.51.100.0/24)", async () => {
    const { url } = await linkFor(demo, sam, "ssh db-01 for 30m because demo");
    const page = await send(url, { from: "127.0.0.1" });
    expect(page.status).toBe(200);
    expect(hiddenField(page.body, "address")).toBe("198.51.100.7");
  });

  describe("in a real browser on the same machine", () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it("opens the page and records the address when the button is clicked", async () => {
      const { url, requestId } = await linkFor(demo, sam, "rdp app-02 for 30m because browser");
      const tab = await browser.newPage();
      await tab.goto(url);
      await tab.getByRole("button", { name: `Record 203.0.113.7 for ${requestId}` }).click();
      await tab
        .getByRole("heading", { name: `Address recorded for ${requestId}` })
        .waitFor({ timeout: 10_000 });
      await told(sam, `I recorded **203.0.113.7** (the demo's stand-in for 127.0.0.1) for ${requestId}`);
      await tab.close();
    });
  });
});
