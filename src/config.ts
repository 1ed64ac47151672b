/**
 * The one place that reads the environment. Everything is validated here, once, at start-up;
 * a bad value stops the bot with the variable's name and how to fix it (never a silent fallback).
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";
import ipaddr from "ipaddr.js";
import { z } from "zod";
import { parseUserDuration } from "./domain/duration.ts";
import { type ApprovalRules, parseApprovalRules } from "./domain/rules.ts";

export const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === "" ? undefined : value))
  .optional();

const cidrList = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const items = splitList(value);
    for (const item of items) {
      const ok = item.includes("/") ? ipaddr.isValidCIDR(item) : ipaddr.isValid(item);
      if (!ok) ctx.addIssue({ code: "custom", message: `"${item}" is not an IP address or CIDR prefix` });
    }
    return items;
  });

const upnList = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const items = splitList(value).map((item) => item.toLowerCase());
    for (const item of items) {
      if (!/^[^@\s]+@[^@\s]+$/.test(item))
        ctx.addIssue({ code: "custom", message: `"${item}" is not a UPN` });
    }
    return items;
  });

const originList = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const origins: string[] = [];
    for (const item of splitList(value)) {
      let url: URL | undefined;
      try {
        url = new URL(item);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
        ctx.addIssue({ code: "custom", message: `"${item}" is not an http(s) URL` });
        continue;
      }
      origins.push(url.origin);
    }
    return origins;
  });

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(3978),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  BOT_ID: optionalText,
  BOT_PASSWORD: optionalText,
  BOT_TENANT_ID: optionalText,
  BOT_TYPE: optionalText.pipe(z.enum(["MultiTenant", "SingleTenant", "UserAssignedMSI"]).optional()),
  BOT_OPENID_METADATA_URL: optionalText.pipe(z.string().url().optional()),
  AZURE_ARM_ENDPOINT: optionalText.pipe(z.string().url().optional()),
  AZURE_SUBSCRIPTION_ID: optionalText.pipe(z.string().uuid().optional()),
  SIMULATOR_PORT: z.coerce.number().int().min(0).max(65535).default(3979),
  FLEET_FILE: z.string().default("env/fleet.json"),
  DATABASE_URL: optionalText.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must start with postgres:// or postgresql://")
      .optional(),
  ),
  DATA_DIR: z.string().default(".data"),
  PUBLIC_BASE_URL: optionalText.pipe(z.string().url().optional()),
  TRUSTED_PROXIES: cidrList,
  LOCAL_SERVICE_URLS: originList,
  BREAK_GLASS_USERS: upnList,
  RULES_FILE: z.string().default("env/rules.json"),
  APPROVALS_CHANNEL: optionalText,
  SECURITY_CHANNEL: optionalText,
  BREAK_GLASS_RUNBOOK_URL: optionalText.pipe(z.string().url().optional()),
  AUDITORS: upnList,
  ADMINS: upnList,
  DATABASE_SCHEMA: optionalText.pipe(
    z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a plain lower-case PostgreSQL identifier")
      .optional(),
  ),
  TIMER_POLL_INTERVAL: durationText("1s"),
  TIMER_LEASE: durationText("1m"),
  PRE_EXPIRY_WARNING: durationText("10m"),
  CLOSURE_CHECK_DELAY: durationText("2m"),
  WINDOW_CHECK_INTERVAL: durationText("5m"),
});

function durationText(fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const parsed = parseUserDuration(value);
      if (!parsed.ok) {
        ctx.addIssue({ code: "custom", message: parsed.message });
        return z.NEVER;
      }
      return parsed.ms;
    });
}

export type Azure =
  /** The embedded ARM simulator: started by main.ts, static development token. */
  | { readonly mode: "embedded-simulator"; readonly simulatorPort: number; readonly fleetFile: string }
  /** An explicit endpoint: a loopback http one gets the development token, anything else real credentials. */
  | { readonly mode: "endpoint"; readonly endpoint: string; readonly subscriptionId: string | undefined };

