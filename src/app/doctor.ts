/**
 * The doctor: read-only checks of a deployment, each with what was found and how to fix it.
 * `npm run doctor` prints the report; the admins' chat command `doctor` answers with the same text.
 * Nothing here writes to Azure or the store.
 */
import { isAbsolute, relative } from "node:path";
import type { Config } from "../config.ts";
import { asPortcullisError, ErrorCode } from "../domain/errors.ts";
import type { ApprovalRules } from "../domain/rules.ts";
import type { VmWithJit } from "../domain/vm.ts";
import type { JitGateway } from "./ports.ts";

export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface DoctorCheck {
  readonly title: string;
  readonly status: CheckStatus;
  /** What was found, in a sentence or two. */
  readonly detail: string;
  /** What to do about a warn or fail. */
  readonly fix?: string;
}

export interface DoctorReport {
  readonly checks: readonly DoctorCheck[];
  /** No check failed (warnings allowed). */
  readonly ok: boolean;
}

/** What the configuration says, without secrets. */
export interface DeploymentFacts {
  readonly bot:
    | { readonly mode: "local" }
    | {
        readonly mode: "authenticated";
        readonly appId: string;
        readonly type: "MultiTenant" | "SingleTenant" | "UserAssignedMSI";
        readonly tenantId: string | undefined;
      };
  readonly azure:
    | { readonly mode: "embedded-simulator" }
    | { readonly mode: "endpoint"; readonly endpoint: string; readonly subscriptionId: string | undefined };
  readonly database: "pglite" | "postgresql";
  readonly publicBaseUrl: string;
  readonly trustedProxies: readonly string[];
  /** The on-call roster from both places it is configured (static-roster.ts reads the same two). */
  readonly breakGlass: BreakGlassRosterFacts;
}

export interface BreakGlassRosterFacts {
  /** BREAK_GLASS_USERS: on call for every VM. */
  readonly envUsers: readonly string[];
  readonly rulesFile: string;
  /** `breakGlass` in the rules file's defaults and scopes, where it names anyone. */
  readonly rules: readonly {
    /** "defaults" or the scope as written ("resource group rg-data"). */
    readonly where: string;
    readonly users: readonly string[];
    readonly groups: readonly string[];
  }[];
}

/** Where the rules file names on-call people: its defaults, then each scope. */
export function breakGlassRosterFacts(
  rules: ApprovalRules,
  rulesFile: string,
  envUsers: readonly string[],
): BreakGlassRosterFacts {
  const layers = [
    { where: "defaults", breakGlass: rules.defaults.breakGlass },
    ...rules.scopes.map((scope) => ({
      where: [
        scope.subscription ? `subscription ${scope.subscription}` : "",
        scope.resourceGroup ? `resource group ${scope.resourceGroup}` : "",
      ]
        .filter((part) => part !== "")
        .join(", "),
      breakGlass: scope.breakGlass,
    })),
  ];
  const relativePath = relative(process.cwd(), rulesFile);
  return {
    envUsers,
    // As an operator would type it, when the file is under the working directory.
    rulesFile: relativePath.startsWith("..") || isAbsolute(relativePath) ? rulesFile : relativePath,
    rules: layers
      .map((layer) => ({
        where: layer.where,
        users: layer.breakGlass?.users ?? [],
        groups: layer.breakGlass?.groups ?? [],
      }))
      .filter((layer) => layer.users.length > 0 || layer.groups.length > 0),
  };
}

/** One block of ARM's effective permissions for the caller (Microsoft.Authorization/permissions). */
export interface PermissionSet {
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
}

/** The bot identity's own effective permissions at an ARM scope such as "/subscriptions/…". */
export interface IdentityPermissions {
  /** Undefined when the endpoint offers no permissions API (a simulator). Throws when the call fails. */
  atScope(scope: string): Promise<readonly PermissionSet[] | undefined>;
}

