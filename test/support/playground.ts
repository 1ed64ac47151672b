/**
 * The real Microsoft 365 Agents Playground (`agentsplayground`, offline) pointed at a bot, and
 * Debian's Chromium driven by playwright-core. The Playground sends no Bot Framework JWT, so the
 * bot must be in local mode.
 *
 * The Playground seats one user: `currentUser` in .m365agentsplayground.yml, with no way to switch
 * in its UI (the name top right is a label). Another person is another Playground — its own
 * config (`seatConfig`), its own port and so its own serviceUrl — pointed at the same bot, just as
 * each Teams user has their own client. The personal chat's id is the same in every seat; the bot
 * tells users apart by `from.aadObjectId` and reaches each one through the serviceUrl they came from.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { freePort, repoRoot } from "./bot-process.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const PLAYGROUND_CONFIG = resolve(repoRoot, ".m365agentsplayground.yml");

export interface RunningPlayground {
  readonly url: string;
  stop(): Promise<void>;
}

export interface PlaygroundOptions {
  /** Seat this user (a UPN from .m365agentsplayground.yml) instead of its `currentUser`. */
  readonly as?: string;
}

export async function startPlayground(
  botUrl: string,
  options: PlaygroundOptions = {},
): Promise<RunningPlayground> {
  const port = await freePort();
  // The Playground reads .m365agentsplayground.yml from its working directory, and nowhere else.
  const seatDir = options.as ? mkdtempSync(join(tmpdir(), "portcullis-seat-")) : undefined;
  if (seatDir && options.as) {
    writeFileSync(
      join(seatDir, ".m365agentsplayground.yml"),
      seatConfig(readFileSync(PLAYGROUND_CONFIG, "utf8"), options.as),
    );
  }
  const logName = options.as ? `playground-${options.as.replace(/@.*/, "")}.log` : "playground.log";
  const child: ChildProcess = spawn(
    process.execPath,
    [
      resolve(repoRoot, "node_modules/@microsoft/m365agentsplayground/cli.js"),
      "--app-endpoint",
      `${botUrl}/api/messages`,
      "--channel-id",
      "msteams",
      "--port",
      String(port),
      "--disable-telemetry",
    ],
    {
      cwd: seatDir ?? repoRoot,
      env: {
        ...process.env,
        TEAMSAPPTESTER_BROWSER: "none",
        M365_AGENTS_PLAYGROUND_LOGFILE: resolve(repoRoot, "test-results", logName),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString("utf8");
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const cleanUp = () => {
    if (seatDir) rmSync(seatDir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      cleanUp();
      throw new Error(`the Agents Playground exited (${child.exitCode}):\n${output}`);
    }
    const up = await fetch(url).then(
      (response) => response.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      cleanUp();
      throw new Error(`the Agents Playground did not answer within 30 s:\n${output}`);
    }
    await new Promise((wait) => setTimeout(wait, 250));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((done) => {
        const finish = () => {
          cleanUp();
          done();
        };
        if (child.exitCode !== null) return finish();
        child.once("exit", finish);
        child.kill("SIGTERM");
      }),
  };
}

/**
 * The Playground config with `upn` seated as `currentUser` and the former current user moved into
 * `users`: everything else (tenant, bot, chat and team ids) stays as the file says. Works on the
 * file's own layout — `currentUser:` a two-space mapping, `users:` a list of four-space mappings —
 * and throws rather than guess when the file looks different or the user is not in it.
 */
export function seatConfig(yml: string, upn: string): string {
  const lines = yml.split("\n");
  const currentAt = lines.indexOf("currentUser:");
  const usersAt = lines.indexOf("users:");
  if (currentAt < 0 || usersAt < 0)
    throw new Error("no top-level currentUser: or users: in the Playground config");
  const blockEnd = (from: number, indent: RegExp) => {
    let end = from;
    while (end < lines.length && indent.test(lines[end] ?? "")) end++;
    return end;
  };
  const current = lines.slice(currentAt + 1, blockEnd(currentAt + 1, /^ {2}\S/)).map((line) => line.slice(2));
  const usersEnd = blockEnd(usersAt + 1, /^ {2}(- | {2}\S)/);
  const items: string[][] = [];
  for (const line of lines.slice(usersAt + 1, usersEnd)) {
    if (line.startsWith("  - ")) items.push([line.slice(4)]);
    else items.at(-1)?.push(line.slice(4));
  }
  const upnOf = (fields: string[]) =>
    fields
      .find((field) => field.startsWith("userPrincipleName:"))
      ?.slice("userPrincipleName:".length)
      .trim();
  const seated = items.findIndex((fields) => upnOf(fields)?.toLowerCase() === upn.toLowerCase());
  if (upnOf(current)?.toLowerCase() === upn.toLowerCase()) return yml;
  const chosen = items[seated];
  if (!chosen) throw new Error(`${upn} is not among the Playground config's users`);
  items[seated] = current;
  const asUser = chosen.map((field) => `  ${field}`);
  const asItems = items.flatMap((fields) => fields.map((field, i) => `${i === 0 ? "  - " : "    "}${field}`));
  const replaced = new Map<number, string[]>([
    [currentAt, ["currentUser:", ...asUser]],
    [usersAt, ["users:", ...asItems]],
  ]);
  const skip = (i: number) =>
    (i > currentAt && i < currentAt + 1 + current.length) || (i > usersAt && i < usersEnd);
  return lines.flatMap((line, i) => replaced.get(i) ?? (skip(i) ? [] : [line])).join("\n");
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not at ${CHROMIUM}: install Debian's package (apt-get install chromium) — .ci/run does — or set CHROMIUM_PATH`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    // As root in a container Chromium needs --no-sandbox; the rest keeps it off this machine's closed network.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Types into the chat's compose box (not an input on a card) and sends, as a person does. */
export async function sendInPlayground(page: Page, text: string): Promise<void> {
  await page.locator('[contenteditable="true"][role="textbox"]').click();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

/** The rendered Adaptive Card whose text includes `text` (e.g. a request id), newest first. */
export function adaptiveCard(page: Page, text: string): Locator {
  return page.locator(".ac-adaptiveCard").filter({ hasText: text }).last();
}
