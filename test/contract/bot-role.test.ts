/**
 * Least privilege, checked: drive every gateway operation through the real Azure SDK against the
 * simulator, which enforces the role in infra/portcullis-role.json as ARM does (403
 * AuthorizationFailed). Each ARM request the gateway made is turned into the RBAC action Azure
 * checks for it and compared with the role: a new ARM call without a role change fails here, and so
 * does a role action nothing calls (unless listed below with its reason). Then every action is
 * removed in turn: without it, some gateway operation must fail, so no action is there for show.
 */

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { JitGateway } from "../../src/app/ports.ts";
import { BOT_ROLE_ACTIONS, BOT_ROLE_NAME } from "../../src/azure/bot-role.ts";
import { createJitGateway } from "../../src/azure/jit-gateway.ts";
import { inboundAccess } from "../../src/domain/inbound-access.ts";
import { actionFor } from "../../src/simulator/rbac.ts";
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
  // The closure check reads the VM, its NICs, their virtual network and each NSG that filters it, by id.
  ...[
    "Microsoft.Compute/virtualMachines",
    "Microsoft.Network/networkInterfaces",
    "Microsoft.Network/virtualNetworks",
  ].map((type) => ({ method: "GET", path: re(`${RG}/providers/${type}/[^/]+`), action: `${type}/read` })),
  {
    method: "GET",
    path: re(`${RG}/providers/Microsoft.Network/networkSecurityGroups/[^/]+`),
    action: "Microsoft.Network/networkSecurityGroups/read",
  },
];

/** Role actions no gateway request maps to, each with the reason it is in the role anyway. */
const ALLOWANCES: Readonly<Record<string, string>> = {
  "Microsoft.Security/policies/read":
    "Microsoft's JIT permission table lists it for reading JIT policies; Defender checks it itself on JIT reads (the simulator's strict reading, unverified), so no ARM request maps to it",
};

function re(path: string): RegExp {
  return new RegExp(`^${path}$`, "i");
}

let simulator: RunningSimulator;
let gateway: JitGateway;

beforeAll(async () => {
  // The default: RBAC enforced with infra/portcullis-role.json.
  simulator = await startSimulator();
  gateway = createJitGateway({
    armEndpoint: simulator.url,
    subscriptionId: simulator.subscriptionId,
    retryOptions: { maxRetries: 0 },
    reconcileDelaysMs: [0],
  });
});

beforeEach(async () => {
  await fetch(`${simulator.url}/_sim/reset`, { method: "POST" });
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
    const outcome = await driveGateway();
    expect(
      outcome.filter((line) => line.includes("failed")),
      "every operation passes with the full role",
    ).toEqual([]);

    const requests = await requestsMade();
    expect(requests.length).toBeGreaterThan(0);
    const unmapped = requests.filter(
      (request) => !OPERATIONS.some((op) => op.method === request.method && op.path.test(request.path)),
    );
    expect(
      unmapped.map((request) => `${request.method} ${request.path}`),
      "the gateway makes ARM calls this test cannot map to an RBAC action: add each one's action to infra/portcullis-role.json and to OPERATIONS here",
    ).toEqual([]);

    // The simulator's RBAC maps each request to the same action this table does.
    for (const request of requests) {
      const op = OPERATIONS.find(
        (candidate) => candidate.method === request.method && candidate.path.test(request.path),
      );
      expect(
        actionFor(request.method, request.path)?.toLowerCase(),
        `${request.method} ${request.path}`,
      ).toBe(op?.action.toLowerCase());
    }

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

  it("needs every action: without any one of them a gateway operation fails", async () => {
    const full = await driveGateway();
    expect(full.filter((line) => line.includes("failed"))).toEqual([]);
    const survivors: string[] = [];
    for (const action of BOT_ROLE_ACTIONS) {
      await fetch(`${simulator.url}/_sim/reset`, { method: "POST" });
      await setRole(BOT_ROLE_ACTIONS.filter((other) => other !== action));
      const without = await driveGateway();
      // Failed, or degraded: a list that quietly loses what it could not read counts as broken too.
      if (JSON.stringify(without) === JSON.stringify(full)) survivors.push(action);
    }
    expect(survivors, "actions whose removal no gateway operation notices").toEqual([]);
  });

  it("a request outside the role is refused as ARM refuses it", async () => {
    await setRole(
      BOT_ROLE_ACTIONS.filter((action) => action !== "Microsoft.Network/networkSecurityGroups/read"),
    );
    const nsg = `/subscriptions/${simulator.subscriptionId}/resourceGroups/rg-web/providers/Microsoft.Network/networkSecurityGroups/nsg-web`;
    const response = await fetch(`${simulator.url}${nsg}?api-version=2024-05-01`, {
      headers: { authorization: "Bearer dev" },
    });
    expect(response.status).toBe(403);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("AuthorizationFailed");
    expect(body.error.message).toMatch(
      new RegExp(
        `^The client '[^']+' with object id '[0-9a-f-]{36}' does not have authorization to perform action 'Microsoft\\.Network/networkSecurityGroups/read' over scope '${nsg.replaceAll(".", "\\.")}' or the scope is invalid\\.`,
      ),
    );
    // The gateway turns it into a sentence, not a retry loop.
    const vm = `/subscriptions/${simulator.subscriptionId}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01`;
    await expect(gateway.listInboundPaths(vm)).rejects.toMatchObject({ code: "azure_forbidden" });
  });

  it("grants no wildcard, no write and no delete", () => {
    for (const action of BOT_ROLE_ACTIONS) {
      expect(action).not.toContain("*");
      expect(action).toMatch(/\/(read|initiate\/action)$/);
    }
    expect(new Set(BOT_ROLE_ACTIONS).size).toBe(BOT_ROLE_ACTIONS.length);
  });
});