export interface DoctorDeps {
  readonly facts: DeploymentFacts;
  readonly gateway: Pick<JitGateway, "checkHealth" | "listVms">;
  /** The subscription the gateway reads (for the permission scopes). */
  readonly subscriptionId: string;
  /** Absent when the identity's permissions cannot be read from here. */
  readonly permissions?: IdentityPermissions;
  /** The custom role's actions (infra/portcullis-role.json) and its name. */
  readonly role: { readonly name: string; readonly actions: readonly string[] };
}

export function deploymentFacts(config: Config): DeploymentFacts {
  return {
    bot:
      config.bot.mode === "local"
        ? { mode: "local" }
        : {
            mode: "authenticated",
            appId: config.bot.appId,
            type: config.bot.type,
            tenantId: config.bot.tenantId,
          },
    azure:
      config.azure.mode === "embedded-simulator"
        ? { mode: "embedded-simulator" }
        : { mode: "endpoint", endpoint: config.azure.endpoint, subscriptionId: config.azure.subscriptionId },
    database: config.store.databaseUrl ? "postgresql" : "pglite",
    publicBaseUrl: config.publicBaseUrl,
    trustedProxies: config.trustedProxies,
    breakGlass: breakGlassRosterFacts(config.rules, config.rulesFile, config.breakGlassUsers),
  };
}

export async function runDoctor(deps: DoctorDeps): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [...configChecks(deps.facts)];
  const arm = await armChecks(deps);
  checks.push(...arm.checks);
  checks.push(await permissionCheck(deps, arm.vms));
  return { checks, ok: checks.every((check) => check.status !== "fail") };
}

// ---------------------------------------------------------------- configuration

export function configChecks(facts: DeploymentFacts): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const { bot, azure } = facts;
  if (bot.mode === "local") {
    checks.push({
      title: "Bot Framework authentication",
      status: "fail",
      detail:
        "BOT_ID is not set: local mode, no token checks, listening on 127.0.0.1 only. Teams cannot reach it.",
      fix: "Set BOT_ID, BOT_PASSWORD and BOT_TENANT_ID (an app registration), or BOT_ID = the managed identity's client id with BOT_TYPE=UserAssignedMSI and BOT_TENANT_ID.",
    });
  } else if (!bot.tenantId) {
    checks.push({
      title: "Bot Framework authentication",
      status: "warn",
      detail: `Bot ${bot.appId} (${bot.type}) checks tokens, but BOT_TENANT_ID is not set: activities from any tenant are accepted.`,
      fix: "Set BOT_TENANT_ID to your Entra tenant id.",
    });
  } else {
    checks.push({
      title: "Bot Framework authentication",
      status: "ok",
      detail: `Bot ${bot.appId} (${bot.type}); every request's token is checked; only tenant ${bot.tenantId} is served.`,
    });
  }

  if (azure.mode === "embedded-simulator") {
    checks.push({
      title: "Azure subscription",
      status: "fail",
      detail: "AZURE_SUBSCRIPTION_ID is not set: the bot talks to its embedded simulator, not to Azure.",
      fix: "Set AZURE_SUBSCRIPTION_ID (`az account show --query id -o tsv`).",
    });
  } else if (/^http:\/\/(127\.|localhost|\[::1\])/.test(azure.endpoint)) {
    checks.push({
      title: "Azure subscription",
      status: "warn",
      detail: `AZURE_ARM_ENDPOINT is ${azure.endpoint}: a local ARM simulator with a development token, not Azure.`,
      fix: "Unset AZURE_ARM_ENDPOINT and set AZURE_SUBSCRIPTION_ID for the real subscription.",
    });
  } else {
    checks.push({
      title: "Azure subscription",
      status: "ok",
      detail: `Subscription ${azure.subscriptionId ?? "?"} through ${azure.endpoint}.`,
    });
  }

  checks.push(
    facts.database === "postgresql"
      ? { title: "Database", status: "ok", detail: "PostgreSQL (DATABASE_URL): shared by every bot process." }
      : {
          title: "Database",
          status: "warn",
          detail: "Embedded PGlite: one bot process only, and its files must survive restarts.",
          fix: "Set DATABASE_URL=postgres://… (infra/azure.bicep keeps it in Key Vault).",
        },
  );

  const base = facts.publicBaseUrl;
  checks.push(
    base.startsWith("https://") && !/\/\/(localhost|127\.)/.test(base)
      ? { title: "Public address", status: "ok", detail: `IP links point at ${base}.` }
      : {
          title: "Public address",
          status: "fail",
          detail: `PUBLIC_BASE_URL is ${base}: users' browsers cannot open the one-time IP links there.`,
          fix: "Set PUBLIC_BASE_URL to the bot's https address, e.g. https://<app>.azurewebsites.net.",
        },
  );

  checks.push(
    facts.trustedProxies.length > 0
      ? {
          title: "Trusted proxies",
          status: "ok",
          detail: `X-Forwarded-For is believed from ${facts.trustedProxies.join(", ")}.`,
        }
      : {
          title: "Trusted proxies",
          status: "warn",
          detail:
            "TRUSTED_PROXIES is empty: behind App Service or a load balancer, IP links record the proxy's address.",
          fix: "Set TRUSTED_PROXIES to the front end's addresses (App Service for Linux: 169.254.0.0/16).",
        },
  );

  checks.push(rosterCheck(facts.breakGlass));
  return checks;
}

