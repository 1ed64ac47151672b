/**
 * The JitGateway through the real Azure SDK clients against the ARM simulator, plus the
 * unit-level checks of its mapping (official spec examples), error mapping and credentials.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  createHttpHeaders,
  createPipelineRequest,
  type PipelineResponse,
  RestError,
} from "@azure/core-rest-pipeline";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { JitGateway } from "../../src/app/ports.ts";
import { armAuth, DEV_TOKEN, devTokenPolicy, parseArmEndpoint } from "../../src/azure/credentials.ts";
import { cleanAzureMessage, isOutcomeUnknown, toPortcullisError } from "../../src/azure/errors.ts";
import { createJitGateway } from "../../src/azure/jit-gateway.ts";
import {
  policyVms,
  sameVm,
  toRequestRecords,
  toVmPolicy,
  type WirePolicy,
  type WireRequest,
} from "../../src/azure/mapping.ts";
import { ErrorCode, PortcullisError } from "../../src/domain/errors.ts";
import { inboundAccess } from "../../src/domain/inbound-access.ts";
import type { JitState } from "../../src/domain/vm.ts";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";

// The official REST spec examples, copied from shared/azure-examples into the repository.
const examplesDir = resolve(import.meta.dirname, "..", "fixtures", "azure-examples");

function example(name: string): {
  parameters: Record<string, unknown>;
  responses: Record<string, { body: unknown }>;
} {
  return JSON.parse(readFileSync(resolve(examplesDir, name), "utf8"));
}

const EXAMPLE_VM =
  "/subscriptions/20ff7fc3-e762-44dd-bd96-b71116dcdc23/resourceGroups/myRg1/providers/Microsoft.Compute/virtualMachines/vm1";

describe("official Azure examples through the gateway's mapping", () => {
  it("Get: rules, normalised prefixes, dated history narrowed to the VM", () => {
    const body = example("GetJitNetworkAccessPolicy_example.json").responses["200"]?.body as WirePolicy;
    const policy = toVmPolicy(body, EXAMPLE_VM.toUpperCase());
    expect(policy).toMatchObject({
      policyName: "default",
      resourceGroup: "myRg1",
      location: "westeurope",
      rules: [
        { number: 22, protocol: "*", allowedSourceAddressPrefixes: ["*"], maxRequestAccessDuration: "PT3H" },
        {
          number: 3389,
          protocol: "*",
          allowedSourceAddressPrefixes: ["*"],
          maxRequestAccessDuration: "PT3H",
        },
      ],
    });
    expect(policy?.requests).toHaveLength(1);
    const request = policy?.requests[0];
    expect(request?.startTimeUtc).toEqual(new Date("2018-05-17T08:06:45.569Z"));
    expect(request?.requestor).toBe("barbara@contoso.com");
    expect(request?.justification).toBe("testing a new version of the product");
    expect(request?.ports[0]).toEqual({
      number: 3389,
      allowedSourceAddressPrefix: "192.127.0.2",
      endTimeUtc: new Date("2018-05-17T09:06:45.569Z"),
      status: "Initiated",
      statusReason: "UserRequested",
    });
  });

  it("Get: a VM the policy does not list → undefined", () => {
    const body = example("GetJitNetworkAccessPolicy_example.json").responses["200"]?.body as WirePolicy;
    expect(toVmPolicy(body, EXAMPLE_VM.replace("vm1", "vm2"))).toBeUndefined();
  });

  it("List (subscription): every policy's VMs are readable", () => {
    const body = example("GetJitNetworkAccessPoliciesSubscription_example.json").responses["200"]?.body as {
      value: WirePolicy[];
    };
    expect(body.value.flatMap((p) => policyVms(p).map((vm) => vm.id))).toEqual([EXAMPLE_VM]);
  });

  it("Initiate: 'Initiating' status and the foreign subscription id do not get in the way", () => {
    const response = example("InitiateJitNetworkAccessPolicy_example.json").responses["202"]
      ?.body as WireRequest;
    const responseVmId = response.virtualMachines?.[0]?.id ?? "";
    expect(responseVmId).not.toContain("20ff7fc3");
    expect(sameVm(responseVmId, EXAMPLE_VM)).toBe(true);
    const records = toRequestRecords(response, EXAMPLE_VM);
    expect(records).toHaveLength(1);
    expect(records[0]?.ports[0]).toEqual({
      number: 3389,
      allowedSourceAddressPrefix: "192.127.0.2",
      endTimeUtc: new Date("2018-07-12T09:53:03.365Z"),
      status: "Initiating",
      statusReason: "UserRequested",
    });
    expect(records[0]?.startTimeUtc.toISOString()).toBe("2018-07-12T08:53:03.365Z");
  });

  it("VM identity: case-insensitive, resource group + name across subscriptions, never across groups", () => {
    expect(sameVm(EXAMPLE_VM, EXAMPLE_VM.toLowerCase())).toBe(true);
    expect(sameVm(EXAMPLE_VM, EXAMPLE_VM.replace("myRg1", "myRg2"))).toBe(false);
    expect(sameVm(EXAMPLE_VM, EXAMPLE_VM.replace("vm1", "vm10"))).toBe(false);
  });
});

describe("mapping edge cases", () => {
  it("allowedSourceAddressPrefixes is kept as the list; a single prefix becomes a one-item list", () => {
    const policy = toVmPolicy(
      {
        id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Security/locations/weu/jitNetworkAccessPolicies/default",
        virtualMachines: [
          {
            id: EXAMPLE_VM,
            ports: [
              {
                number: 5986,
                protocol: "TCP",
                allowedSourceAddressPrefixes: ["203.0.113.0/24", "198.51.100.0/24"],
                maxRequestAccessDuration: "PT1H",
              },
              {
                number: 22,
                protocol: "TCP",
                allowedSourceAddressPrefix: "10.0.0.0/8",
                maxRequestAccessDuration: "PT1H",
              },
              { number: 2222, protocol: "TCP", maxRequestAccessDuration: "PT1H" },
            ],
            publicIpAddress: "203.0.113.10",
          },
        ],
      },
      EXAMPLE_VM,
    );
    expect(policy?.rules.map((r) => r.allowedSourceAddressPrefixes)).toEqual([
      ["203.0.113.0/24", "198.51.100.0/24"],
      ["10.0.0.0/8"],
      ["*"],
    ]);
    // mappedPort is a request-port property (spec): a rule never carries one.
    expect(policy?.rules[2]).not.toHaveProperty("mappedPort");
    expect(policy?.publicIpAddress).toBe("203.0.113.10");
    expect(policy?.location).toBe("weu");
  });

  it("an unparseable date is a clear TypeError, not an Invalid Date", () => {
    expect(() =>
      toRequestRecords({
        startTimeUtc: "yesterday-ish",
        virtualMachines: [],
      }),
    ).toThrow(/startTimeUtc is not a date/);
  });
});

function restError(statusCode: number | undefined, code: string | undefined, message: string, headers = {}) {
  const request = createPipelineRequest({ url: "https://management.azure.com/x" });
  const response: PipelineResponse | undefined =
    statusCode === undefined
      ? undefined
      : { status: statusCode, headers: createHttpHeaders(headers), request };
  return new RestError(message, {
    ...(statusCode === undefined ? {} : { statusCode }),
    ...(code === undefined ? {} : { code }),
    ...(response ? { response } : {}),
    request,
  });
}

describe("Azure errors → PortcullisError with a sentence", () => {
  const policy = { resourceGroup: "rg-web", location: "westeurope", name: "default" };

  const cases: [string, unknown, Parameters<typeof toPortcullisError>[1], ErrorCode, RegExp][] = [
    [
      "404 PolicyNotFound on a policy call",
      restError(404, "PolicyNotFound", "Policy not found"),
      { action: "read the JIT policy of web-01", vmName: "web-01", policy },
      ErrorCode.PolicyNotFound,
      /^web-01 has no JIT policy any more/,
    ],
    [
      "404 on a VM read",
      restError(
        404,
        "ResourceNotFound",
        "The Resource 'Microsoft.Compute/virtualMachines/web-01' was not found",
      ),
      { action: "read web-01", vmName: "web-01" },
      ErrorCode.VmNotFound,
      /^web-01 was not found in Azure any more/,
    ],
    [
      "400 InvalidInitiateInput",
      restError(
        400,
        "InvalidInitiateInput",
        "The requested end time exceeds the maximum request access duration\n of PT3H",
      ),
      { action: "open JIT access to web-01", policy },
      ErrorCode.AzureRefused,
      /^Azure refused to open JIT access to web-01: The requested end time exceeds the maximum request access duration of PT3H\.$/,
    ],
    [
      "403 AuthorizationFailed",
      restError(403, "AuthorizationFailed", "The client 'x' does not have authorization"),
      { action: "open JIT access to web-01", policy },
      ErrorCode.AzureForbidden,
      /not allowed to open JIT access to web-01; ask an admin to assign the Portcullis role/,
    ],
    [
      "401",
      restError(401, "InvalidAuthenticationToken", "bad token"),
      { action: "read JIT policies" },
      ErrorCode.AzureForbidden,
      /not allowed to read JIT policies/,
    ],
    [
      "429 with Retry-After",
      restError(429, "TooManyRequests", "slow down", { "retry-after": "17" }),
      { action: "read JIT policies" },
      ErrorCode.AzureThrottled,
      /Try again in 17 seconds\.$/,
    ],
    [
      "500",
      restError(500, "InternalServerError", "{}"),
      { action: "read JIT policies" },
      ErrorCode.AzureUnavailable,
      /^Azure is unavailable right now/,
    ],
    [
      "connection reset",
      restError(undefined, "ECONNRESET", "socket hang up"),
      { action: "read JIT policies" },
      ErrorCode.AzureUnavailable,
      /^Azure is unavailable right now/,
    ],
    [
      "timeout (AbortError)",
      Object.assign(new Error("The operation was aborted."), { name: "AbortError" }),
      { action: "read JIT policies" },
      ErrorCode.AzureUnavailable,
      /did not answer in time/,
    ],
  ];

  for (const [name, error, context, code, sentence] of cases) {
    it(`${name} → ${code}`, () => {
      const mapped = toPortcullisError(error, context);
      expect(mapped).toBeInstanceOf(PortcullisError);
      expect(mapped.code).toBe(code);
      expect(mapped.userMessage).toMatch(sentence);
      expect(mapped.userMessage).not.toMatch(/[{}]/);
      expect(mapped.cause).toBe(error);
    });
  }

  it("a JSON blob as message never reaches the user", () => {
    const mapped = toPortcullisError(restError(409, "Conflict", '{"error":{"code":"X","message":"busy"}}'), {
      action: "open JIT access to web-01",
    });
    expect(mapped.userMessage).toBe("Azure refused to open JIT access to web-01: Busy.");
    expect(cleanAzureMessage("{not json")).toBeUndefined();
    expect(
      cleanAzureMessage(
        "Port 3389 is not configured for '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web-01'",
      ),
    ).toBe("Port 3389 is not configured for 'web-01'.");
  });

  it("outcome unknown: network errors, timeouts and 5xx; not 4xx", () => {
    expect(isOutcomeUnknown(restError(undefined, "ECONNRESET", "x"))).toBe(true);
    expect(isOutcomeUnknown(restError(503, "ServiceUnavailable", "x"))).toBe(true);
    expect(isOutcomeUnknown(Object.assign(new Error("t"), { name: "AbortError" }))).toBe(true);
    expect(isOutcomeUnknown(restError(400, "InvalidInitiateInput", "x"))).toBe(false);
    expect(isOutcomeUnknown(restError(429, "TooManyRequests", "x"))).toBe(false);
    expect(isOutcomeUnknown(new TypeError("bug"))).toBe(false);
  });
});

describe("ARM endpoint and credentials", () => {
  it("loopback http is accepted for 127.x, localhost and [::1]", () => {
    for (const url of [
      "http://127.0.0.1:3979",
      "http://localhost:3979/",
      "http://[::1]:3979",
      "http://127.1.2.3",
    ]) {
      expect(parseArmEndpoint(url).loopback).toBe(true);
    }
    expect(parseArmEndpoint("http://localhost:3979/").url).toBe("http://localhost:3979");
  });

  it("https is accepted and not loopback; sovereign clouds get their own token scope", () => {
    expect(parseArmEndpoint("https://management.azure.com/")).toEqual({
      url: "https://management.azure.com",
      loopback: false,
    });
    const auth = armAuth("https://management.usgovcloudapi.net", {
      getToken: async () => ({ token: "t", expiresOnTimestamp: 0 }),
    });
    expect(auth.credentialScopes).toEqual(["https://management.usgovcloudapi.net/.default"]);
  });

  it("plain http elsewhere is refused with a sentence that says what is allowed", () => {
    expect(() => parseArmEndpoint("http://management.azure.com")).toThrow(
      /plain http on a non-loopback host/,
    );
    expect(() => parseArmEndpoint("http://10.0.0.5:3979")).toThrow(/Only https is allowed/);
    expect(() => parseArmEndpoint("http://localhost.evil.example")).toThrow(/non-loopback/);
    expect(() => parseArmEndpoint("ftp://127.0.0.1")).toThrow(/must be an https/);
    expect(() => parseArmEndpoint("not a url")).toThrow(/is not a URL/);
  });

  it("a loopback endpoint never gets the caller's credential", async () => {
    let asked = false;
    const auth = armAuth("http://127.0.0.1:1", {
      getToken: async () => {
        asked = true;
        return { token: "REAL", expiresOnTimestamp: 0 };
      },
    });
    const token = await auth.credential.getToken("x");
    expect(token?.token).toBe(DEV_TOKEN);
    expect(asked).toBe(false);
  });

  it("the dev-token policy sets the header on loopback and refuses anything else", async () => {
    const policy = devTokenPolicy();
    const seen: (string | undefined)[] = [];
    const next = async (request: ReturnType<typeof createPipelineRequest>) => {
      seen.push(request.headers.get("authorization"));
      return { status: 200, headers: createHttpHeaders(), request };
    };
    await policy.sendRequest(createPipelineRequest({ url: "http://127.0.0.1:3979/x" }), next);
    expect(seen).toEqual([`Bearer ${DEV_TOKEN}`]);
    expect(() => policy.sendRequest(createPipelineRequest({ url: "https://evil.example/x" }), next)).toThrow(
      /Refusing to send the development token/,
    );
  });
});

// ------------------------------------------------------------------ against the ARM simulator

interface LoggedArmCall {
  readonly method: string;
  readonly path: string;
  readonly status?: number;
  readonly fault?: string;
  readonly body?: string;
}

describe("JitGateway against the ARM simulator (real Azure SDK clients)", () => {
  let sim: RunningSimulator;
  let gateway: JitGateway;

  const control = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${sim.url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.status === 204 ? undefined : response.json();
  };
  const probe = async (source: string, vm: string, port: number): Promise<boolean> =>
    ((await control("GET", `/_sim/probe?source=${source}&vm=${vm}&port=${port}`)) as { allowed: boolean })
      .allowed;
  const armCalls = async (pathIncludes: string): Promise<LoggedArmCall[]> =>
    (
      (await control("GET", `/_sim/requests?pathIncludes=${encodeURIComponent(pathIncludes)}`)) as {
        value: LoggedArmCall[];
      }
    ).value;

  const vmId = (resourceGroup: string, name: string): string =>
    `/subscriptions/${sim.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}`;
  const rgWeb = { resourceGroup: "rg-web", location: "westeurope", name: "default" };
  const inOneHour = (): Date => new Date(Date.now() + 60 * 60 * 1000);

  /** Requests in the policy's history that carry this justification, for this VM. */
  const historyFor = async (vm: string, justification: string) =>
    (await gateway.getVmPolicy(rgWeb, vmId("rg-web", vm))).requests.filter(
      (r) => r.justification === justification,
    );

  beforeAll(async () => {
    sim = await startSimulator({ port: 0 });
    gateway = createJitGateway({
      armEndpoint: sim.url,
      subscriptionId: sim.subscriptionId,
      // The SDK's retry policy as shipped, with shorter pauses so the suite stays fast.
      retryOptions: { retryDelayInMs: 20, maxRetryDelayInMs: 200 },
      reconcileDelaysMs: [0],
    });
  });
  afterAll(async () => {
    await sim?.close();
  });
  beforeEach(async () => {
    await control("POST", "/_sim/reset");
  });

  it("a non-loopback http endpoint is refused before any client is built", () => {
    expect(() => createJitGateway({ armEndpoint: "http://10.1.2.3:3979", subscriptionId: "s" })).toThrow(
      /plain http on a non-loopback host/,
    );
  });

  it("listVms classifies every fleet VM with the right state and reason", async () => {
    const vms = await gateway.listVms();
    const byName = new Map(vms.map((vm) => [vm.ref.name, vm]));
    const expected: Record<string, [JitState["kind"], RegExp?]> = {
      "web-01": ["configured"],
      "web-02": ["configured"],
      "app-01": ["configured"],
      "app-02": ["configured"],
      "sftp-01": ["configured"],
      "db-01": ["configured"],
      "jump-01": ["configured"],
      "ops-01": ["configured"],
      "db-02": ["not_configured", /nsg-snet-data on its subnet/],
      "build-01": ["not_configured", /behind Azure Firewall afw-weu \(classic rules\)/],
      "hub-app-01": ["unsupported", /afw-neu, which is managed by a Firewall Policy/],
      "legacy-01": ["unsupported", /classic \(Azure Service Manager\) VM/],
      "legacy-02": ["unsupported", /no network security group on its network interface or subnet/],
    };
    expect([...byName.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [kind, reason]] of Object.entries(expected)) {
      const jit = byName.get(name)?.jit;
      expect(jit?.kind, name).toBe(kind);
      if (reason && jit && jit.kind !== "configured") expect(jit.reason, name).toMatch(reason);
    }

    const web01 = byName.get("web-01");
    expect(web01).toMatchObject({
      ref: { resourceGroup: "rg-web", name: "web-01", subscriptionId: sim.subscriptionId },
      location: "westeurope",
      osType: "Linux",
      powerState: "running",
      connectAddress: "198.51.100.11",
      tags: { "jit-approvers": "alice@contoso.com;bob@contoso.com" },
    });
    expect(byName.get("db-02")?.powerState).toBe("deallocated");
    expect(byName.get("app-01")?.osType).toBe("Windows");
    expect(byName.get("legacy-01")).toMatchObject({ osType: "Windows", powerState: "running" });

    const sftp = byName.get("sftp-01");
    expect(sftp?.connectAddress).toBe("203.0.113.10");
    expect(sftp?.jit.kind === "configured" && sftp.jit.policy).toMatchObject({
      publicIpAddress: "203.0.113.10",
      rules: [{ number: 22 }],
    });
    expect(sftp?.jit.kind === "configured" && sftp.jit.policy.rules[0]).not.toHaveProperty("mappedPort");
    const app01 = byName.get("app-01");
    expect(app01?.jit.kind === "configured" && app01.jit.policy).toMatchObject({
      policyName: "default",
      resourceGroup: "rg-web",
      location: "westeurope",
      rules: [
        {
          number: 3389,
          protocol: "TCP",
          allowedSourceAddressPrefixes: ["*"],
          maxRequestAccessDuration: "PT2H",
        },
        { number: 5986, allowedSourceAddressPrefixes: ["203.0.113.0/24", "198.51.100.0/24"] },
      ],
    });
  });

  it("findVms matches names case-insensitively and returns nothing for unknown names", async () => {
    const found = await gateway.findVms("WEB-01");
    expect(found.map((vm) => vm.ref.id)).toEqual([vmId("rg-web", "web-01")]);
    expect(await gateway.findVms("Legacy-01")).toHaveLength(1);
    expect(await gateway.findVms("nope-99")).toEqual([]);
  });

  it("getVmPolicy returns the VM's rules; an unlisted VM or a missing policy is PolicyNotFound", async () => {
    const policy = await gateway.getVmPolicy(
      { resourceGroup: "RG-DATA", location: "northeurope", name: "default" },
      vmId("rg-data", "DB-01"),
    );
    expect(policy.rules.map((rule) => [rule.number, rule.allowedSourceAddressPrefixes])).toEqual([
      [22, ["198.51.100.0/24"]],
      [5432, ["198.51.100.0/24", "203.0.113.0/24"]],
    ]);
    expect(policy.requests).toEqual([]);

    await expect(gateway.getVmPolicy(rgWeb, vmId("rg-web", "build-01"))).rejects.toMatchObject({
      code: ErrorCode.PolicyNotFound,
      userMessage: expect.stringMatching(/^build-01 has no JIT policy any more/),
    });
    await expect(
      gateway.getVmPolicy({ ...rgWeb, name: "gone" }, vmId("rg-web", "web-01")),
    ).rejects.toMatchObject({
      code: ErrorCode.PolicyNotFound,
      userMessage: expect.stringMatching(
        /^web-01 has no JIT policy any more \(policy "gone" in rg-web\/westeurope/,
      ),
    });
  });

  it("initiate opens the port for that source only, until the end time", async () => {
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(false);
    const endTimeUtc = inOneHour();
    const records = await gateway.initiate({
      policy: rgWeb,
      virtualMachines: [
        {
          vmId: vmId("rg-web", "web-01"),
          ports: [{ number: 22, endTimeUtc, allowedSourceAddressPrefix: "203.0.113.7" }],
        },
      ],
      justification: "Portcullis R-1: INC-4211",
    });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      vmId: vmId("rg-web", "web-01"),
      justification: "Portcullis R-1: INC-4211",
      ports: [{ number: 22, allowedSourceAddressPrefix: "203.0.113.7", status: "Initiated", endTimeUtc }],
    });
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(true);
    expect(await probe("203.0.113.8", "web-01", 22)).toBe(false);

    // The window closes at the end time (the simulator's clock moves; nothing sleeps).
    await control("POST", "/_sim/clock", { advanceMs: 61 * 60 * 1000 });
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(false);
    const [latest] = await historyFor("web-01", "Portcullis R-1: INC-4211");
    expect(latest?.ports[0]).toMatchObject({ status: "Revoked", statusReason: "Expired" });
  });

  it("listInboundPaths + inboundAccess agree with the simulator's probe: JIT's Allow rule lets the address in until the end time, then JIT's Deny keeps it out (issue 11, item 7)", async () => {
    const verdict = async (vm: string, source: string, port = 22) =>
      inboundAccess(await gateway.listInboundPaths(vmId("rg-web", vm)), source, port);
    const paths = await gateway.listInboundPaths(vmId("rg-web", "web-01"));
    expect(paths.length).toBeGreaterThan(0);
    expect(paths[0]?.privateIp).toMatch(/^10\./);
    expect(paths[0]?.vnetPrefixes.length).toBeGreaterThan(0);
    expect(paths[0]?.nsgs.flatMap((nsg) => nsg.rules.map((rule) => rule.name))).toContain("DenyAllInBound");
    expect(await verdict("web-01", "203.0.113.9")).toEqual({ reachable: false });
    await gateway.initiate({
      policy: rgWeb,
      virtualMachines: [
        {
          vmId: vmId("rg-web", "web-01"),
          ports: [{ number: 22, endTimeUtc: inOneHour(), allowedSourceAddressPrefix: "203.0.113.9" }],
        },
      ],
      justification: "Portcullis R-9",
    });
    const open = await verdict("web-01", "203.0.113.9");
    expect(open.reachable).toBe(true);
    expect(open.reachable && open.via.at(-1)?.ruleName).toMatch(/^SecurityCenter-JITRule-/);
    expect(await probe("203.0.113.9", "web-01", 22)).toBe(true);
    // Another address, another VM: out; HTTPS from the Internet: in, by the standing rule.
    expect(await verdict("web-01", "203.0.113.10")).toEqual({ reachable: false });
    expect(await verdict("web-02", "203.0.113.9")).toEqual({ reachable: false });
    const https = await verdict("web-01", "203.0.113.10", 443);
    expect(https.reachable && https.via.map((via) => via.ruleName)).toContain("Allow-HTTPS-Internet");
    await control("POST", "/_sim/clock", { advanceMs: 61 * 60 * 1000 });
    expect(await verdict("web-01", "203.0.113.9")).toEqual({ reachable: false });
    expect(await probe("203.0.113.9", "web-01", 22)).toBe(false);
  });

  it("one initiate opens several VMs", async () => {
    const endTimeUtc = inOneHour();
    const records = await gateway.initiate({
      policy: rgWeb,
      virtualMachines: [
        {
          vmId: vmId("rg-web", "web-01"),
          ports: [{ number: 22, endTimeUtc, allowedSourceAddressPrefix: "203.0.113.9" }],
        },
        {
          vmId: vmId("rg-web", "web-02"),
          ports: [{ number: 22, endTimeUtc, allowedSourceAddressPrefix: "203.0.113.9" }],
        },
      ],
      justification: "Portcullis R-2",
    });
    expect(records.map((r) => r.vmId)).toEqual([vmId("rg-web", "web-01"), vmId("rg-web", "web-02")]);
    expect(await probe("203.0.113.9", "web-01", 22)).toBe(true);
    expect(await probe("203.0.113.9", "web-02", 22)).toBe(true);
    expect((await armCalls("/initiate")).filter((call) => call.method === "POST")).toHaveLength(1);
  });

  it("validation failures come back as AzureRefused with Azure's reason as a sentence", async () => {
    const ask = (vm: string, number: number, prefix: string, end: Date) =>
      gateway.initiate({
        policy: rgWeb,
        virtualMachines: [
          {
            vmId: vmId("rg-web", vm),
            ports: [{ number, endTimeUtc: end, allowedSourceAddressPrefix: prefix }],
          },
        ],
        justification: "Portcullis R-3",
      });
    const cases: [() => Promise<unknown>, RegExp][] = [
      [
        () => ask("web-01", 3389, "203.0.113.7", inOneHour()),
        /Port 3389 is not configured in the just-in-time policy/,
      ],
      [
        () => ask("web-01", 22, "203.0.113.7", new Date(Date.now() + 5 * 60 * 60 * 1000)),
        /exceeds the maximum request access duration PT3H/,
      ],
      [
        () => ask("web-02", 22, "192.0.2.1", inOneHour()),
        /is not within the allowed source address prefixes/,
      ],
      [() => ask("build-01", 22, "203.0.113.7", inOneHour()), /is not part of just-in-time policy/],
    ];
    for (const [attempt, reason] of cases) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PortcullisError);
      const mapped = error as PortcullisError;
      expect(mapped.code).toBe(ErrorCode.AzureRefused);
      expect(mapped.userMessage).toMatch(/^Azure refused to open JIT access to [\w-]+: /);
      expect(mapped.userMessage).toMatch(reason);
      expect(mapped.userMessage).not.toMatch(/[{}]/);
      expect(mapped.userMessage).not.toContain("/subscriptions/");
    }
    await expect(
      gateway.initiate({
        policy: { ...rgWeb, name: "gone" },
        virtualMachines: [
          {
            vmId: vmId("rg-web", "web-01"),
            ports: [{ number: 22, endTimeUtc: inOneHour(), allowedSourceAddressPrefix: "203.0.113.7" }],
          },
        ],
        justification: "Portcullis R-3",
      }),
    ).rejects.toMatchObject({ code: ErrorCode.PolicyNotFound });
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  const initiateWeb01 = (justification: string, source = "203.0.113.7") =>
    gateway.initiate({
      policy: rgWeb,
      virtualMachines: [
        {
          vmId: vmId("rg-web", "web-01"),
          ports: [{ number: 22, endTimeUtc: inOneHour(), allowedSourceAddressPrefix: source }],
        },
      ],
      justification,
    });

  it("429 with Retry-After: the SDK waits, retries, and exactly one grant results", async () => {
    await control("POST", "/_sim/faults", {
      kind: "429",
      retryAfterSeconds: 1,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const started = Date.now();
    const records = await initiateWeb01("Portcullis R-4");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(records[0]?.ports[0]?.status).toBe("Initiated");
    expect((await armCalls("/initiate")).map((call) => call.status)).toEqual([429, 202]);
    expect(await historyFor("web-01", "Portcullis R-4")).toHaveLength(1);
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(true);
  });

  it("500 on the initiate, nothing in the history (issue 11, item 15): resent once with the identical body, and that one grants", async () => {
    await control("POST", "/_sim/faults", {
      kind: "500",
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const records = await initiateWeb01("Portcullis R-5");
    expect(records[0]?.ports[0]?.status).toBe("Initiated");
    const posts = (await armCalls("/initiate")).filter((call) => call.method === "POST");
    expect(posts.map((call) => call.status)).toEqual([500, 202]);
    expect(posts[1]?.body).toBe(posts[0]?.body);
    expect(await historyFor("web-01", "Portcullis R-5")).toHaveLength(1);
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(true);
  });

  it("500 twice, nothing in the history (issue 11, item 15): two identical POSTs and no third; Azure's code in a sentence, not for the caller to retry", async () => {
    await control("POST", "/_sim/faults", {
      kind: "500",
      times: 5,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const error = await initiateWeb01("Portcullis R-5b").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PortcullisError);
    const mapped = error as PortcullisError;
    expect(mapped.code).toBe(ErrorCode.AzureServerError);
    expect(mapped.userMessage).toMatch(
      /^Azure failed twice with a server error \(HTTP 500 InternalServerError\) when I tried to open JIT access to web-01, and its request history shows nothing, so Azure did not act on it\./,
    );
    const posts = (await armCalls("/initiate")).filter((call) => call.method === "POST");
    expect(posts.map((call) => call.status)).toEqual([500, 500]);
    expect(posts[1]?.body).toBe(posts[0]?.body);
    expect(await historyFor("web-01", "Portcullis R-5b")).toEqual([]);
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  it("a dropped initiate with nothing in the history is not resent by the gateway: AzureUnavailable for the grant's own retry", async () => {
    await control("POST", "/_sim/faults", {
      kind: "drop",
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    await expect(initiateWeb01("Portcullis R-5c")).rejects.toMatchObject({
      code: ErrorCode.AzureUnavailable,
    });
    expect((await armCalls("/initiate")).filter((call) => call.method === "POST")).toHaveLength(1);
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  it("reply lost after Azure recorded the initiate (issue 10, item 12): one POST, one history entry, the grant found by the history lookup", async () => {
    await control("POST", "/_sim/faults", {
      kind: "drop",
      when: "after",
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const records = await initiateWeb01("Portcullis R-6");
    expect(records).toHaveLength(1);
    expect(records[0]?.ports[0]?.status).toBe("Initiated");
    expect((await armCalls("/initiate")).filter((call) => call.method === "POST")).toHaveLength(1);
    const history = await historyFor("web-01", "Portcullis R-6");
    expect(history).toHaveLength(1);
    expect(history[0]?.ports[0]?.status).toBe("Initiated");
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(true);
  });

  it("a 503 with Retry-After after Azure recorded the initiate is not resent either", async () => {
    await control("POST", "/_sim/faults", {
      kind: "503",
      when: "after",
      retryAfterSeconds: 0,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const records = await initiateWeb01("Portcullis R-6b");
    expect(records[0]?.ports[0]?.status).toBe("Initiated");
    expect((await armCalls("/initiate")).filter((call) => call.method === "POST")).toHaveLength(1);
    expect(await historyFor("web-01", "Portcullis R-6b")).toHaveLength(1);
  });

  it("reads keep the SDK's retries: a 500 and a 429 with Retry-After on the policy read are retried", async () => {
    await control("POST", "/_sim/faults", [
      { kind: "500", match: { method: "GET", pathIncludes: "/jitNetworkAccessPolicies/default" } },
      {
        kind: "429",
        retryAfterSeconds: 1,
        match: { method: "GET", pathIncludes: "/jitNetworkAccessPolicies/default" },
      },
    ]);
    const started = Date.now();
    const policy = await gateway.getVmPolicy(rgWeb, vmId("rg-web", "web-01"));
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(policy.rules.map((rule) => rule.number)).toContain(22);
    const reads = (await armCalls("/jitNetworkAccessPolicies/default")).filter(
      (call) => call.method === "GET",
    );
    expect(reads.map((call) => call.status)).toEqual([500, 429, 200]);
  });

  it("every attempt's response lost after Azure recorded it: the gateway finds the grant in the history and succeeds", async () => {
    await control("POST", "/_sim/faults", {
      kind: "drop",
      when: "after",
      times: 10,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const records = await initiateWeb01("Portcullis R-7");
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      vmId: vmId("rg-web", "web-01"),
      justification: "Portcullis R-7",
      ports: [{ number: 22, allowedSourceAddressPrefix: "203.0.113.7", status: "Initiated" }],
    });
    const posts = (await armCalls("/initiate")).filter((call) => call.method === "POST");
    expect(posts).toHaveLength(1); // no automatic resend of the initiate
    const history = await historyFor("web-01", "Portcullis R-7");
    expect(history).toHaveLength(1);
    expect(history.filter((r) => r.ports[0]?.status === "Initiated")).toHaveLength(1);
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(true);
    expect(await probe("203.0.113.8", "web-01", 22)).toBe(false);
  });

  it("every attempt dropped before Azure acted: AzureUnavailable, nothing opened", async () => {
    await control("POST", "/_sim/faults", {
      kind: "drop",
      when: "before",
      times: 10,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    await expect(initiateWeb01("Portcullis R-8")).rejects.toMatchObject({
      code: ErrorCode.AzureUnavailable,
      userMessage: expect.stringMatching(
        /^Azure is unavailable right now, so I could not open JIT access to web-01/,
      ),
    });
    expect(await historyFor("web-01", "Portcullis R-8")).toEqual([]);
    expect(await probe("203.0.113.7", "web-01", 22)).toBe(false);
  });

  it("a history entry with the same justification but another source does not count as the grant", async () => {
    await initiateWeb01("Portcullis R-9", "203.0.113.50");
    await control("POST", "/_sim/faults", {
      kind: "drop",
      when: "before",
      times: 10,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    await expect(initiateWeb01("Portcullis R-9", "203.0.113.7")).rejects.toMatchObject({
      code: ErrorCode.AzureUnavailable,
    });
  });

  it("persistent throttling surfaces as AzureThrottled with the wait", async () => {
    await control("POST", "/_sim/faults", {
      kind: "429",
      retryAfterSeconds: 0,
      times: 10,
      match: { pathIncludes: "jitNetworkAccessPolicies" },
    });
    await expect(gateway.checkHealth()).rejects.toMatchObject({
      code: ErrorCode.AzureThrottled,
      userMessage: expect.stringMatching(/throttling/),
    });
  });

  it("checkHealth: fine when ARM answers; AzureUnavailable on 5xx; an initiate that times out is reconciled", async () => {
    await gateway.checkHealth();
    await control("POST", "/_sim/faults", {
      kind: "500",
      times: 10,
      match: { pathIncludes: "jitNetworkAccessPolicies" },
    });
    await expect(gateway.checkHealth()).rejects.toMatchObject({ code: ErrorCode.AzureUnavailable });
    await control("DELETE", "/_sim/faults");

    const impatient = createJitGateway({
      armEndpoint: sim.url,
      subscriptionId: sim.subscriptionId,
      requestTimeoutMs: 150,
      reconcileDelaysMs: [900],
    });
    await control("POST", "/_sim/faults", {
      kind: "latency",
      latencyMs: 300,
      match: { method: "POST", pathIncludes: "/initiate" },
    });
    const records = await impatient.initiate({
      policy: rgWeb,
      virtualMachines: [
        {
          vmId: vmId("rg-web", "web-01"),
          ports: [{ number: 22, endTimeUtc: inOneHour(), allowedSourceAddressPrefix: "203.0.113.7" }],
        },
      ],
      justification: "Portcullis R-10",
    });
    expect(records[0]?.ports[0]?.status).toBe("Initiated");
    expect(await historyFor("web-01", "Portcullis R-10")).toHaveLength(1);
  });

  it("every ARM call carries the development token, and only that", async () => {
    await gateway.listVms();
    const calls = await armCalls("/subscriptions/");
    expect(calls.length).toBeGreaterThan(5);
    expect(calls.every((call) => call.status !== 401)).toBe(true);
  });
});
