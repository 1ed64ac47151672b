/**
 * The real Microsoft 365 Agents Playground in a real (headless) Chromium, talking to the real bot
 * process: what a newcomer sees after `npm start`. Screenshots go to test-results/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BotProcess, freePort, repoRoot, startBotProcess } from "../support/bot-process.ts";
import {
  adaptiveCard,
  launchChromium,
  type RunningPlayground,
  sendInPlayground,
  startPlayground,
} from "../support/playground.ts";

const artifacts = resolve(repoRoot, "test-results");

let bot: BotProcess;
let simulator: string;
let playground: RunningPlayground;
let browser: Browser;
let page: Page;
let dataDir: string;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-playground-"));
  const simulatorPort = await freePort();
  simulator = `http://127.0.0.1:${simulatorPort}`;
  bot = await startBotProcess({ DATA_DIR: dataDir, SIMULATOR_PORT: String(simulatorPort) });
  playground = await startPlayground(bot.url);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(playground.url);
});

afterAll(async () => {
  await browser?.close();
  await playground?.stop();
  await bot?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function send(text: string): Promise<void> {
  await sendInPlayground(page, text);
}

describe("the Agents Playground in Chromium", () => {
  it("types `vms` and sees the simulated fleet with states and reasons", async () => {
    const fleet = JSON.parse(readFileSync(join(repoRoot, "env/fleet.json"), "utf8")) as {
      virtualMachines: { name: string }[];
    };
    await send("vms");
    const reply = page.locator("text=VMs I can see").last();
    await reply.waitFor({ timeout: 20_000 });
    const body = await page.locator("body").innerText();
    for (const vm of fleet.virtualMachines) expect(body).toContain(vm.name);
    expect(body).toContain("classic (Azure Service Manager) VM");
    await page.screenshot({ path: join(artifacts, "playground-vms.png"), fullPage: true });
  });

  it("types `policy web-02` and sees the rules the simulator serves", async () => {
    const fleet = JSON.parse(readFileSync(join(repoRoot, "env/fleet.json"), "utf8")) as {
      jitPolicies: {
        virtualMachines: {
          vm: string;
          ports: { allowedSourceAddressPrefix?: string; allowedSourceAddressPrefixes?: string[] }[];
        }[];
      }[];
    };
    const rule = fleet.jitPolicies
      .flatMap((policy) => policy.virtualMachines)
      .find((entry) => entry.vm === "web-02")?.ports[0];
    const prefix = rule?.allowedSourceAddressPrefix ?? rule?.allowedSourceAddressPrefixes?.[0];
    expect(prefix).toBeDefined();
    await send("policy web-02");
    await page.locator(`text=from ${prefix}`).last().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: join(artifacts, "playground-policy.png"), fullPage: true });
  });

  describe("with the approver in a second Playground", () => {
    // The Playground seats one user and cannot switch; Alice (a web-01 approver in env/fleet.json)
    // gets her own Playground on the same bot, as she would have her own Teams client.
    let alicePlayground: RunningPlayground;
    let alice: Page;

    beforeAll(async () => {
      alicePlayground = await startPlayground(bot.url, { as: "alice@contoso.com" });
      alice = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    });

    afterAll(async () => {
      await alice?.close();
      await alicePlayground?.stop();
    });

    async function probe(source: string): Promise<boolean> {
      const response = await fetch(`${simulator}/_sim/probe?source=${source}&vm=web-01&port=22`);
      return ((await response.json()) as { allowed: boolean }).allowed;
    }

    it("Sam asks for web-01, Alice approves on the card, the card says Active and Sam is told it is open", {
      timeout: 120_000,
    }, async () => {
      // Alice adds the bot: her Playground sends installationUpdate/conversationUpdate, the bot
      // keeps her conversation reference and welcomes her. Only then can it send her a card.
      await alice.goto(alicePlayground.url);
      await alice.getByText("Alice Owner").first().waitFor({ timeout: 20_000 });
      await alice.getByText("opens SSH/RDP ports on Azure VMs").first().waitFor({ timeout: 20_000 });
      expect(await probe("203.0.113.7")).toBe(false);

      await send("ssh web-01 from 203.0.113.7 for 1h because playground demo");
      const waiting = page.getByText(/R-\d+ is waiting for 1 approval/).last();
      await waiting.waitFor({ timeout: 20_000 });
      const requestId = /R-\d+/.exec(await waiting.innerText())?.[0];
      if (!requestId) throw new Error("no request id in Sam's reply");
      expect(await waiting.innerText()).toContain("sent to alice@contoso.com");

      // The card reaches Alice proactively (continueConversation to her seat's serviceUrl).
      const card = adaptiveCard(alice, requestId);
      await card.waitFor({ timeout: 20_000 });
      const pending = await card.innerText();
      expect(pending).toContain("Sam Engineer (sam@contoso.com)");
      expect(pending).toContain("203.0.113.7");
      expect(pending).toMatch(/Waiting for approval \(0 of 1\)/);
      await card.scrollIntoViewIfNeeded();
      await alice.screenshot({ path: join(artifacts, "playground-approval-card.png") });

      // Approve: the Playground sends the adaptiveCard/action invoke (Action.Execute) from Alice.
      await card.getByRole("button", { name: "Approve" }).click();
      await card.getByText(/Active — open until \d{4}-\d\d-\d\d \d\d:\d\d UTC/).waitFor({ timeout: 30_000 });
      expect(await card.getByRole("button").count()).toBe(0);
      expect(await card.innerText()).toContain("Approved by Alice Owner (alice@contoso.com)");
      await card.scrollIntoViewIfNeeded();
      await alice.screenshot({ path: join(artifacts, "playground-approved.png") });

      // Sam is told, in his own chat, what is open and until when.
      const open = page.getByText(new RegExp(`${requestId} is open for 203\\.0\\.113\\.7 until`)).last();
      await open.waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(artifacts, "playground-access-open.png") });

      // And the simulated NSG really lets that address — and only that one — reach port 22.
      expect(await probe("203.0.113.7")).toBe(true);
      expect(await probe("198.51.100.99")).toBe(false);
    });
  });
});