/** Who can break glass, from BREAK_GLASS_USERS and the rules file together, and where each applies. */
function rosterCheck(roster: BreakGlassRosterFacts): DoctorCheck {
  const title = "Break-glass roster";
  const sources = [
    ...(roster.envUsers.length > 0 ? [`${roster.envUsers.join(", ")} (BREAK_GLASS_USERS, every VM)`] : []),
    ...roster.rules
      .filter((layer) => layer.users.length > 0)
      .map(
        (layer) =>
          `${layer.users.join(", ")} (${roster.rulesFile} ${layer.where === "defaults" ? "defaults, every VM" : layer.where})`,
      ),
  ];
  const people = new Set([...roster.envUsers, ...roster.rules.flatMap((layer) => layer.users)]);
  const groups = roster.rules.flatMap((layer) => layer.groups.map((group) => `${group} (${layer.where})`));
  const groupNote =
    groups.length > 0
      ? ` Groups ${groups.join(", ")} are listed but not resolved yet: their members cannot break glass.`
      : "";
  if (people.size === 0) {
    return {
      title,
      status: "warn",
      detail: `Nobody can break glass: BREAK_GLASS_USERS is empty and ${roster.rulesFile} names no breakGlass users.${groupNote}`,
      fix: `Set BREAK_GLASS_USERS to the on-call engineers' UPNs, comma-separated, or list them under breakGlass.users in ${roster.rulesFile}.`,
    };
  }
  const everywhere =
    roster.envUsers.length > 0 ||
    roster.rules.some((layer) => layer.where === "defaults" && layer.users.length > 0);
  const detail = `${people.size} on-call user(s): ${sources.join("; ")}.${everywhere ? "" : " Outside those scopes nobody can break glass."}${groupNote}`;
  return groups.length > 0
    ? {
        title,
        status: "warn",
        detail,
        fix: `List the groups' members under breakGlass.users in ${roster.rulesFile} or in BREAK_GLASS_USERS.`,
      }
    : { title, status: "ok", detail };
}

// ---------------------------------------------------------------- Azure

