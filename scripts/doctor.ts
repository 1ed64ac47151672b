/**
 * `npm run doctor`: read-only checks of a deployment (configuration, ARM reachability, what the
 * identity can see, whether it has more rights than its role), printed as a checklist with the fix
 * for each failure. Reads the same environment as the bot (env/.env.local, then the process).
 * Exits 1 when a check fails. With no subscription configured it checks the embedded simulator.
 */
import pino from "pino";
import { deploymentFacts, doctorText, runDoctor } from "../src/app/doctor.ts";
import { BOT_ROLE_ACTIONS, BOT_ROLE_NAME } from "../src/azure/bot-role.ts";
import { createIdentityPermissions } from "../src/azure/identity-permissions.ts";
import { createJitGateway } from "../src/azure/jit-gateway.ts";
import { ConfigError, parseConfig, readEnvironment } from "../src/config.ts";
import { type RunningSimulator, startSimulator } from "../src/simulator/server.ts";

async function main(): Promise<number> {
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(readEnvironment());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.log(`❌ Configuration: ${error.message}`);
      return 1;
    }
    throw error;
  }
  const logger = pino({ level: "silent" });
  let simulator: RunningSimulator | undefined;
  let armEndpoint: string;
  let subscriptionId: string;
  if (config.azure.mode === "embedded-simulator") {
    simulator = await startSimulator({ port: 0, fleetPath: config.azure.fleetFile, logger });
    armEndpoint = simulator.url;
    subscriptionId = simulator.subscriptionId;
  } else {
    armEndpoint = config.azure.endpoint;
    subscriptionId = config.azure.subscriptionId ?? "";
  }
  try {
    const report = await runDoctor({
      facts: deploymentFacts(config),
      // Short retries: the doctor should answer in seconds, not wait out the SDK's back-off.
      gateway: createJitGateway({
        armEndpoint,
        subscriptionId,
        logger,
        retryOptions: { maxRetries: 1 },
        requestTimeoutMs: 20_000,
      }),
      subscriptionId,
      permissions: createIdentityPermissions({ armEndpoint }),
      role: { name: BOT_ROLE_NAME, actions: BOT_ROLE_ACTIONS },
    });
    console.log(doctorText(report));
    return report.ok ? 0 : 1;
  } finally {
    await simulator?.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error("doctor failed:", error);
    process.exit(2);
  },
);
