/** Runs the real bot (`node src/main.ts`) as a child process, as `npm run bot` does. */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

export interface BotProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts the bot and resolves once it logs that it is listening; rejects with its output if it exits first.
 * Only PATH, HOME and `env` reach it (no DATABASE_URL or AZURE_* from the test's own environment).
 */
export async function startBotProcess(env: Record<string, string>): Promise<BotProcess> {
  const port = env.PORT === undefined ? await freePort() : Number(env.PORT);
  const child = spawn(process.execPath, [resolve(repoRoot, "src/main.ts")], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: String(port),
      SIMULATOR_PORT: "0",
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  await new Promise<void>((resolveStarted, reject) => {
    // Generous: a fresh embedded database takes seconds to create, more on a busy CI machine.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`bot did not start within 60 s:\n${output}`));
    }, 60_000);
    const onData = () => {
      if (output.includes("Portcullis is listening")) {
        clearTimeout(timer);
        resolveStarted();
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`bot exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => output,
    stop: (signal = "SIGTERM") =>
      new Promise<void>((resolveStopped) => {
        if (child.exitCode !== null) return resolveStopped();
        child.once("exit", () => resolveStopped());
        child.kill(signal);
      }),
  };
}