async function armChecks(
  deps: DoctorDeps,
): Promise<{ readonly checks: DoctorCheck[]; readonly vms: readonly VmWithJit[] | undefined }> {
  const roleFix = `Assign the role "${deps.role.name}" (infra/portcullis-role.json) to the bot's identity at the subscription or at the VMs' resource groups.`;
  try {
    await deps.gateway.checkHealth();
  } catch (error) {
    const coded = asPortcullisError(error);
    const forbidden = coded.code === ErrorCode.AzureForbidden;
    return {
      checks: [
        {
          title: "Azure Resource Manager reachable",
          status: forbidden ? "ok" : "fail",
          detail: forbidden ? "ARM answered (and refused the identity)." : coded.userMessage,
          ...(forbidden
            ? {}
            : {
                fix: "Check outbound HTTPS to management.azure.com (or AZURE_ARM_ENDPOINT) and that the identity can sign in: on App Service, AZURE_CLIENT_ID must be the user-assigned identity's client id.",
              }),
        },
        {
          title: "Identity can list JIT policies",
          status: forbidden ? "fail" : "skip",
          detail: forbidden ? coded.userMessage : "Not tried: ARM is not reachable.",
          ...(forbidden ? { fix: roleFix } : {}),
        },
        {
          title: "VMs the identity can see",
          status: "skip",
          detail: "Not tried: listing JIT policies failed.",
        },
      ],
      vms: undefined,
    };
  }
  const checks: DoctorCheck[] = [
    {
      title: "Azure Resource Manager reachable",
      status: "ok",
      detail:
        deps.facts.azure.mode === "endpoint"
          ? `${deps.facts.azure.endpoint} answered.`
          : "The embedded simulator answered (not Azure).",
    },
    {
      title: "Identity can list JIT policies",
      status: "ok",
      detail: "Microsoft.Security/locations/jitNetworkAccessPolicies/read works.",
    },
  ];
  let vms: readonly VmWithJit[];
  try {
    vms = await deps.gateway.listVms();
  } catch (error) {
    checks.push({
      title: "VMs the identity can see",
      status: "fail",
      detail: asPortcullisError(error).userMessage,
      fix: roleFix,
    });
    return { checks, vms: undefined };
  }
  checks.push(vmCheck(vms, roleFix));
  return { checks, vms };
}

function vmCheck(vms: readonly VmWithJit[], roleFix: string): DoctorCheck {
  const title = "VMs the identity can see";
  if (vms.length === 0) {
    return {
      title,
      status: "warn",
      detail: "No VM is visible in the subscription.",
      fix: `${roleFix} If it is assigned, the VMs are elsewhere: check AZURE_SUBSCRIPTION_ID.`,
    };
  }
  const byState = (kind: VmWithJit["jit"]["kind"]) => vms.filter((vm) => vm.jit.kind === kind);
  const configured = byState("configured");
  const names = (list: readonly VmWithJit[]) =>
    list.length === 0
      ? "none"
      : `${list
          .slice(0, 8)
          .map((vm) => vm.ref.name)
          .join(", ")}${list.length > 8 ? ` and ${list.length - 8} more` : ""}`;
  const detail = `${vms.length} VM(s): JIT configured ${configured.length} (${names(configured)}); not configured ${byState("not_configured").length}; unsupported ${byState("unsupported").length}.`;
  return configured.length > 0
    ? { title, status: "ok", detail }
    : {
        title,
        status: "warn",
        detail,
        fix: "Enable just-in-time access on the VMs in Microsoft Defender for Cloud (Workload protections → Just-in-time VM access).",
      };
}

// ---------------------------------------------------------------- least privilege

const LEAST_PRIVILEGE = "The bot's role is least privilege";

