/**
 * Runs the ARM simulator on its own: `npm run simulator` (SIMULATOR_PORT, default 3979; FLEET_PATH optional;
 * SIMULATOR_ROLE: a role definition file RBAC is enforced with, default infra/portcullis-role.json, or
 * `off`). A separate program from the bot, so it reads its settings from the environment itself.
 */
import { startSimulator } from "./server.ts";

const port = Number(process.env.SIMULATOR_PORT ?? "3979");
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`SIMULATOR_PORT must be a port number (0-65535), got "${process.env.SIMULATOR_PORT}".`);
  process.exit(1);
}
const fleetPath = process.env.FLEET_PATH;
const roleSetting = process.env.SIMULATOR_ROLE?.trim();
const role =
  roleSetting === undefined || roleSetting === "" ? undefined : roleSetting === "off" ? false : roleSetting;
let sim: Awaited<ReturnType<typeof startSimulator>>;
try {
  sim = await startSimulator({
    port,
    ...(fleetPath ? { fleetPath } : {}),
    ...(role === undefined ? {} : { role }),
  });
} catch (error) {
  console.error(
    `${(error as Error).message}\nSIMULATOR_ROLE takes a role definition file (default infra/portcullis-role.json) or "off".`,
  );
  process.exit(1);
}
console.log(`ARM simulator listening on ${sim.url} (subscription ${sim.subscriptionId})`);
console.log(
  role === false
    ? "RBAC not enforced (SIMULATOR_ROLE=off)"
    : `RBAC enforced with ${role ?? "infra/portcullis-role.json"}`,
);
console.log(
  `Point the bot at it with AZURE_ARM_ENDPOINT=${sim.url} AZURE_SUBSCRIPTION_ID=${sim.subscriptionId}`,
);

const stop = (): void => {
  sim.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
