/**
 * The doctor against the simulator (through the real Azure SDK), against an unreachable endpoint,
 * and against a fake ARM permissions API on loopback for the least-privilege check.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  actionMatches,
  comparePermissions,
  configChecks,
  type DoctorCheck,
  type DoctorDeps,
  deploymentFacts,
  doctorText,
  runDoctor,
} from "../../src/app/doctor.ts";
import { BOT_ROLE_ACTIONS, BOT_ROLE_NAME } from "../../src/azure/bot-role.ts";
import { createIdentityPermissions } from "../../src/azure/identity-permissions.ts";
import { createJitGateway } from "../../src/azure/jit-gateway.ts";
import { parseConfig } from "../../src/config.ts";
import { ErrorCode, PortcullisError } from "../../src/domain/errors.ts";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";
import { freePort } from "../support/bot-process.ts";

const production = {
  BOT_ID: "6f1c2a7e-3b54-4d8e-9a1f-0c2b3d4e5f60",
  BOT_TYPE: "UserAssignedMSI",
  BOT_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  DATABASE_URL: "postgres://portcullis@pg.example.com:5432/portcullis?sslmode=require",
  PUBLIC_BASE_URL: "https://portcullis.example.com",
  TRUSTED_PROXIES: "169.254.0.0/16",
  BREAK_GLASS_USERS: "oncall@contoso.com",
};
const role = { name: BOT_ROLE_NAME, actions: BOT_ROLE_ACTIONS };

let simulator: RunningSimulator;
/** scope (lower case) → the permissions the fake ARM reports for the caller there, or an HTTP status. */
let permissionAnswers = new Map<string, unknown>();
let permissionServer: Server;
let permissionsUrl: string;