/** True when an ARM action pattern (`*`, `Microsoft.Network/<star>/read`…) covers `action`; case-insensitive. */
export function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
      .join(".*")}$`,
    "i",
  );
  return regex.test(action);
}

/** What the effective permissions grant beyond `required`, and which of `required` they lack. */
export function comparePermissions(
  sets: readonly PermissionSet[],
  required: readonly string[],
): { readonly missing: string[]; readonly extra: string[] } {
  const granted = (action: string) =>
    sets.some(
      (set) =>
        set.actions.some((pattern) => actionMatches(pattern, action)) &&
        !set.notActions.some((pattern) => actionMatches(pattern, action)),
    );
  const wanted = new Set(required.map((action) => action.toLowerCase()));
  const extra = [
    ...new Set(sets.flatMap((set) => set.actions).filter((pattern) => !wanted.has(pattern.toLowerCase()))),
  ];
  return { missing: required.filter((action) => !granted(action)), extra };
}

async function permissionCheck(
  deps: DoctorDeps,
  vms: readonly VmWithJit[] | undefined,
): Promise<DoctorCheck> {
  const byHand = `Check by hand: \`az role assignment list --assignee <identity principal id> --all -o table\` should list only "${deps.role.name}", whose actions are in infra/portcullis-role.json.`;
  if (!deps.permissions) {
    return {
      title: LEAST_PRIVILEGE,
      status: "skip",
      detail: "The identity's permissions cannot be read from here.",
      fix: byHand,
    };
  }
  const subscription = `/subscriptions/${deps.subscriptionId}`;
  const groups = [...new Set((vms ?? []).map((vm) => vm.ref.resourceGroup.toLowerCase()))].sort();
  // The VMs' resource groups carry what is assigned there and what they inherit from the subscription.
  const scopes = [subscription, ...groups.map((group) => `${subscription}/resourceGroups/${group}`)];
  const extras = new Map<string, string[]>();
  const missing = new Map<string, string[]>();
  for (const scope of scopes) {
    let sets: readonly PermissionSet[] | undefined;
    try {
      sets = await deps.permissions.atScope(scope);
    } catch (error) {
      return {
        title: LEAST_PRIVILEGE,
        status: "skip",
        detail: `Could not read the identity's permissions at ${scope}: ${error instanceof Error ? error.message : String(error)}`,
        fix: byHand,
      };
    }
    if (sets === undefined) {
      return {
        title: LEAST_PRIVILEGE,
        status: "skip",
        detail: "This ARM endpoint has no permissions API (a simulator).",
        fix: byHand,
      };
    }
    const result = comparePermissions(sets, deps.role.actions);
    if (result.extra.length > 0) extras.set(scope, result.extra);
    // At subscription scope a per-resource-group assignment is not visible; judge it where the VMs are.
    if (result.missing.length > 0 && (scope !== subscription || groups.length === 0))
      missing.set(scope, result.missing);
  }
  if (missing.size > 0) {
    return {
      title: LEAST_PRIVILEGE,
      status: "fail",
      detail: `The identity lacks ${[...missing].map(([scope, actions]) => `${actions.join(", ")} at ${scope}`).join("; ")}.`,
      fix: `Assign the role "${deps.role.name}" (infra/portcullis-role.json) to the bot's identity there.`,
    };
  }
  if (extras.size > 0) {
    return {
      title: LEAST_PRIVILEGE,
      status: "warn",
      detail: `The identity has more than it needs: ${[...extras].map(([scope, actions]) => `${actions.join(", ")} at ${scope}`).join("; ")}.`,
      fix: `Remove its other role assignments (\`az role assignment list --assignee <identity principal id> --all -o table\`, then \`az role assignment delete\`), keeping only "${deps.role.name}".`,
    };
  }
  return {
    title: LEAST_PRIVILEGE,
    status: "ok",
    detail: `Exactly the ${deps.role.actions.length} actions of "${deps.role.name}" at ${scopes.length === 1 ? "the subscription" : `${scopes.length} scopes`}.`,
  };
}

// ---------------------------------------------------------------- rendering

const MARK: Readonly<Record<CheckStatus, string>> = { ok: "✅", warn: "⚠️", fail: "❌", skip: "➖" };

/** The report as plain text lines (Markdown-safe): one line per check, its fix indented below. */
export function doctorText(report: DoctorReport): string {
  const count = (status: CheckStatus) => report.checks.filter((check) => check.status === status).length;
  const failures = count("fail");
  const warnings = count("warn");
  const summary =
    failures === 0 && warnings === 0
      ? "Portcullis doctor: all checks passed."
      : `Portcullis doctor: ${failures} problem(s), ${warnings} warning(s).`;
  const lines = report.checks.flatMap((check) => [
    `${MARK[check.status]} ${check.title}: ${check.detail}`,
    ...(check.fix && check.status !== "ok" ? [`   Fix: ${check.fix}`] : []),
  ]);
  return [summary, "", ...lines].join("\n");
}

/** `doctor` in chat: the same checklist, for the people in ADMINS only (it shows the deployment's setup). */
export async function doctorForChat(
  user: { readonly upn?: string },
  admins: readonly string[],
  run: () => Promise<DoctorReport>,
): Promise<string> {
  if (!user.upn || !admins.includes(user.upn.toLowerCase())) {
    return "`doctor` is for Portcullis admins (ADMINS). An admin can also run `npm run doctor` where the bot is deployed.";
  }
  return doctorText(await run());
}
