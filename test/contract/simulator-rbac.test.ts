/**
 * The simulator's RBAC (issue 11, items 1 and 5): requests become ARM actions, roles grant them with
 * wildcards and NotActions as ARM reads them, refusals are ARM's 403 AuthorizationFailed, and a
 * "403" fault stands for a role assignment taken away under a running bot.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createJitGateway } from "../../src/azure/jit-gateway.ts";
import { actionFor, parseRole, roleGrants } from "../../src/simulator/rbac.ts";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";

const SUB = "/subscriptions/00000000-0000-4000-8000-00000000c0de";
const WEB_01 = `${SUB}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-01`;

describe("ARM actions of requests", () => {
  it.each([
    [
      "GET",
      `${SUB}/providers/Microsoft.Security/jitNetworkAccessPolicies`,
      "Microsoft.Security/locations/jitNetworkAccessPolicies/read",
    ],
    [
      "GET",
      `${SUB}/resourceGroups/rg-web/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default`,
      "Microsoft.Security/locations/jitNetworkAccessPolicies/read",
    ],
    [
      "POST",
      `${SUB}/resourceGroups/rg-web/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default/initiate`,
      "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
    ],
    [
      "PUT",
      `${SUB}/resourceGroups/rg-web/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default`,
      "Microsoft.Security/locations/jitNetworkAccessPolicies/write",
    ],
    ["GET", `${SUB}/providers/Microsoft.Compute/virtualMachines`, "Microsoft.Compute/virtualMachines/read"],
    ["GET", `${WEB_01}/instanceView`, "Microsoft.Compute/virtualMachines/instanceView/read"],
    [
      "GET",
      `${SUB}/resourceGroups/rg-web/providers/Microsoft.Network/networkSecurityGroups/nsg-web/securityRules/x`,
      "Microsoft.Network/networkSecurityGroups/securityRules/read",
    ],
    ["GET", `${SUB}/resourcegroups`, "Microsoft.Resources/subscriptions/resourceGroups/read"],
    ["GET", SUB, "Microsoft.Resources/subscriptions/read"],
    ["GET", `${SUB}/resources`, "Microsoft.Resources/subscriptions/resources/read"],
  ])("%s %s → %s", (method, path, action) => {
    expect(actionFor(method, path)).toBe(action);
  });

  it("the tenant's subscription list and the caller's own permissions are not checked against a role", () => {
    expect(actionFor("GET", "/subscriptions")).toBeUndefined();
    expect(actionFor("GET", `${SUB}/providers/Microsoft.Authorization/permissions`)).toBeUndefined();
  });
});

describe("roles as ARM reads them", () => {
  const role = parseRole({
    Actions: ["Microsoft.Network/*/read", "Microsoft.Security/*"],
    NotActions: ["Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action"],
  });

  it("wildcards match any run of characters, case-insensitively", () => {
    expect(roleGrants(role, "Microsoft.Network/networkSecurityGroups/read")).toBe(true);
    expect(roleGrants(role, "microsoft.network/virtualNetworks/subnets/READ")).toBe(true);
    expect(roleGrants(role, "Microsoft.Network/networkSecurityGroups/write")).toBe(false);
    expect(roleGrants(role, "Microsoft.Compute/virtualMachines/read")).toBe(false);
  });

  it("NotActions take away what Actions grant", () => {
    expect(roleGrants(role, "Microsoft.Security/locations/jitNetworkAccessPolicies/read")).toBe(true);
    expect(roleGrants(role, "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action")).toBe(
      false,
    );
  });

  it("ARM's own shape (permissions[]) is read too", () => {
    const arm = parseRole({ roleName: "Reader", permissions: [{ actions: ["*/read"], notActions: [] }] });
    expect(roleGrants(arm, "Microsoft.Compute/virtualMachines/read")).toBe(true);
    expect(roleGrants(arm, "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action")).toBe(
      false,
    );
  });
});

