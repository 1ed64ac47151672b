/**
 * RBAC as ARM enforces it, for one role assigned at the fleet's subscription: every ARM request is
 * turned into the action ARM authorizes it with (`{namespace}/{type…}/read|write|delete`, or
 * `…/{action}/action` for a POST), and refused with 403 AuthorizationFailed unless the role's
 * Actions grant it and its NotActions do not take it away (wildcards as ARM reads them: `*` matches
 * any run of characters, case-insensitively). Data actions are not modelled: nothing here uses them.
 *
 * Where ARM's mapping is not documented the stricter reading is taken; test/fixtures/azure-examples/
 * ASSUMPTIONS.md lists each such choice with the live call that settles it.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ArmError } from "./arm-error.ts";
import { stableGuid } from "./arm-resources.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DEFAULT_ROLE_PATH = resolve(repoRoot, "infra", "portcullis-role.json");

/** A role definition as `az role definition create` takes it (PascalCase) or as ARM returns it (camelCase). */
const roleSchema = z.union([
  z.object({
    Name: z.string().optional(),
    Actions: z.array(z.string()),
    NotActions: z.array(z.string()).default([]),
  }),
  z.object({
    roleName: z.string().optional(),
    permissions: z
      .array(z.object({ actions: z.array(z.string()), notActions: z.array(z.string()).default([]) }))
      .min(1),
  }),
]);

export type RoleInput = z.input<typeof roleSchema>;

export interface Role {
  readonly name: string;
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
}

export function parseRole(input: unknown, source = "role"): Role {
  const parsed = roleSchema.safeParse(input);
  if (!parsed.success) {
    throw new Error(`${source}: not a role definition (needs Actions [+ NotActions], or permissions[])`);
  }
  const role = parsed.data;
  if ("Actions" in role) {
    return { name: role.Name ?? "custom role", actions: role.Actions, notActions: role.NotActions };
  }
  return {
    name: role.roleName ?? "custom role",
    actions: role.permissions.flatMap((p) => p.actions),
    notActions: role.permissions.flatMap((p) => p.notActions),
  };
}

export function loadRole(path: string = DEFAULT_ROLE_PATH): Role {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`cannot read role file ${path}: ${(error as Error).message}`);
  }
  return parseRole(raw, path);
}

function pattern(action: string): RegExp {
  const escaped = action
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${escaped}$`, "i");
}

/** Granted when some Action matches and no NotAction does (NotActions subtract; they never deny outright). */
export function roleGrants(role: Role, action: string): boolean {
  return (
    role.actions.some((a) => pattern(a).test(action)) && !role.notActions.some((a) => pattern(a).test(action))
  );
}

const VERBS: Readonly<Record<string, string>> = {
  GET: "read",
  HEAD: "read",
  PUT: "write",
  PATCH: "write",
  DELETE: "delete",
};

/**
 * The RBAC action ARM checks for `method path`, or undefined for calls ARM does not authorize
 * against a role (the tenant's subscription list, the caller's own permissions).
 */
export function actionFor(method: string, path: string): string | undefined {
  const segments = path
    .replace(/\/+$/, "")
    .split("/")
    .filter((s) => s.length > 0);
  const verb = VERBS[method.toUpperCase()];
  if (segments.length <= 1) return undefined; // GET /subscriptions: ARM filters the list, no check
  const providers = segments.map((s) => s.toLowerCase()).lastIndexOf("providers");
  if (providers < 0) {
    // /subscriptions/{s}[/resourceGroups[/{rg}][/resources]] | /subscriptions/{s}/resources
    const rest = segments.slice(2).map((s) => s.toLowerCase());
    const type =
      rest.length === 0
        ? "Microsoft.Resources/subscriptions"
        : rest[0] === "resources"
          ? "Microsoft.Resources/subscriptions/resources"
          : rest[2] === "resources"
            ? "Microsoft.Resources/subscriptions/resourceGroups/resources"
            : "Microsoft.Resources/subscriptions/resourceGroups";
    return verb ? `${type}/${verb}` : undefined;
  }
  const namespace = segments[providers + 1];
  if (!namespace) return undefined;
  const rest = segments.slice(providers + 2);
  if (namespace.toLowerCase() === "microsoft.authorization" && rest[0]?.toLowerCase() === "permissions") {
    return undefined; // anyone may ask for their own permissions
  }
  const isAction = method.toUpperCase() === "POST" && rest.length % 2 === 1 && rest.length >= 3;
  const typePath = isAction ? rest.slice(0, -1) : rest;
  const types = typePath.filter((_, i) => i % 2 === 0);
  // The JIT list without a location is authorized with the located type (Learn's JIT permission table).
  if (
    namespace.toLowerCase() === "microsoft.security" &&
    types.length === 1 &&
    types[0]?.toLowerCase() === "jitnetworkaccesspolicies"
  ) {
    types.unshift("locations");
  }
  const resourceType = [namespace, ...types].join("/");
  if (isAction) return `${resourceType}/${rest[rest.length - 1]}/action`;
  if (method.toUpperCase() === "POST") return `${resourceType}/action`;
  return verb ? `${resourceType}/${verb}` : undefined;
}

/** ARM's refusal, word for word in shape: client, object id, action, scope. */
export function authorizationFailed(principal: string, action: string, scope: string): ArmError {
  const objectId = stableGuid(`principal:${principal}`);
  return new ArmError(
    403,
    "AuthorizationFailed",
    `The client '${principal}' with object id '${objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  );
}

/** The simulator's RBAC: a role, or none (enforcement off). */
export class Rbac {
  private current: Role | undefined;
  private readonly initial: Role | undefined;

  constructor(initial: Role | undefined) {
    this.initial = initial;
    this.current = initial;
  }

  get role(): Role | undefined {
    return this.current;
  }

  set(role: Role | undefined): void {
    this.current = role;
  }

  reset(): void {
    this.current = this.initial;
  }

  /** Throws 403 AuthorizationFailed when the role does not grant `action` (no role: everything passes). */
  demand(principal: string, action: string, scope: string): void {
    if (this.current && !roleGrants(this.current, action)) {
      throw authorizationFailed(principal, action, scope);
    }
  }

  /** ARM's own check for a request, before any resource provider sees it. */
  check(principal: string, method: string, path: string): void {
    const action = actionFor(method, path);
    if (action !== undefined) this.demand(principal, action, path.replace(/\/+$/, ""));
  }
}
