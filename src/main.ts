/**
 * Composition root: config → adapters → HTTP server. Nothing else wires adapters together.
 * `node src/main.ts` runs the bot; tests call `startPortcullis` to get the same wiring in-process.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import type { AppContext } from "./app/context.ts";
import { deploymentFacts, runDoctor } from "./app/doctor.ts";
import { armWeeklyDigest } from "./app/evidence.ts";
import { type Clock, type Store, systemClock } from "./app/ports.ts";
import { createStaticRoster } from "./app/static-roster.ts";
import { timerHandlers } from "./app/timer-handlers.ts";
import { createTimerRunner, type TimerRunner } from "./app/timer-runner.ts";
import { BOT_ROLE_ACTIONS, BOT_ROLE_NAME } from "./azure/bot-role.ts";
import { createIdentityPermissions } from "./azure/identity-permissions.ts";
import { createJitGateway } from "./azure/jit-gateway.ts";
import { createTeamsAdapter } from "./chat/teams/teams-adapter.ts";
import { createTeamsBot } from "./chat/teams/teams-bot.ts";
import { createTeamsNotifier } from "./chat/teams/teams-notifier.ts";
import { type Config, ConfigError, parseConfig, readEnvironment } from "./config.ts";
import { createHttpServer, listen } from "./http/server.ts";
import { type RunningSimulator, startSimulator } from "./simulator/server.ts";
import { openStore } from "./store/index.ts";

export interface RunningPortcullis {
  readonly url: string;
  readonly config: Config;
  readonly store: Store;
  readonly armEndpoint: string;
  stop(): Promise<void>;
}

export async function startPortcullis(
  config: Config,
  options: { readonly logger?: Logger; readonly clock?: Clock } = {},
): Promise<RunningPortcullis> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const clock = options.clock ?? systemClock;

  if (config.bot.mode === "local") {
    logger.warn(
      "local mode: no BOT_ID, so /api/messages accepts unauthenticated requests — listening on 127.0.0.1 only",
    );
  }

  let simulator: RunningSimulator | undefined;
  let armEndpoint: string;
  let subscriptionId: string;
  if (config.azure.mode === "embedded-simulator") {
    simulator = await startSimulator({
      port: config.azure.simulatorPort,
      fleetPath: config.azure.fleetFile,
      logger: logger.child({ part: "simulator" }),
    });
    armEndpoint = simulator.url;
    subscriptionId = simulator.subscriptionId;
    logger.info(
      { url: simulator.url, fleet: config.azure.fleetFile },
      "embedded ARM simulator started (no Azure subscription configured)",
    );
  } else {
    armEndpoint = config.azure.endpoint;
    subscriptionId = config.azure.subscriptionId ?? (await simulatorSubscription(armEndpoint));
  }

  const store = await openStore({
    ...(config.store.databaseUrl === undefined
      ? { dataDir: join(config.store.dataDir, "pglite") }
      : {
          databaseUrl: config.store.databaseUrl,
          ...(config.store.schema ? { schema: config.store.schema } : {}),
        }),
    logger: logger.child({ part: "store" }),
    clock,
  });
  const gateway = createJitGateway({
    armEndpoint,
    subscriptionId,
    logger: logger.child({ part: "azure" }),
    clock,
  });
  const adapter = createTeamsAdapter(config);
  const notifier = createTeamsNotifier({
    adapter,
    botAppId: config.bot.mode === "authenticated" ? config.bot.appId : "",
    conversations: store.conversations,
    clock,
    logger: logger.child({ part: "notifier" }),
  });
  let timers: TimerRunner | undefined;
  const app: AppContext = {
    gateway,
    store,
    notifier,
    onCall: createStaticRoster(config.rules, config.breakGlassUsers),
    clock,
    logger: logger.child({ part: "app" }),
    settings: {
      rules: config.rules,
      publicBaseUrl: config.publicBaseUrl,
      trustedProxies: config.trustedProxies,
      acceptDocumentationRanges: config.acceptDocumentationRanges,
      localDemo: config.localDemo,
      approvalsConversationKey: config.approvalsChannelId
        ? `conversation:${config.approvalsChannelId}`
        : undefined,
      sourceLinkTtlMs: 10 * 60_000,
      securityConversationKey: config.securityChannelId
        ? `conversation:${config.securityChannelId}`
        : undefined,
      preExpiryWarningMs: config.preExpiryWarningMs,
      closureCheckDelayMs: config.closureCheckDelayMs,
      windowCheckIntervalMs: config.windowCheckIntervalMs,
      breakGlassRunbookUrl: config.breakGlassRunbookUrl,
      auditors: config.auditors,
    },
    newToken: () => randomBytes(32).toString("base64url"),
    newNonce: () => randomBytes(16).toString("base64url"),
    wake: () => timers?.wake(),
  };
  timers = createTimerRunner(app, timerHandlers(app), {
    owner: `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`,
    pollMs: config.timers.pollMs,
    leaseMs: config.timers.leaseMs,
    batch: 20,
    loop: true,
  });
  await armWeeklyDigest(app);
  const doctor = () =>
    runDoctor({
      facts: deploymentFacts(config),
      gateway,
      subscriptionId,
      permissions: createIdentityPermissions({ armEndpoint }),
      role: { name: BOT_ROLE_NAME, actions: BOT_ROLE_ACTIONS },
    });
  const bot = createTeamsBot({ config, adapter, app, doctor });
  const http = await listen(
    createHttpServer({
      bot,
      adapter,
      app,
      replies:
        config.bot.mode === "local"
          ? { kind: "loopback", alsoAllowed: config.localServiceUrls }
          : { kind: "checked-by-token" },
    }),
    config.port,
    config.host,
  );
  logger.info(
    {
      url: `${http.url}/api/messages`,
      arm: armEndpoint,
      store: config.store.databaseUrl ? "postgresql" : "pglite",
    },
    "Portcullis is listening",
  );

  return {
    url: http.url,
    config,
    store,
    armEndpoint,
    async stop() {
      await timers?.stop();
      await http.close();
      await store.close();
      await simulator?.close();
    },
  };
}

/** A loopback simulator given by AZURE_ARM_ENDPOINT without a subscription: ask it which one it serves. */
async function simulatorSubscription(endpoint: string): Promise<string> {
  const response = await fetch(new URL("/_sim/fleet", endpoint));
  if (!response.ok) {
    throw new ConfigError(
      `AZURE_SUBSCRIPTION_ID is not set and ${endpoint} did not say which subscription it serves; set AZURE_SUBSCRIPTION_ID.`,
    );
  }
  const body = (await response.json()) as { subscriptionId?: unknown };
  if (typeof body.subscriptionId !== "string")
    throw new ConfigError("AZURE_SUBSCRIPTION_ID is not set; set it.");
  return body.subscriptionId;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = parseConfig(readEnvironment());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const running = await startPortcullis(config);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running
      .stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        console.error(`error while stopping after ${signal}:`, error);
        process.exit(1);
      });
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error("Portcullis failed to start:", error);
    process.exit(1);
  });
}