export interface Config {
  readonly port: number;
  /** Loopback only in local mode; all interfaces when the bot authenticates every request. */
  readonly host: string;
  readonly logLevel: z.infer<typeof EnvSchema>["LOG_LEVEL"];
  readonly bot:
    | { readonly mode: "local" }
    | {
        readonly mode: "authenticated";
        readonly appId: string;
        readonly password: string | undefined;
        readonly tenantId: string | undefined;
        /** How the bot proves itself to the Bot Connector: its app secret, or a user-assigned managed identity. */
        readonly type: "MultiTenant" | "SingleTenant" | "UserAssignedMSI";
        /** Where botbuilder fetches the keys that sign incoming tokens; undefined = Bot Framework public cloud. */
        readonly openIdMetadataUrl: string | undefined;
      };
  readonly azure: Azure;
  readonly store: {
    readonly databaseUrl: string | undefined;
    readonly schema: string | undefined;
    readonly dataDir: string;
  };
  /** How often each process looks for due timers, and how long a claimed timer stays its own. */
  readonly timers: { readonly pollMs: number; readonly leaseMs: number };
  readonly publicBaseUrl: string;
  readonly trustedProxies: readonly string[];
  /**
   * Local mode only: origins besides loopback that activities may name as their serviceUrl (where
   * replies go). With Bot Framework auth the token names the service URL instead.
   */
  readonly localServiceUrls: readonly string[];
  readonly breakGlassUsers: readonly string[];
  /** Where on-call staff read what to do when break-glass itself fails. */
  readonly breakGlassRunbookUrl: string | undefined;
  /** Who may read every request's evidence (`audit`); approvers see their own VMs'. */
  readonly auditors: readonly string[];
  /** Who may run `doctor` in chat. */
  readonly admins: readonly string[];
  readonly rules: ApprovalRules;
  readonly rulesFile: string;
  /** Teams conversation id of a channel that gets every approval card, besides the approvers' 1:1 chats. */
  readonly approvalsChannelId: string | undefined;
  /** Teams conversation id of the security team's channel: closure alarms (and break-glass, later). */
  readonly securityChannelId: string | undefined;
  /** How long before the end the requester is warned. */
  readonly preExpiryWarningMs: number;
  /** How long after the end the bot checks that the port really closed. */
  readonly closureCheckDelayMs: number;
  /** How often an open window is checked in Azure's history for a newer initiate that replaced it. */
  readonly windowCheckIntervalMs: number;
  /**
   * The simulated fleet lives in the documentation ranges (203.0.113.0/24…), which real requests
   * never come from; they are accepted only when the bot talks to a simulator.
   */
  readonly acceptDocumentationRanges: boolean;
  /**
   * `npm start` on a laptop: local mode and the embedded simulator, which stands in for the
   * Internet. Only then may the one-time link offer a documentation address in place of the
   * browser's loopback one; every other mode refuses loopback and private peers.
   */
  readonly localDemo: boolean;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const HINTS: Record<string, string> = {
  PORT: "set PORT to a TCP port number such as 3978",
  AZURE_ARM_ENDPOINT:
    "use https://management.azure.com (or your sovereign cloud's), or http://127.0.0.1:<port> for a local simulator",
  AZURE_SUBSCRIPTION_ID: "copy the subscription id (a GUID) from `az account show --query id`",
  DATABASE_URL: "use postgres://user:password@host:5432/database, or unset it for the embedded database",
  PUBLIC_BASE_URL: "the https address users' browsers reach the bot at, e.g. https://portcullis.example.com",
  TRUSTED_PROXIES: "a comma-separated list of proxy addresses or CIDR prefixes, e.g. 10.0.0.4,10.1.0.0/24",
  LOCAL_SERVICE_URLS:
    "a comma-separated list of connector URLs local mode may reply to besides loopback, e.g. http://playground.internal:56150",
  BREAK_GLASS_USERS: "a comma-separated list of UPNs, e.g. oncall1@contoso.com,oncall2@contoso.com",
  BOT_TYPE:
    "MultiTenant, SingleTenant (with BOT_PASSWORD) or UserAssignedMSI (BOT_ID = the identity's client id)",
  BOT_OPENID_METADATA_URL:
    "leave unset for the Bot Framework public cloud; an https URL (or http://127.0.0.1… in tests) otherwise",
  APPROVALS_CHANNEL:
    "the Teams channel's conversation id, e.g. 19:abc…@thread.tacv2 (the bot must be in that team)",
};

/** Pure: turns an environment record into a Config, or throws ConfigError naming every bad variable. */
export function parseConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? "environment");
      const hint = HINTS[name];
      return `  ${name}: ${issue.message}${hint ? ` — ${hint}` : ""}`;
    });
    throw new ConfigError(`Portcullis cannot start; fix these settings:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  if (e.BOT_PASSWORD && !e.BOT_ID) {
    throw new ConfigError(
      "Portcullis cannot start: BOT_PASSWORD is set but BOT_ID is not — set BOT_ID to the bot's app id.",
    );
  }
  const endpoint = e.AZURE_ARM_ENDPOINT;
  if (endpoint && !isLoopbackHttp(endpoint) && !endpoint.startsWith("https://")) {
    throw new ConfigError(
      `Portcullis cannot start: AZURE_ARM_ENDPOINT=${endpoint} is plain http on a non-loopback host; real credentials only go over https.`,
    );
  }
  if (endpoint && !isLoopbackHttp(endpoint) && !e.AZURE_SUBSCRIPTION_ID) {
    throw new ConfigError(
      "Portcullis cannot start: AZURE_SUBSCRIPTION_ID is required with a real ARM endpoint.",
    );
  }
  let azure: Azure;
  if (endpoint) azure = { mode: "endpoint", endpoint, subscriptionId: e.AZURE_SUBSCRIPTION_ID };
  else if (e.AZURE_SUBSCRIPTION_ID)
    azure = {
      mode: "endpoint",
      endpoint: "https://management.azure.com",
      subscriptionId: e.AZURE_SUBSCRIPTION_ID,
    };
  else
    azure = {
      mode: "embedded-simulator",
      simulatorPort: e.SIMULATOR_PORT,
      fleetFile: fromRoot(e.FLEET_FILE),
    };

  const bot = botAuth(e);
  if (bot.mode === "authenticated" && e.LOCAL_SERVICE_URLS.length > 0) {
    throw new ConfigError(
      "Portcullis cannot start: LOCAL_SERVICE_URLS is set but so is BOT_ID — with Bot Framework auth the token names the service URL; unset LOCAL_SERVICE_URLS.",
    );
  }
  const rulesFile = fromRoot(e.RULES_FILE);
  return {
    port: e.PORT,
    host: bot.mode === "local" ? "127.0.0.1" : "0.0.0.0",
    logLevel: e.LOG_LEVEL,
    bot,
    azure,
    store: { databaseUrl: e.DATABASE_URL, schema: e.DATABASE_SCHEMA, dataDir: fromRoot(e.DATA_DIR) },
    timers: { pollMs: e.TIMER_POLL_INTERVAL, leaseMs: e.TIMER_LEASE },
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ""),
    trustedProxies: e.TRUSTED_PROXIES,
    localServiceUrls: e.LOCAL_SERVICE_URLS,
    breakGlassUsers: e.BREAK_GLASS_USERS,
    breakGlassRunbookUrl: e.BREAK_GLASS_RUNBOOK_URL,
    auditors: e.AUDITORS,
    admins: e.ADMINS,
    rules: readRules(rulesFile),
    rulesFile,
    approvalsChannelId: e.APPROVALS_CHANNEL,
    securityChannelId: e.SECURITY_CHANNEL,
    preExpiryWarningMs: e.PRE_EXPIRY_WARNING,
    closureCheckDelayMs: e.CLOSURE_CHECK_DELAY,
    windowCheckIntervalMs: e.WINDOW_CHECK_INTERVAL,
    acceptDocumentationRanges: azure.mode === "embedded-simulator" || isLoopbackHttp(azure.endpoint),
    localDemo: bot.mode === "local" && azure.mode === "embedded-simulator",
  };
}

function botAuth(e: z.infer<typeof EnvSchema>): Config["bot"] {
  if (!e.BOT_ID) {
    if (e.BOT_TYPE || e.BOT_OPENID_METADATA_URL || e.BOT_TENANT_ID) {
      throw new ConfigError(
        "Portcullis cannot start: BOT_TENANT_ID, BOT_TYPE or BOT_OPENID_METADATA_URL is set but BOT_ID is not — set BOT_ID to the bot's app id, or unset them for local mode.",
      );
    }
    return { mode: "local" };
  }
  const type = e.BOT_TYPE ?? (e.BOT_TENANT_ID ? "SingleTenant" : "MultiTenant");
  if (type === "UserAssignedMSI" && e.BOT_PASSWORD) {
    throw new ConfigError(
      "Portcullis cannot start: BOT_TYPE=UserAssignedMSI signs in with the managed identity — unset BOT_PASSWORD.",
    );
  }
  if (type !== "UserAssignedMSI" && !e.BOT_PASSWORD) {
    throw new ConfigError(
      `Portcullis cannot start: BOT_ID is set but BOT_PASSWORD is not — set BOT_PASSWORD to the bot's client secret, or BOT_TYPE=UserAssignedMSI with BOT_ID = the managed identity's client id.`,
    );
  }
  if (type !== "MultiTenant" && !e.BOT_TENANT_ID) {
    throw new ConfigError(
      `Portcullis cannot start: BOT_TYPE=${type} needs BOT_TENANT_ID — the Entra tenant id of the bot's app registration or identity.`,
    );
  }
  const metadata = e.BOT_OPENID_METADATA_URL;
  if (metadata && !isLoopbackHttp(metadata) && !metadata.startsWith("https://")) {
    throw new ConfigError(
      `Portcullis cannot start: BOT_OPENID_METADATA_URL=${metadata} must be https (plain http only on 127.0.0.1/localhost, for tests).`,
    );
  }
  return {
    mode: "authenticated",
    appId: e.BOT_ID,
    password: e.BOT_PASSWORD,
    tenantId: e.BOT_TENANT_ID,
    type,
    openIdMetadataUrl: metadata,
  };
}

function readRules(path: string): ApprovalRules {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(
      `Portcullis cannot start: RULES_FILE=${path} cannot be read as JSON (${error instanceof Error ? error.message : String(error)}) — point RULES_FILE at an approval rules file like env/rules.json.`,
    );
  }
  const parsed = parseApprovalRules(json, `RULES_FILE=${path}`);
  if (!parsed.ok) throw new ConfigError(`Portcullis cannot start: ${parsed.message}`);
  return parsed.rules;
}

/**
 * The process environment over env/.env.local: variables already set win, so CI and operators
 * override the committed local defaults without editing files.
 */
export function readEnvironment(
  processEnv: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string | undefined> {
  const file = resolve(repoRoot, "env/.env.local");
  const defaults = existsSync(file) ? parseEnv(readFileSync(file, "utf8")) : {};
  return { ...defaults, ...processEnv };
}

export function isLoopbackHttp(url: string): boolean {
  try {
    const { protocol, hostname } = new URL(url);
    return protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(hostname);
  } catch {
    return false;
  }
}

function splitList(value: string | undefined): string[] {
  return (value ?? "")
    .split(/[;,]/)
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

function fromRoot(path: string): string {
  return isAbsolute(path) ? path : resolve(repoRoot, path);
}
