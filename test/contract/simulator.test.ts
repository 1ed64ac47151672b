/**
 * Contract tests for the ARM simulator: the real Azure SDK clients against it, plain fetch for the
 * exact error shapes, the control API, and the official REST examples in /work/shared/azure-examples/.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ComputeManagementClient } from "@azure/arm-compute";
import { NetworkManagementClient } from "@azure/arm-network";
import { SecurityCenter } from "@azure/arm-security";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { Pipeline } from "@azure/core-rest-pipeline";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_SUBSCRIPTION_ID, loadFleet } from "../../src/simulator/fleet.ts";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";

const SUB = DEFAULT_SUBSCRIPTION_ID;
const T0 = new Date("2026-11-22T10:00:00.000Z");
const HOUR = 3_600_000;

/** Never used for a token exchange: the pipeline's bearer policy is swapped for a static header. */
const devCredential: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({ token: "dev", expiresOnTimestamp: Date.now() + HOUR }),
};

/**
 * The SDKs' bearer-token policy refuses http:// URLs, and allowInsecureConnection does not lift that.
 * For a loopback simulator: drop that policy and send a static development token instead.
 */
function useDevToken(pipeline: Pipeline): void {
  pipeline.removePolicy({ name: "bearerTokenAuthenticationPolicy" });
  pipeline.addPolicy({
    name: "simulatorDevToken",
    sendRequest: (request, next) => {
      request.headers.set("authorization", "Bearer dev");
      return next(request);
    },
  });
}

const fastRetries = { retryDelayInMs: 10, maxRetryDelayInMs: 50 };

function clients(url: string, subscriptionId = SUB) {
  const security = new SecurityCenter(devCredential, subscriptionId, {
    endpoint: url,
    allowInsecureConnection: true,
    retryOptions: fastRetries,
  });
  useDevToken(security.pipeline);
  const compute = new ComputeManagementClient(devCredential, subscriptionId, {
    endpoint: url,
    allowInsecureConnection: true,
    retryOptions: fastRetries,
  });
  useDevToken(compute.pipeline);
  const network = new NetworkManagementClient(devCredential, subscriptionId, {
    endpoint: url,
    allowInsecureConnection: true,
    retryOptions: fastRetries,
  });
  useDevToken(network.pipeline);
  return { security, compute, network };
}

async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
}

