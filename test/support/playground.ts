/**
 * The real Microsoft 365 Agents Playground (`agentsplayground`, offline) pointed at a bot, and
 * Debian's Chromium driven by playwright-core. The Playground sends no Bot Framework JWT, so the
 * bot must be in local mode.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { freePort, repoRoot } from "./bot-process.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export interface RunningPlayground {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startPlayground(botUrl: string): Promise<RunningPlayground> {
  const port = await freePort();
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
      cwd: repoRoot,
      env: {
        ...process.env,
        TEAMSAPPTESTER_BROWSER: "none",
        M365_AGENTS_PLAYGROUND_LOGFILE: resolve(repoRoot, "test-results/playground.log"),
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
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the Agents Playground exited (${child.exitCode}):\n${output}`);
    const up = await fetch(url).then(
      (response) => response.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline)
      throw new Error(`the Agents Playground did not answer within 30 s:\n${output}`);
    await new Promise((wait) => setTimeout(wait, 250));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once("exit", () => done());
        child.kill("SIGTERM");
      }),
  };
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
