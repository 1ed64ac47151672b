/**
 * The real Microsoft 365 Agents Playground in a real (headless) Chromium, talking to the real bot
 * process: what a newcomer sees after `npm start`. Screenshots go to test-results/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BotProcess, repoRoot, startBotProcess } from "../support/bot-process.ts";
import { launchChromium, type RunningPlayground, startPlayground } from "../support/playground.ts";

const artifacts = resolve(repoRoot, "test-results");

let bot: BotProcess;
let playground: RunningPlayground;
let browser: Browser;
let page: Page;
let dataDir: string;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), "portcullis-playground-"));
  bot = await startBotProcess({ DATA_DIR: dataDir });
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
  const box = page.getByRole("textbox");
  await box.click();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
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
});