const vmId = (rg: string, name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
const policyPath = (rg: string, location: string, name = "default") =>
  `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Security/locations/${location}/jitNetworkAccessPolicies/${name}`;

let sim: RunningSimulator;
let sdk: ReturnType<typeof clients>;

async function arm(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const sep = path.includes("?") ? "&" : "?";
  const apiVersion = path.includes("Microsoft.Security") ? "2020-01-01" : "2024-07-01";
  const res = await fetch(`${sim.url}${path}${sep}api-version=${apiVersion}`, {
    method,
    headers: { authorization: "Bearer dev", "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

async function control(method: string, path: string, body?: unknown) {
  const res = await fetch(`${sim.url}/_sim/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function probe(vm: string, source: string, port: number) {
  return (await control("GET", `probe?vm=${vm}&source=${source}&port=${port}`)).json as {
    allowed: boolean;
    rule?: string;
  };
}

async function securityRules(rg: string, nsg: string) {
  const nsgPath = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Network/networkSecurityGroups/${nsg}`;
  const res = await arm("GET", nsgPath);
  return (res.json.properties as { securityRules: { name: string; properties: Record<string, unknown> }[] })
    .securityRules;
}

function initiateBody(
  vm: string,
  rg: string,
  port: number,
  source: string,
  endsInMs: number,
  justification = "R-1",
) {
  return {
    virtualMachines: [
      {
        id: vmId(rg, vm),
        ports: [
          {
            number: port,
            endTimeUtc: new Date(T0.getTime() + endsInMs).toISOString(),
            allowedSourceAddressPrefix: source,
          },
        ],
      },
    ],
    justification,
  };
}

/**
 * These tests act as an operator as well as the bot (PUT/DELETE a policy, instance views, the raw
 * reads): RBAC stays on, with a role that reads everything and manages JIT policies.
 */
const OPERATOR_ROLE = {
  Name: "simulator test operator",
  Actions: ["*/read", "Microsoft.Security/locations/jitNetworkAccessPolicies/*"],
  NotActions: [],
};

beforeAll(async () => {
  sim = await startSimulator({ port: 0, now: () => T0, pageSize: 5, role: OPERATOR_ROLE });
  sdk = clients(sim.url);
});

afterAll(async () => {
  await sim.close();
});

beforeEach(async () => {
  await control("POST", "reset");
});

describe("the real SDK clients against the simulator", () => {
  it("lists JIT policies for the subscription, by region, by group, and gets one", async () => {
    const all = await collect(sdk.security.jitNetworkAccessPolicies.list());
    expect(all.map((p) => p.id)).toEqual([
      policyPath("rg-web", "westeurope"),
      policyPath("rg-data", "northeurope"),
    ]);
    const north = await collect(sdk.security.jitNetworkAccessPolicies.listByRegion("northeurope"));
    expect(north.map((p) => p.name)).toEqual(["default"]);
    const byRg = await collect(
      sdk.security.jitNetworkAccessPolicies.listByResourceGroupAndRegion("rg-web", "westeurope"),
    );
    expect(byRg).toHaveLength(1);
    const policy = await sdk.security.jitNetworkAccessPolicies.get("rg-data", "northeurope", "default");
    const db01 = policy.virtualMachines.find((v) => v.id.endsWith("/db-01"));
    expect(db01?.ports.map((p) => [p.number, p.maxRequestAccessDuration])).toEqual([
      [22, "PT1H"],
      [5432, "PT2H"],
    ]);
    expect(db01?.ports[1]?.allowedSourceAddressPrefixes).toEqual(["198.51.100.0/24", "203.0.113.0/24"]);
    const sftp = byRg[0]?.virtualMachines.find((v) => v.id.endsWith("/sftp-01"));
    expect(sftp?.publicIpAddress).toBe("203.0.113.10");
    // mappedPort is not a JitNetworkAccessPortRule property: the policy never carries it.
    expect(sftp?.ports[0]).not.toHaveProperty("mappedPort");
  });

  it("lists ARM VMs across pages (nextLink) with tags, OS and power state; classic VMs are not among them", async () => {
    const vms = await collect(sdk.compute.virtualMachines.listAll());
    expect(vms.map((v) => v.name).sort()).toEqual(
      [
        "app-01",
        "app-02",
        "build-01",
        "db-01",
        "db-02",
        "hub-app-01",
        "jump-01",
        "legacy-02",
        "ops-01",
        "sftp-01",
        "web-01",
        "web-02",
      ].sort(),
    );
    const log = (await control("GET", "requests?pathIncludes=Microsoft.Compute/virtualMachines")).json
      .value as unknown[];
    expect(log.length).toBeGreaterThan(1); // paged at 5 per page
    const app01 = vms.find((v) => v.name === "app-01");
    expect(app01?.storageProfile?.osDisk?.osType).toBe("Windows");
    expect(app01?.tags?.["jit-approvers"]).toBe("dave@contoso.com");
    expect(vms.find((v) => v.name === "jump-01")?.tags?.["jit-approvers"]).toBeUndefined();

    const db02 = await sdk.compute.virtualMachines.get("rg-data", "db-02", { expand: "instanceView" });
    expect(db02.instanceView?.statuses?.map((s) => s.code)).toContain("PowerState/deallocated");
    const iv = await sdk.compute.virtualMachines.instanceView("rg-web", "web-01");
    expect(iv.statuses?.map((s) => s.code)).toContain("PowerState/running");
    const inRg = await collect(sdk.compute.virtualMachines.list("rg-legacy"));
    expect(inRg.map((v) => v.name).sort()).toEqual(["build-01", "legacy-02"]);
  });

  it("reads NIC, NSG (with JIT deny rules), subnet, public IP and firewall", async () => {
    const web01 = await sdk.compute.virtualMachines.get("rg-web", "web-01");
    const nicId = web01.networkProfile?.networkInterfaces?.[0]?.id ?? "";
    expect(nicId).toMatch(/\/networkInterfaces\/web-01-nic$/);
    const nic = await sdk.network.networkInterfaces.get("rg-web", "web-01-nic");
    const ipConfig = nic.ipConfigurations?.[0];
    expect(ipConfig?.privateIPAddress).toBe("10.10.1.4");
    expect(ipConfig?.subnet?.id).toMatch(/virtualNetworks\/vnet-weu\/subnets\/snet-web$/);
    expect(nic.networkSecurityGroup?.id).toMatch(/networkSecurityGroups\/nsg-web$/);
    const pip = await sdk.network.publicIPAddresses.get("rg-web", "pip-web-01");
    expect(pip.ipAddress).toBe("198.51.100.11");

    const nsg = await sdk.network.networkSecurityGroups.get("rg-web", "nsg-web");
    const deny = nsg.securityRules?.filter((r) => r.name?.startsWith("SecurityCenter-JITRule_")) ?? [];
    expect(
      deny.map((r) => [r.access, r.destinationPortRange, r.sourceAddressPrefix, r.destinationAddressPrefix]),
    ).toEqual([
      ["Deny", "22", "*", "10.10.1.4"],
      ["Deny", "22", "*", "10.10.1.5"],
    ]);
    expect(deny.map((r) => r.priority)).toEqual([4096, 4095]);
    expect(nsg.defaultSecurityRules?.map((r) => r.name)).toContain("DenyAllInBound");
    const rules = await collect(sdk.network.securityRules.list("rg-web", "nsg-web"));
    expect(rules.length).toBe(4);

    const subnet = await sdk.network.subnets.get("rg-data", "vnet-neu", "snet-data");
    expect(subnet.networkSecurityGroup?.id).toMatch(/nsg-snet-data$/);
    const firewalls = await collect(sdk.network.azureFirewalls.listAll());
    expect(firewalls.map((f) => [f.name, f.firewallPolicy?.id !== undefined])).toEqual([
      ["afw-weu", false],
      ["afw-neu", true],
    ]);
  });

  it("initiates through the SDK: 202 body, history entry, NSG allow rule, probe allowed for that source only", async () => {
    const end = new Date(T0.getTime() + HOUR);
    const result = await sdk.security.jitNetworkAccessPolicies.initiate("rg-web", "westeurope", "default", {
      virtualMachines: [
        {
          id: vmId("rg-web", "web-01"),
          ports: [{ number: 22, endTimeUtc: end, allowedSourceAddressPrefix: "198.51.100.7" }],
        },
      ],
      justification: "R-17 INC-4211",
    });
    expect(result.requestor).toBe("portcullis-dev@sim.local");
    expect(result.justification).toBe("R-17 INC-4211");
    expect(result.startTimeUtc.toISOString()).toBe(T0.toISOString());
    expect(result.virtualMachines[0]?.ports[0]).toMatchObject({
      number: 22,
      status: "Initiated",
      statusReason: "UserRequested",
      allowedSourceAddressPrefix: "198.51.100.7",
    });
    expect(result.virtualMachines[0]?.ports[0]?.endTimeUtc.toISOString()).toBe(end.toISOString());

    const policy = await sdk.security.jitNetworkAccessPolicies.get("rg-web", "westeurope", "default");
    expect(policy.requests).toHaveLength(1);
    const allow = (await securityRules("rg-web", "nsg-web")).filter(
      (r) => r.properties.access === "Allow" && r.name.startsWith("SecurityCenter-JITRule-"),
    );
    expect(
      allow.map((r) => [
        r.properties.priority,
        r.properties.sourceAddressPrefix,
        r.properties.destinationPortRange,
      ]),
    ).toEqual([[100, "198.51.100.7", "22"]]);
    expect(await probe("web-01", "198.51.100.7", 22)).toMatchObject({ allowed: true, rule: allow[0]?.name });
    expect((await probe("web-01", "198.51.100.8", 22)).allowed).toBe(false);
    expect((await probe("web-02", "198.51.100.7", 22)).allowed).toBe(false);
    const initiates = (await control("GET", "requests?pathIncludes=/initiate")).json.value as unknown[];
    expect(initiates).toHaveLength(1);
  });

  it("takes several VMs in one initiate, and allows a narrower prefix inside the rule's list", async () => {
    const body = {
      virtualMachines: [
        initiateBody("app-01", "rg-web", 5986, "203.0.113.64/26", HOUR).virtualMachines[0],
        initiateBody("app-02", "rg-web", 3389, "198.51.100.9", 4 * HOUR).virtualMachines[0],
      ],
      justification: "R-2",
    };
    const res = await arm("POST", `${policyPath("rg-web", "westeurope")}/initiate`, body);
    expect(res.status).toBe(202);
    expect((res.json.virtualMachines as unknown[]).length).toBe(2);
    expect((await probe("app-01", "203.0.113.70", 5986)).allowed).toBe(true);
    expect((await probe("app-01", "203.0.113.10", 5986)).allowed).toBe(false);
    expect((await probe("app-02", "198.51.100.9", 3389)).allowed).toBe(true);
    const priorities = (await securityRules("rg-web", "nsg-app"))
      .filter((r) => r.properties.access === "Allow" && r.name.startsWith("SecurityCenter"))
      .map((r) => r.properties.priority);
    expect(priorities).toEqual([100, 101]);
  });
});

describe("Azure's validation on initiate (plain fetch)", () => {
  const path = policyPath("rg-web", "westeurope");
  const cases: [string, unknown, number, string][] = [
    [
      "port not in the policy",
      initiateBody("web-01", "rg-web", 3389, "198.51.100.7", HOUR),
      400,
      "InvalidInitiateInput",
    ],
    [
      "end time beyond maxRequestAccessDuration",
      initiateBody("web-02", "rg-web", 22, "203.0.113.7", 2 * HOUR),
      400,
      "InvalidInitiateInput",
    ],
    [
      "end time in the past",
      initiateBody("web-01", "rg-web", 22, "198.51.100.7", -60_000),
      400,
      "InvalidInitiateInput",
    ],
    [
      "source outside the allowed prefix",
      initiateBody("web-02", "rg-web", 22, "198.51.100.7", HOUR),
      400,
      "InvalidInitiateInput",
    ],
    [
      "'*' where the rule is restricted",
      initiateBody("web-02", "rg-web", 22, "*", HOUR),
      400,
      "InvalidInitiateInput",
    ],
    [
      "VM not in the policy",
      initiateBody("db-01", "rg-data", 22, "198.51.100.7", HOUR),
      400,
      "InvalidInitiateInput",
    ],
    [
      "neither endTimeUtc nor duration",
      { virtualMachines: [{ id: vmId("rg-web", "web-01"), ports: [{ number: 22 }] }] },
      400,
      "InvalidInitiateInput",
    ],
  ];
  for (const [name, body, status, code] of cases) {
    it(`${name} → ${status} ${code}`, async () => {
      const res = await arm("POST", `${path}/initiate`, body);
      expect(res.status).toBe(status);
      expect((res.json.error as { code: string }).code).toBe(code);
      expect(typeof (res.json.error as { message: string }).message).toBe("string");
    });
  }

  it("an end time past the maximum is refused, even by seconds (no tolerance is invented); exactly the maximum passes", async () => {
    const over = await arm(
      "POST",
      `${path}/initiate`,
      initiateBody("web-02", "rg-web", 22, "203.0.113.7", HOUR + 1_000),
    );
    expect(over.status).toBe(400);
    expect((over.json.error as { code: string }).code).toBe("InvalidInitiateInput");
    const exact = await arm(
      "POST",
      `${path}/initiate`,
      initiateBody("web-02", "rg-web", 22, "203.0.113.7", HOUR),
    );
    expect(exact.status).toBe(202);
  });

  it("no source prefix → the caller's own address (the spec), checked against the rule", async () => {
    const omitted = (vm: string) => ({
      virtualMachines: [
        {
          id: vmId("rg-web", vm),
          ports: [{ number: 22, endTimeUtc: new Date(T0.getTime() + HOUR).toISOString() }],
        },
      ],
    });
    // web-01 allows "*": the request is for the caller, 127.0.0.1 here — not for "*".
    const open = await arm("POST", `${path}/initiate`, omitted("web-01"));
    expect(open.status).toBe(202);
    const port = (open.json.virtualMachines as { ports: { allowedSourceAddressPrefix?: string }[] }[])[0]
      ?.ports[0];
    expect(port?.allowedSourceAddressPrefix).toBe("127.0.0.1");
    // web-02 allows 203.0.113.0/24 only: the caller's address is outside it.
    const refused = await arm("POST", `${path}/initiate`, omitted("web-02"));
    expect(refused.status).toBe(400);
    expect((refused.json.error as { message: string }).message).toContain("127.0.0.1");
  });

  it("accepts `duration` instead of endTimeUtc, as the live service does", async () => {
    const res = await arm("POST", `${path}/initiate`, {
      virtualMachines: [
        {
          id: vmId("rg-web", "web-01"),
          ports: [{ number: 22, duration: "PT2H", allowedSourceAddressPrefix: "198.51.100.7" }],
        },
      ],
    });
    expect(res.status).toBe(202);
    const port = (res.json.virtualMachines as { ports: { endTimeUtc: string }[] }[])[0]?.ports[0];
    expect(port?.endTimeUtc).toBe(new Date(T0.getTime() + 2 * HOUR).toISOString());
  });

  it("a missing policy → 404 PolicyNotFound; missing resource group/VM → 404; unknown subscription → 404", async () => {
    const res = await arm(
      "POST",
      `${policyPath("rg-web", "northeurope")}/initiate`,
      initiateBody("web-01", "rg-web", 22, "198.51.100.7", HOUR),
    );
    expect([res.status, (res.json.error as { code: string }).code]).toEqual([404, "PolicyNotFound"]);
    const rg = await arm(
      "GET",
      `/subscriptions/${SUB}/resourceGroups/rg-nope/providers/Microsoft.Compute/virtualMachines`,
    );
    expect([rg.status, (rg.json.error as { code: string }).code]).toEqual([404, "ResourceGroupNotFound"]);
    const vm = await arm(
      "GET",
      `/subscriptions/${SUB}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/nope-01`,
    );
    expect([vm.status, (vm.json.error as { code: string }).code]).toEqual([404, "ResourceNotFound"]);
    const sub = await arm(
      "GET",
      "/subscriptions/11111111-1111-4111-8111-111111111111/providers/Microsoft.Compute/virtualMachines",
    );
    expect([sub.status, (sub.json.error as { code: string }).code]).toEqual([404, "SubscriptionNotFound"]);
  });

  it("no Authorization header → 401 AuthenticationFailed; SDK errors carry statusCode and code", async () => {
    const res = await fetch(
      `${sim.url}/subscriptions/${SUB}/providers/Microsoft.Security/jitNetworkAccessPolicies?api-version=2020-01-01`,
    );
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("AuthenticationFailed");
    await expect(
      sdk.security.jitNetworkAccessPolicies.get("rg-web", "westeurope", "nope"),
    ).rejects.toMatchObject({
      statusCode: 404,
      code: "PolicyNotFound",
    });
  });

  it("a wrong Microsoft.Security api-version is refused", async () => {
    const res = await fetch(
      `${sim.url}/subscriptions/${SUB}/providers/Microsoft.Security/jitNetworkAccessPolicies?api-version=2015-06-01-preview`,
      {
        headers: { authorization: "Bearer dev" },
      },
    );
    expect(res.status).toBe(400);
  });
});

describe("JIT lifecycle: supersede and expiry", () => {
  const path = policyPath("rg-web", "westeurope");

  it("firewall-fronted VM: mappedPort on the 202 response's ports and in the history, never on the policy's rules", async () => {
    const res = await arm(
      "POST",
      `${path}/initiate`,
      initiateBody("sftp-01", "rg-web", 22, "198.51.100.7", HOUR),
    );
    expect(res.status).toBe(202);
    const ports = (res.json.virtualMachines as { ports: { number: number; mappedPort?: number }[] }[])[0]
      ?.ports;
    expect(ports?.[0]).toMatchObject({ number: 22, mappedPort: 50022 });
    const policy = (await arm("GET", path)).json.properties as {
      virtualMachines: { id: string; ports: Record<string, unknown>[]; publicIpAddress?: string }[];
      requests: { virtualMachines: { id: string; ports: { mappedPort?: number }[] }[] }[];
    };
    const sftp = policy.virtualMachines.find((vm) => vm.id.endsWith("/sftp-01"));
    expect(sftp?.publicIpAddress).toBe("203.0.113.10");
    expect(sftp?.ports[0]).not.toHaveProperty("mappedPort");
    const entry = policy.requests.at(-1)?.virtualMachines[0]?.ports[0];
    expect(entry?.mappedPort).toBe(50022);
    // A VM that is not firewall-fronted gets none.
    const web = await arm(
      "POST",
      `${path}/initiate`,
      initiateBody("web-01", "rg-web", 22, "198.51.100.7", HOUR),
    );
    expect(
      (web.json.virtualMachines as { ports: Record<string, unknown>[] }[])[0]?.ports[0],
    ).not.toHaveProperty("mappedPort");
  });

  it("a policy PUT with mappedPort on a rule drops it, as an unknown property", async () => {
    const put = await arm("PUT", path, {
      kind: "Basic",
      properties: {
        virtualMachines: [
          {
            id: vmId("rg-web", "sftp-01"),
            publicIpAddress: "203.0.113.10",
            ports: [
              {
                number: 22,
                protocol: "TCP",
                allowedSourceAddressPrefix: "*",
                maxRequestAccessDuration: "PT1H",
                mappedPort: 1,
              },
            ],
          },
        ],
      },
    });
    expect(put.status).toBe(200);
    const vms = (put.json.properties as { virtualMachines: { ports: Record<string, unknown>[] }[] })
      .virtualMachines;
    expect(vms[0]?.ports[0]).not.toHaveProperty("mappedPort");
    // The firewall keeps forwarding its own port for this VM.
    const res = await arm(
      "POST",
      `${path}/initiate`,
      initiateBody("sftp-01", "rg-web", 22, "198.51.100.7", HOUR),
    );
    expect(
      (res.json.virtualMachines as { ports: { mappedPort?: number }[] }[])[0]?.ports[0]?.mappedPort,
    ).toBe(50022);
  });

  it("NSGs on NIC and subnet: JIT's Deny and Allow land in both, with the names and priorities tenants show", async () => {
    const jit = async (nsg: string) =>
      (await securityRules("rg-data", nsg)).filter((r) => r.name.startsWith("SecurityCenter-JITRule"));
    for (const nsg of ["nsg-snet-data", "nsg-db-01"]) {
      const denies = (await jit(nsg)).filter((r) => r.properties.access === "Deny");
      expect(denies.length, nsg).toBeGreaterThan(0);
      for (const deny of denies) {
        expect(deny.name).toMatch(/^SecurityCenter-JITRule_-\d+_[0-9A-F]{32}$/);
        expect(deny.properties.priority as number).toBeGreaterThan(1000);
        expect(deny.properties.priority as number).toBeLessThanOrEqual(4096);
      }
      expect(denies[0]?.properties.priority).toBe(4096);
    }
    // Closed: the subnet NSG's Deny stops it first.
    expect((await probe("db-01", "198.51.100.7", 22)).allowed).toBe(false);
    const res = await arm(
      "POST",
      `${policyPath("rg-data", "northeurope")}/initiate`,
      initiateBody("db-01", "rg-data", 22, "198.51.100.7", HOUR),
    );
    expect(res.status).toBe(202);
    for (const nsg of ["nsg-snet-data", "nsg-db-01"]) {
      const allows = (await jit(nsg)).filter((r) => r.properties.access === "Allow");
      expect(
        allows.map((r) => [r.properties.sourceAddressPrefix, r.properties.destinationPortRange]),
        nsg,
      ).toEqual([["198.51.100.7", "22"]]);
      expect(allows[0]?.name).toMatch(/^SecurityCenter-JITRule-\d+-[0-9A-F]{32}$/);
      expect(allows[0]?.properties.priority).toBe(100);
    }
    // Open only because both NSGs allow it.
    expect((await probe("db-01", "198.51.100.7", 22)).allowed).toBe(true);
  });

  it("a newer initiate for the same VM+port revokes the older one (NewerRequestInitiated) and replaces its rule", async () => {
    expect(
      (
        await arm(
          "POST",
          `${path}/initiate`,
          initiateBody("web-01", "rg-web", 22, "198.51.100.7", 3 * HOUR, "R-1"),
        )
      ).status,
    ).toBe(202);
    expect(
      (
        await arm(
          "POST",
          `${path}/initiate`,
          initiateBody("web-01", "rg-web", 22, "203.0.113.9", 10 * 60_000, "R-2"),
        )
      ).status,
    ).toBe(202);
    const policy = await sdk.security.jitNetworkAccessPolicies.get("rg-web", "westeurope", "default");
    expect(
      policy.requests?.map((r) => [
        r.justification,
        r.virtualMachines[0]?.ports[0]?.status,
        r.virtualMachines[0]?.ports[0]?.statusReason,
      ]),
    ).toEqual([
      ["R-1", "Revoked", "NewerRequestInitiated"],
      ["R-2", "Initiated", "UserRequested"],
    ]);
    const allows = (await securityRules("rg-web", "nsg-web")).filter(
      (r) => r.properties.access === "Allow" && r.name.startsWith("SecurityCenter"),
    );
    expect(allows.map((r) => r.properties.sourceAddressPrefix)).toEqual(["203.0.113.9"]);
    expect((await probe("web-01", "198.51.100.7", 22)).allowed).toBe(false);
    expect((await probe("web-01", "203.0.113.9", 22)).allowed).toBe(true);
  });

  it("at endTimeUtc (simulator clock) the entry becomes Revoked/Expired and the port closes", async () => {
    await arm("POST", `${path}/initiate`, initiateBody("web-01", "rg-web", 22, "198.51.100.7", 30 * 60_000));
    expect((await probe("web-01", "198.51.100.7", 22)).allowed).toBe(true);
    const clock = await control("POST", "clock", { advanceMs: 29 * 60_000 });
    expect(clock.json).toEqual({
      now: new Date(T0.getTime() + 29 * 60_000).toISOString(),
      offsetMs: 29 * 60_000,
    });
    expect((await probe("web-01", "198.51.100.7", 22)).allowed).toBe(true);
    await control("POST", "clock", { advanceMs: 60_000 });
    const denied = await probe("web-01", "198.51.100.7", 22);
    expect(denied.allowed).toBe(false);
    expect(denied.rule).toMatch(/^SecurityCenter-JITRule_/);
    const policy = await sdk.security.jitNetworkAccessPolicies.get("rg-web", "westeurope", "default");
    expect(policy.requests?.[0]?.virtualMachines[0]?.ports[0]).toMatchObject({
      status: "Revoked",
      statusReason: "Expired",
    });
    const allows = (await securityRules("rg-web", "nsg-web")).filter(
      (r) => r.properties.access === "Allow" && r.name.startsWith("SecurityCenter"),
    );
    expect(allows).toEqual([]);
    expect((await control("GET", "clock")).json.offsetMs).toBe(30 * 60_000);
  });

  it("JIT rules on a subnet NSG: db-01 opens for its source; other NSG rules still apply", async () => {
    expect((await probe("db-01", "198.51.100.7", 5432)).allowed).toBe(false);
    // The fleet's own Allow at priority 300 (app subnet → Postgres) comes before the JIT Deny at 4095.
    expect((await probe("db-01", "10.10.2.4", 5432)).allowed).toBe(true);
    const res = await arm(
      "POST",
      `${policyPath("rg-data", "northeurope")}/initiate`,
      initiateBody("db-01", "rg-data", 5432, "203.0.113.0/28", HOUR),
    );
    expect(res.status).toBe(202);
    expect((await probe("db-01", "203.0.113.5", 5432)).allowed).toBe(true);
    expect((await probe("db-02", "203.0.113.5", 5432)).allowed).toBe(false);
  });

  it("PUT and DELETE a policy: deny rules follow the policy", async () => {
    const put = await arm("PUT", policyPath("rg-data", "northeurope", "default"), {
      kind: "Basic",
      properties: {
        virtualMachines: [
          {
            id: vmId("rg-data", "db-02"),
            ports: [
              {
                number: 22,
                protocol: "TCP",
                allowedSourceAddressPrefix: "*",
                maxRequestAccessDuration: "PT1H",
              },
            ],
          },
        ],
      },
    });
    expect(put.status).toBe(200);
    const denies = (await securityRules("rg-data", "nsg-snet-data")).filter((r) =>
      r.name.startsWith("SecurityCenter-JITRule_"),
    );
    expect(denies.map((r) => r.properties.destinationAddressPrefix)).toEqual(["10.20.1.5"]);
    const del = await arm("DELETE", policyPath("rg-data", "northeurope", "default"));
    expect(del.status).toBe(200);
    expect((await arm("DELETE", policyPath("rg-data", "northeurope", "default"))).status).toBe(204);
    expect(
      (await securityRules("rg-data", "nsg-snet-data")).some((r) => r.name.startsWith("SecurityCenter")),
    ).toBe(false);
    const bad = await arm("PUT", policyPath("rg-data", "northeurope", "x"), {
      properties: {
        virtualMachines: [
          {
            id: vmId("rg-data", "db-02"),
            ports: [
              {
                number: 22,
                protocol: "TCP",
                allowedSourceAddressPrefix: "*",
                maxRequestAccessDuration: "P2D",
              },
            ],
          },
        ],
      },
    });
    expect(bad.status).toBe(400);
  });
});

describe("eligibility signals in ARM JSON", () => {
  it("classic VM: listed only under Microsoft.ClassicCompute", async () => {
    const res = await arm("GET", `/subscriptions/${SUB}/providers/Microsoft.ClassicCompute/virtualMachines`);
    const value = res.json.value as { id: string; type: string; name: string }[];
    expect(value.map((v) => [v.name, v.type])).toEqual([
      ["legacy-01", "Microsoft.ClassicCompute/virtualMachines"],
    ]);
    const resources = await arm(
      "GET",
      `/subscriptions/${SUB}/resources?$filter=resourceType eq 'Microsoft.ClassicCompute/virtualMachines'`,
    );
    expect((resources.json.value as unknown[]).length).toBe(1);
  });

  it("no NSG: legacy-02's NIC and subnet reference none", async () => {
    const nic = await sdk.network.networkInterfaces.get("rg-legacy", "legacy-02-nic");
    expect(nic.networkSecurityGroup).toBeUndefined();
    const subnet = await sdk.network.subnets.get("rg-web", "vnet-weu", "snet-legacy");
    expect(subnet.networkSecurityGroup).toBeUndefined();
    expect((await probe("legacy-02", "192.0.2.1", 22)).allowed).toBe(true);
  });

  it("firewall managed by a Firewall Policy: hub-app-01's subnet routes to afw-neu, which has firewallPolicy", async () => {
    const subnet = await sdk.network.subnets.get("rg-data", "vnet-neu", "snet-hub-spoke");
    const rtName = subnet.routeTable?.id?.split("/").pop() ?? "";
    const rt = await sdk.network.routeTables.get("rg-data", rtName);
    const hop = rt.routes?.find((r) => r.addressPrefix === "0.0.0.0/0");
    expect(hop?.nextHopType).toBe("VirtualAppliance");
    const fw = await sdk.network.azureFirewalls.get("rg-data", "afw-neu");
    expect(fw.ipConfigurations?.[0]?.privateIPAddress).toBe(hop?.nextHopIpAddress);
    expect(fw.firewallPolicy?.id).toMatch(/firewallPolicies\/fwp-hub-neu$/);
    const classic = await sdk.network.azureFirewalls.get("rg-web", "afw-weu");
    expect(classic.firewallPolicy).toBeUndefined();
    expect(classic.natRuleCollections).toEqual([]);
  });
});

describe("faults and the control API", () => {
  it("429 with Retry-After: the SDK waits and retries; the log shows both calls", async () => {
    await control("POST", "faults", {
      match: { pathIncludes: "jitNetworkAccessPolicies" },
      kind: "429",
      retryAfterSeconds: 1,
    });
    const started = Date.now();
    const all = await collect(sdk.security.jitNetworkAccessPolicies.list());
    expect(all).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const log = (await control("GET", "requests?pathIncludes=jitNetworkAccessPolicies")).json.value as {
      status: number;
      fault?: string;
    }[];
    expect(log.map((r) => r.status)).toEqual([429, 200]);
  });

  it("429 / 500 reach plain fetch with CloudError bodies and Retry-After", async () => {
    await control("POST", "faults", [{ kind: "429", retryAfterSeconds: 7 }, { kind: "500" }]);
    const first = await arm("GET", `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`);
    expect([
      first.status,
      first.headers.get("retry-after"),
      (first.json.error as { code: string }).code,
    ]).toEqual([429, "7", "TooManyRequests"]);
    const second = await arm("GET", `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`);
    expect([second.status, (second.json.error as { code: string }).code]).toEqual([
      500,
      "InternalServerError",
    ]);
    expect(
      (await arm("GET", `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`)).status,
    ).toBe(200);
  });

  it("drop closes the connection; latency delays the answer; DELETE clears the queue", async () => {
    await control("POST", "faults", { kind: "drop" });
    await expect(
      arm("GET", `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`),
    ).rejects.toThrow();
    await control("POST", "faults", { kind: "latency", latencyMs: 300 });
    const started = Date.now();
    expect(
      (await arm("GET", `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`)).status,
    ).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await control("POST", "faults", { kind: "500", times: 5 });
    expect(((await control("GET", "faults")).json.value as unknown[]).length).toBe(1);
    expect((await control("DELETE", "faults")).status).toBe(204);
    expect(
      (await arm("GET", `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`)).status,
    ).toBe(200);
  });

  it("a 500 after the initiate took effect: the SDK retries the POST, and Azure records two requests", async () => {
    await control("POST", "faults", {
      match: { method: "POST", pathIncludes: "/initiate" },
      kind: "500",
      when: "after",
    });
    await sdk.security.jitNetworkAccessPolicies.initiate("rg-web", "westeurope", "default", {
      virtualMachines: [
        {
          id: vmId("rg-web", "web-01"),
          ports: [
            {
              number: 22,
              endTimeUtc: new Date(T0.getTime() + HOUR),
              allowedSourceAddressPrefix: "198.51.100.7",
            },
          ],
        },
      ],
      justification: "R-99",
    });
    const log = (await control("GET", "requests?pathIncludes=/initiate")).json.value as { status: number }[];
    expect(log.map((r) => r.status)).toEqual([500, 202]);
    const policy = await sdk.security.jitNetworkAccessPolicies.get("rg-web", "westeurope", "default");
    expect(policy.requests?.map((r) => r.justification)).toEqual(["R-99", "R-99"]);
  });

  it("clock can be set to an instant and reset", async () => {
    const set = await control("POST", "clock", { now: "2026-11-23T00:00:00Z" });
    expect(set.json.now).toBe("2026-11-23T00:00:00.000Z");
    expect((await control("POST", "clock", { offsetMs: 5 })).json.offsetMs).toBe(5);
    expect((await control("POST", "clock", { bogus: 1 })).status).toBe(400);
    await control("POST", "reset");
    expect((await control("GET", "clock")).json.offsetMs).toBe(0);
  });

  it("probe needs vm, source and port; unknown VMs are 404", async () => {
    expect((await control("GET", "probe?vm=web-01")).status).toBe(400);
    expect((await control("GET", "probe?vm=nope&source=1.2.3.4&port=22")).status).toBe(404);
    expect((await control("GET", "probe?vm=legacy-01&source=1.2.3.4&port=22")).status).toBe(400);
  });
});

describe("the official REST examples (shared/azure-examples)", () => {
  const dir = resolve(import.meta.dirname, "..", "fixtures", "azure-examples");
  const example = (file: string) =>
    JSON.parse(readFileSync(resolve(dir, file), "utf8")) as {
      parameters: Record<string, string> & { body?: unknown };
      responses: Record<string, { body: Record<string, unknown> }>;
    };
  const EXAMPLE_SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23";
  let exSim: RunningSimulator;
  let base = new Date("2018-05-17T08:30:00Z");

  beforeAll(async () => {
    exSim = await startSimulator({
      fleet: { ...loadFleet(), subscriptionId: EXAMPLE_SUB },
      now: () => base,
      role: OPERATOR_ROLE,
    });
  });
  afterAll(async () => {
    await exSim.close();
  });

  /** Keys and value types, recursively (arrays by their first element): "the same shape". */
  function shape(x: unknown): unknown {
    if (Array.isArray(x)) return x.length > 0 ? [shape(x[0])] : [];
    if (x !== null && typeof x === "object") {
      return Object.fromEntries(
        Object.keys(x)
          .sort()
          .map((k) => [k, shape((x as Record<string, unknown>)[k])]),
      );
    }
    return typeof x;
  }

  async function call(method: string, p: Record<string, string>, suffix = "", body?: unknown) {
    const path = `/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroupName}/providers/Microsoft.Security/locations/${p.ascLocation}/jitNetworkAccessPolicies/${p.jitNetworkAccessPolicyName}${suffix}`;
    const res = await fetch(`${exSim.url}${path}?api-version=${p["api-version"]}`, {
      method,
      headers: { authorization: "Bearer example", "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  it("Create: PUT the example body → 200 with exactly the example response", async () => {
    base = new Date("2018-05-17T08:30:00Z");
    const ex = example("CreateJitNetworkAccessPolicy_example.json");
    const res = await call("PUT", ex.parameters, "", ex.parameters.body);
    expect(res.status).toBe(200);
    expect(res.json).toEqual(ex.responses["200"]?.body);
  });

  it("Get and List (subscription): same bodies as the examples", async () => {
    base = new Date("2018-05-17T08:30:00Z");
    const get = example("GetJitNetworkAccessPolicy_example.json");
    const expected = get.responses["200"]?.body ?? {};
    const { provisioningState: _, ...properties } = expected.properties as Record<string, unknown>;
    await call("PUT", get.parameters, "", { kind: expected.kind, properties });
    const res = await call("GET", get.parameters);
    expect(res.status).toBe(200);
    expect(res.json).toEqual(expected);

    const list = example("GetJitNetworkAccessPoliciesSubscription_example.json");
    const listed = await fetch(
      `${exSim.url}/subscriptions/${list.parameters.subscriptionId}/providers/Microsoft.Security/jitNetworkAccessPolicies?api-version=2020-01-01`,
      { headers: { authorization: "Bearer example" } },
    );
    const body = (await listed.json()) as { value: { id: string }[] };
    const mine = body.value.filter((p) => p.id.includes("/myRg1/"));
    expect({ value: mine }).toEqual(list.responses["200"]?.body);
  });

  it("Initiate: the example request → 202 in the example's shape (status Initiated, not the example's 'Initiating')", async () => {
    const create = example("CreateJitNetworkAccessPolicy_example.json");
    base = new Date("2018-07-12T08:53:03.365Z");
    await call("PUT", create.parameters, "", create.parameters.body);
    const ex = example("InitiateJitNetworkAccessPolicy_example.json");
    const res = await call("POST", ex.parameters, "/initiate", ex.parameters.body);
    expect(res.status).toBe(202);
    const expected = ex.responses["202"]?.body ?? {};
    expect(shape(res.json)).toEqual(shape(expected));
    const port = (res.json.virtualMachines as { ports: Record<string, unknown>[] }[])[0]?.ports[0];
    expect(port).toEqual({
      number: 3389,
      allowedSourceAddressPrefix: "192.127.0.2",
      endTimeUtc: "2018-07-12T09:53:03.3658798Z",
      status: "Initiated",
      statusReason: "UserRequested",
    });
    expect(res.json.justification).toBe("testing a new version of the product");
  });
});