describe("the simulator enforcing a role", () => {
  let sim: RunningSimulator;
  const get = (path: string) =>
    fetch(`${sim.url}${path}?api-version=2024-05-01`, { headers: { authorization: "Bearer dev" } });

  beforeAll(async () => {
    sim = await startSimulator({ port: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    await fetch(`${sim.url}/_sim/reset`, { method: "POST" });
  });

  it("runs with infra/portcullis-role.json by default, and refuses a write the role lacks", async () => {
    const role = (await (await fetch(`${sim.url}/_sim/role`)).json()) as {
      enforced: boolean;
      role: { name: string };
    };
    expect(role).toMatchObject({ enforced: true, role: { name: "Portcullis JIT requester" } });
    const response = await fetch(
      `${sim.url}${SUB}/resourceGroups/rg-web/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default?api-version=2020-01-01`,
      {
        method: "DELETE",
        headers: { authorization: "Bearer dev" },
      },
    );
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("AuthorizationFailed");
  });

  it("refuses before looking: a resource that does not exist is a 403 too, as in ARM", async () => {
    await fetch(`${sim.url}/_sim/role`, {
      method: "PUT",
      body: JSON.stringify({ Actions: ["Microsoft.Compute/*"] }),
      headers: { "content-type": "application/json" },
    });
    expect(
      (await get(`${SUB}/resourceGroups/rg-web/providers/Microsoft.Network/networkSecurityGroups/nope`))
        .status,
    ).toBe(403);
    expect(
      (await get(`${SUB}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/nope`)).status,
    ).toBe(404);
  });

  it("initiate also needs read on each VM (Defender checks the caller's rights on the VM)", async () => {
    await fetch(`${sim.url}/_sim/role`, {
      method: "PUT",
      body: JSON.stringify({
        Actions: ["Microsoft.Security/*"],
      }),
      headers: { "content-type": "application/json" },
    });
    const gateway = createJitGateway({ armEndpoint: sim.url, subscriptionId: sim.subscriptionId });
    await expect(
      gateway.initiate({
        policy: { resourceGroup: "rg-web", location: "westeurope", name: "default" },
        virtualMachines: [
          {
            vmId: WEB_01,
            ports: [
              {
                number: 22,
                endTimeUtc: new Date(Date.now() + 600_000),
                allowedSourceAddressPrefix: "203.0.113.7",
              },
            ],
          },
        ],
        justification: "rbac test",
      }),
    ).rejects.toMatchObject({ code: "azure_forbidden" });
  });

  it("DELETE /_sim/role turns enforcement off until reset", async () => {
    await fetch(`${sim.url}/_sim/role`, { method: "DELETE" });
    expect((await (await fetch(`${sim.url}/_sim/role`)).json()) as unknown).toEqual({ enforced: false });
    await fetch(`${sim.url}/_sim/reset`, { method: "POST" });
    expect(((await (await fetch(`${sim.url}/_sim/role`)).json()) as { enforced: boolean }).enforced).toBe(
      true,
    );
  });

  it("a \"403\" fault answers ARM's AuthorizationFailed for that request's action, and the gateway says so", async () => {
    await fetch(`${sim.url}/_sim/faults`, {
      method: "POST",
      body: JSON.stringify({ kind: "403", match: { pathIncludes: "/networkSecurityGroups/" } }),
      headers: { "content-type": "application/json" },
    });
    const gateway = createJitGateway({ armEndpoint: sim.url, subscriptionId: sim.subscriptionId });
    const refused = await gateway.listInboundPaths(WEB_01).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "azure_forbidden" });
    const log = (await (
      await fetch(`${sim.url}/_sim/requests?pathIncludes=networkSecurityGroups`)
    ).json()) as {
      value: { status: number; fault?: string }[];
    };
    expect(log.value[0]).toMatchObject({ status: 403, fault: "403" });
    // One use only: the next read passes.
    await expect(gateway.listInboundPaths(WEB_01)).resolves.toBeDefined();
  });
});
