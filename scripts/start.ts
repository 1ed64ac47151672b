/**
 * `npm start`: the bot (embedded simulator + embedded database) and the Microsoft 365 Agents
 * Playground pointed at it, as two child processes. Ctrl-C stops both.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
const node = process.execPath;
const port = process.env.PORT ?? "3978";
const playgroundPort = process.env.PLAYGROUND_PORT ?? "56150";

// The Playground exits at start when it cannot open a browser; on a headless machine it must not try.
const headless = process.platform === "linux" && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
const playgroundEnv = {
  ...process.env,
  ...(headless && !process.env.TEAMSAPPTESTER_BROWSER ? { TEAMSAPPTESTER_BROWSER: "none" } : {}),
};

const children: ChildProcess[] = [];

function run(name: string, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(node, args, { cwd: root, env, stdio: "inherit" });
  child.on("exit", (code, signal) => {
    console.error(`[start] ${name} exited (${signal ?? code}); stopping the rest`);
    stop(code ?? 1);
  });
  children.push(child);
  return child;
}

let stopping = false;
function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  setTimeout(() => process.exit(code), 2000).unref();
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

run("bot", [resolve(root, "src/main.ts")], process.env);
run(
  "playground",
  [
    resolve(root, "node_modules/@microsoft/m365agentsplayground/cli.js"),
    "--app-endpoint",
    `http://localhost:${port}/api/messages`,
    "--channel-id",
    "msteams",
    "--port",
    playgroundPort,
    "--disable-telemetry",
  ],
  playgroundEnv,
);
console.error(
  `[start] bot on http://localhost:${port}/api/messages, Agents Playground on http://localhost:${playgroundPort}${headless ? " (open it in a browser)" : ""}`,
);