beforeAll(async () => {
  simulator = await startSimulator();
  permissionServer = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const scope = url.pathname
      .replace(/\/providers\/Microsoft\.Authorization\/permissions$/i, "")
      .toLowerCase();
    const answer = permissionAnswers.get(scope) ?? permissionAnswers.get("*");
    res.setHeader("content-type", "application/json");
    if (typeof answer === "number") {
      res.statusCode = answer;
      res.end(JSON.stringify({ error: { code: "AuthorizationFailed", message: "no" } }));
      return;
    }
    res.end(JSON.stringify({ value: answer ?? [] }));
  });
  await new Promise<void>((resolve) => permissionServer.listen(0, "127.0.0.1", () => resolve()));
  permissionsUrl = `http://127.0.0.1:${(permissionServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await simulator?.close();
  await new Promise<void>((resolve) => permissionServer?.close(() => resolve()));
});

function simulatorDeps(overrides: Partial<DoctorDeps> = {}): DoctorDeps {
  const config = parseConfig({ ...production, AZURE_ARM_ENDPOINT: simulator.url });
  return {
    facts: deploymentFacts(config),
    gateway: createJitGateway({ armEndpoint: simulator.url, subscriptionId: simulator.subscriptionId }),
    subscriptionId: simulator.subscriptionId,
    permissions: createIdentityPermissions({ armEndpoint: simulator.url }),
    role,
    ...overrides,
  };
}

function check(checks: readonly DoctorCheck[], title: string): DoctorCheck {
  const found = checks.find((candidate) => candidate.title === title);
  if (!found) throw new Error(`no check "${title}" in ${checks.map((c) => c.title).join(", ")}`);
  return found;
}

describe("npm run doctor's checks", () => {
  it("against the simulator: ARM answers, policies list, every VM is counted, permissions cannot be read", async () => {
    const report = await runDoctor(simulatorDeps());
    const fleet = (await (await fetch(`${simulator.url}/_sim/fleet`)).json()) as {
      virtualMachines: unknown[];
      classicVirtualMachines?: unknown[];
    };
    expect(check(report.checks, "Azure Resource Manager reachable").status).toBe("ok");
    expect(check(report.checks, "Identity can list JIT policies").status).toBe("ok");
    const vms = check(report.checks, "VMs the identity can see");
    expect(vms.status).toBe("ok");
    const total = fleet.virtualMachines.length + (fleet.classicVirtualMachines?.length ?? 0);
    expect(vms.detail).toContain(`${total} VM(s)`);
    expect(vms.detail).toContain("web-01");
    const least = check(report.checks, "The bot's role is least privilege");
    expect(least.status).toBe("skip");
    expect(least.fix).toContain("az role assignment list");
    // A loopback ARM endpoint is a simulator, and the doctor says so.
    expect(check(report.checks, "Azure subscription").status).toBe("warn");
    expect(check(report.checks, "Bot Framework authentication").status).toBe("ok");
    expect(report.ok).toBe(true);
  });

  it("local defaults: every missing production setting is a failure with its fix", async () => {
    const report = await runDoctor(simulatorDeps({ facts: deploymentFacts(parseConfig({})) }));
    for (const title of ["Bot Framework authentication", "Azure subscription", "Public address"]) {
      const found = check(report.checks, title);
      expect(found.status, title).toBe("fail");
      expect(found.fix, title).toBeTruthy();
    }
    expect(report.ok).toBe(false);
  });

  it("an unreachable ARM endpoint: a failure with the fix, and the checks that depend on it skipped", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const report = await runDoctor(
      simulatorDeps({
        gateway: createJitGateway({
          armEndpoint: closed,
          subscriptionId: simulator.subscriptionId,
          retryOptions: { maxRetries: 0 },
        }),
        permissions: createIdentityPermissions({ armEndpoint: closed }),
      }),
    );
    const arm = check(report.checks, "Azure Resource Manager reachable");
    expect(arm.status).toBe("fail");
    expect(arm.fix).toContain("AZURE_CLIENT_ID");
    expect(check(report.checks, "Identity can list JIT policies").status).toBe("skip");
    expect(check(report.checks, "VMs the identity can see").status).toBe("skip");
    expect(report.ok).toBe(false);
  });

  it("an identity without the role: listing policies fails with the role to assign", async () => {
    const forbidden = new PortcullisError(
      ErrorCode.AzureForbidden,
      "The bot's identity is not allowed to read JIT policies.",
    );
    const report = await runDoctor(
      simulatorDeps({
        gateway: {
          checkHealth: async () => {
            throw forbidden;
          },
          listVms: async () => [],
        },
      }),
    );
    expect(check(report.checks, "Azure Resource Manager reachable").status).toBe("ok");
    const list = check(report.checks, "Identity can list JIT policies");
    expect(list.status).toBe("fail");
    expect(list.fix).toContain(BOT_ROLE_NAME);
  });

  describe("least privilege, from ARM's permissions API", () => {
    const deps = () =>
      simulatorDeps({ permissions: createIdentityPermissions({ armEndpoint: permissionsUrl }) });

    it("exactly the role's actions → ok", async () => {
      permissionAnswers = new Map([["*", [{ actions: [...BOT_ROLE_ACTIONS], notActions: [] }]]]);
      const least = check((await runDoctor(deps())).checks, "The bot's role is least privilege");
      expect(least.status).toBe("ok");
    });

    it("Reader on top of the role → a warning naming */read and how to remove it", async () => {
      permissionAnswers = new Map([
        [
          "*",
          [
            { actions: [...BOT_ROLE_ACTIONS], notActions: [] },
            { actions: ["*/read"], notActions: [] },
          ],
        ],
      ]);
      const least = check((await runDoctor(deps())).checks, "The bot's role is least privilege");
      expect(least.status).toBe("warn");
      expect(least.detail).toContain("*/read");
      expect(least.fix).toContain("az role assignment delete");
    });

    it("the initiate action missing where the VMs are → a failure", async () => {
      const withoutInitiate = BOT_ROLE_ACTIONS.filter((action) => !action.endsWith("initiate/action"));
      permissionAnswers = new Map([["*", [{ actions: withoutInitiate, notActions: [] }]]]);
      const least = check((await runDoctor(deps())).checks, "The bot's role is least privilege");
      expect(least.status).toBe("fail");
      expect(least.detail).toContain("jitNetworkAccessPolicies/initiate/action");
      expect(least.detail).toMatch(/resourceGroups\/rg-/);
    });

    it("the permissions API refuses → skipped, with how to check by hand", async () => {
      permissionAnswers = new Map([["*", 403]]);
      const least = check((await runDoctor(deps())).checks, "The bot's role is least privilege");
      expect(least.status).toBe("skip");
      expect(least.detail).toContain("HTTP 403 AuthorizationFailed");
      expect(least.fix).toContain("az role assignment list");
    });
  });
});

describe("permission matching", () => {
  it("wildcards cover, case-insensitively; NotActions take away", () => {
    expect(actionMatches("*", "Microsoft.Compute/virtualMachines/read")).toBe(true);
    expect(actionMatches("Microsoft.Network/*/read", "microsoft.network/routeTables/read")).toBe(true);
    expect(actionMatches("Microsoft.Network/*/read", "Microsoft.Network/routeTables/write")).toBe(false);
    const result = comparePermissions(
      [
        {
          actions: ["Microsoft.Security/*"],
          notActions: ["Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action"],
        },
      ],
      [
        "Microsoft.Security/locations/jitNetworkAccessPolicies/read",
        "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
      ],
    );
    expect(result).toEqual({
      missing: ["Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action"],
      extra: ["Microsoft.Security/*"],
    });
  });
});

describe("doctorText", () => {
  it("one line per check, the fix under each problem, a summary first", () => {
    const text = doctorText({
      ok: false,
      checks: [
        { title: "A", status: "ok", detail: "fine.", fix: "never shown" },
        { title: "B", status: "fail", detail: "broken.", fix: "mend it." },
        { title: "C", status: "warn", detail: "hmm." },
      ],
    });
    expect(text.split("\n")).toEqual([
      "Portcullis doctor: 1 problem(s), 1 warning(s).",
      "",
      "✅ A: fine.",
      "❌ B: broken.",
      "   Fix: mend it.",
      "⚠️ C: hmm.",
    ]);
  });
});

describe("the break-glass roster (issue 9, item 12)", () => {
  const { BREAK_GLASS_USERS: _unused, ...withoutEnvRoster } = production;
  const roster = (env: Record<string, string>) =>
    check(configChecks(deploymentFacts(parseConfig(env))), "Break-glass roster");
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "portcullis-doctor-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  function rulesFile(name: string, rules: unknown): string {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(rules));
    return path;
  }

  it("BREAK_GLASS_USERS empty but the rules file has a roster: ok, naming who and where", () => {
    const found = roster(withoutEnvRoster);
    expect(found.status).toBe("ok");
    expect(found.detail).toBe("1 on-call user(s): olive@contoso.com (env/rules.json defaults, every VM).");
    expect(found.detail).not.toContain("nobody can break glass");
  });

  it("both sources count, each named", () => {
    const found = roster(production);
    expect(found.status).toBe("ok");
    expect(found.detail).toBe(
      "2 on-call user(s): oncall@contoso.com (BREAK_GLASS_USERS, every VM); olive@contoso.com (env/rules.json defaults, every VM).",
    );
  });

  it("neither source names anyone: a warning with both fixes", () => {
    const empty = rulesFile("empty.json", { defaults: {}, scopes: [] });
    const found = roster({ ...withoutEnvRoster, RULES_FILE: empty });
    expect(found.status).toBe("warn");
    expect(found.detail).toBe(
      `Nobody can break glass: BREAK_GLASS_USERS is empty and ${empty} names no breakGlass users.`,
    );
    expect(found.fix).toContain("BREAK_GLASS_USERS");
    expect(found.fix).toContain("breakGlass.users");
  });

  it("a roster only in one scope, and groups that are not resolved: said, with a warning", () => {
    const scoped = rulesFile("scoped.json", {
      scopes: [
        { resourceGroup: "rg-data", breakGlass: { users: ["dba@contoso.com"], groups: ["sg-dba-oncall"] } },
      ],
    });
    const found = roster({ ...withoutEnvRoster, RULES_FILE: scoped });
    expect(found.status).toBe("warn");
    expect(found.detail).toContain(`dba@contoso.com (${scoped} resource group rg-data)`);
    expect(found.detail).toContain("Outside those scopes nobody can break glass.");
    expect(found.detail).toContain("sg-dba-oncall (resource group rg-data) are listed but not resolved yet");
  });
});
