/**
 * Least privilege, checked: drive every gateway operation through the real Azure SDK against the
 * simulator, turn each ARM request it made into the RBAC action Azure checks for it, and compare
 * with the custom role in infra/portcullis-role.json. A new ARM call without a role change fails
 * here, and so does a role action nothing calls (unless it is listed below with its reason).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JitGateway } from "../../src/app/ports.ts";
import { BOT_ROLE_ACTIONS } from "../../src/azure/bot-role.ts";
import { createJitGateway } from "../../src/azure/jit-gateway.ts";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";

const SUB = "/subscriptions/[^/]+";
const RG = `${SUB}/resourceGroups/[^/]+`;
const JIT_READ = "Microsoft.Security/locations/jitNetworkAccessPolicies/read";

/** ARM request (method + path) → the RBAC action Azure authorizes it with. */
const OPERATIONS: readonly { readonly method: string; readonly path: RegExp; readonly action: string }[] = [
  // Listing at subscription scope is authorized with the locations/… read (Microsoft's JIT permission table).
  {
    method: "GET",
    path: re(`${SUB}/providers/Microsoft.Security/jitNetworkAccessPolicies`),
    action: JIT_READ,
  },
  {
    method: "GET",
    path: re(`${RG}/providers/Microsoft.Security/locations/[^/]+/jitNetworkAccessPolicies/[^/]+`),
    action: JIT_READ,
  },
  {
    method: "POST",
    path: re(`${RG}/providers/Microsoft.Security/locations/[^/]+/jitNetworkAccessPolicies/[^/]+/initiate`),
    action: "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
  },
  ...[
    "Microsoft.Compute/virtualMachines",
    "Microsoft.ClassicCompute/virtualMachines",
    "Microsoft.Network/networkInterfaces",
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/routeTables",
    "Microsoft.Network/azureFirewalls",
    "Microsoft.Network/publicIPAddresses",
  ].map((type) => ({ method: "GET", path: re(`${SUB}/providers/${type}`), action: `${type}/read` })),
];

/** Role actions no gateway request maps to, each with the reason it is in the role anyway. */
const ALLOWANCES: Readonly<Record<string, string>> = {
  "Microsoft.Security/policies/read":
    "Microsoft's JIT permission table lists it for reading JIT policies; the portal and the JIT service expect it beside jitNetworkAccessPolicies/read",
};

function re(path: string): RegExp {
  return new RegExp(`^${path}$`, "i");
}

let simulator: RunningSimulator;
let gateway: JitGateway;

beforeAll(async () => {
  simulator = await startSimulator();
  gateway = createJitGateway({ armEndpoint: simulator.url, subscriptionId: simulator.subscriptionId });
});

afterAll(async () => {
  await simulator?.close();
});

interface Logged {
  readonly method: string;
  readonly path: string;
}

async function requestsMade(): Promise<Logged[]> {
  const response = await fetch(`${simulator.url}/_sim/requests`);
  const body = (await response.json()) as { value: Logged[] };
  return body.value.filter((request) => !request.path.startsWith("/_sim/"));
}

describe("the bot's custom role", () => {
  it("has exactly the actions the gateway's ARM calls need (plus the listed allowances)", async () => {
    // Every operation of the JitGateway port: list, find, read a policy, initiate, health.
    const vms = await gateway.listVms();
    const configured = vms.find((vm) => vm.jit.kind === "configured");
    if (configured?.jit.kind !== "configured") throw new Error("the fleet has no JIT-configured VM");
    await gateway.findVms(configured.ref.name);
    const policy = configured.jit.policy;
    const ref = { resourceGroup: policy.resourceGroup, location: policy.location, name: policy.policyName };
    const current = await gateway.getVmPolicy(ref, configured.ref.id);
    const rule = current.rules[0];
    if (!rule) throw new Error(`${configured.ref.name} has no port rule`);
    const prefix = rule.allowedSourceAddressPrefixes[0] ?? "*";
    await gateway.initiate({
      policy: ref,
      virtualMachines: [
        {
          vmId: configured.ref.id,
          ports: [
            {
              number: rule.number,
              endTimeUtc: new Date(Date.now() + 30 * 60_000),
              allowedSourceAddressPrefix: prefix === "*" || prefix.includes("/") ? "203.0.113.7" : prefix,
            },
          ],
        },
      ],
      justification: "Portcullis R-1 role check",
    });
    await gateway.checkHealth();

    const requests = await requestsMade();
    expect(requests.length).toBeGreaterThan(0);
    const unmapped = requests.filter(
      (request) => !OPERATIONS.some((op) => op.method === request.method && op.path.test(request.path)),
    );
    expect(
      unmapped.map((request) => `${request.method} ${request.path}`),
      "the gateway makes ARM calls this test cannot map to an RBAC action: add each one's action to infra/portcullis-role.json and to OPERATIONS here",
    ).toEqual([]);

    const used = new Set(
      requests.map(
        (request) =>
          OPERATIONS.find((op) => op.method === request.method && op.path.test(request.path))?.action ?? "",
      ),
    );
    const role = new Set(BOT_ROLE_ACTIONS);
    const missing = [...used].filter((action) => !role.has(action));
    const unused = [...role].filter((action) => !used.has(action) && !(action in ALLOWANCES));
    expect(missing, "actions the gateway needs but the role lacks").toEqual([]);
    expect(unused, "role actions nothing uses: remove them, or add a reason to ALLOWANCES").toEqual([]);
  });

  it("grants no wildcard, no write and no delete", () => {
    for (const action of BOT_ROLE_ACTIONS) {
      expect(action).not.toContain("*");
      expect(action).toMatch(/\/(read|initiate\/action)$/);
    }
    expect(new Set(BOT_ROLE_ACTIONS).size).toBe(BOT_ROLE_ACTIONS.length);
  });
});