async function setRole(actions: readonly string[]): Promise<void> {
  const response = await fetch(`${simulator.url}/_sim/role`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ Name: BOT_ROLE_NAME, Actions: actions, NotActions: [] }),
  });
  expect(response.status).toBe(200);
}

/**
 * Every operation of the JitGateway port — list, find, read a policy, initiate, the closure check's
 * NSG reads, health — each summed up in one line ("<op> ok …" or "<op> failed <code>").
 */
async function driveGateway(): Promise<string[]> {
  const out: string[] = [];
  const attempt = async <T>(
    name: string,
    run: () => Promise<T>,
    sum: (value: T) => string,
  ): Promise<T | undefined> => {
    try {
      const value = await run();
      out.push(`${name} ${sum(value)}`);
      return value;
    } catch (error) {
      out.push(`${name} failed ${(error as { code?: string }).code ?? String(error)}`);
      return undefined;
    }
  };
  const sub = simulator.subscriptionId;
  const webId = `/subscriptions/${sub}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01`;
  const ref = { resourceGroup: "rg-web", location: "westeurope", name: "default" };
  await attempt(
    "vms",
    () => gateway.listVms(),
    (vms) =>
      vms.map((vm) => `${vm.ref.name}:${vm.jit.kind}:${vm.powerState}:${vm.connectAddress ?? "-"}`).join(","),
  );
  await attempt(
    "find",
    () => gateway.findVms("web-01"),
    (vms) => `ok ${vms.length}`,
  );
  await attempt(
    "policy",
    () => gateway.getVmPolicy(ref, webId),
    (policy) => `ok ${policy.rules.length}`,
  );
  await attempt(
    "initiate",
    () =>
      gateway.initiate({
        policy: ref,
        virtualMachines: [
          {
            vmId: webId,
            ports: [
              {
                number: 22,
                endTimeUtc: new Date(Date.now() + 30 * 60_000),
                allowedSourceAddressPrefix: "203.0.113.7",
              },
            ],
          },
        ],
        justification: "Portcullis R-1 role check",
      }),
    (records) => `ok ${records.length}`,
  );
  await attempt(
    "closure",
    () => gateway.listInboundPaths(webId),
    (paths) => `ok ${inboundAccess(paths, "203.0.113.7", 22).reachable}`,
  );
  await attempt(
    "health",
    () => gateway.checkHealth(),
    () => "ok",
  );
  return out;
}
