/**
 * Approval rules: who may approve access to a VM, how many must, and the limits that apply.
 * The file (env/rules.json) is validated with zod once at start-up; resolving is pure.
 *
 * Resolution for one VM: the built-in defaults, then the file's `defaults`, then every matching
 * scope from least to most specific (subscription, resource group, both); a later setting wins.
 * Approvers are additive: the VM's `jit-approvers` tag plus the `approvers` of the defaults and
 * of every matching scope (a security lead listed in `defaults` may approve anywhere).
 */
import { z } from "zod";
import { parseUserDuration } from "./duration.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The VM tag that names its owners; Azure tag names are case-insensitive. */
export const APPROVERS_TAG = "jit-approvers";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UPN = /^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$/;

/** A UPN ("alice@contoso.com") or an Entra object id (a GUID); compared lower-cased. */
export function isPrincipal(text: string): boolean {
  return UPN.test(text) || GUID.test(text);
}

const principal = z
  .string()
  .trim()
  .toLowerCase()
  .refine(isPrincipal, { message: "must be a UPN (alice@contoso.com) or an Entra object id (GUID)" });

const durationText = (max: number) =>
  z.string().transform((text, ctx) => {
    const parsed = parseUserDuration(text);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.message });
      return z.NEVER;
    }
    if (parsed.ms > max) {
      ctx.addIssue({
        code: "custom",
        message: `"${text}" is longer than the ${max / HOUR} h this setting allows`,
      });
      return z.NEVER;
    }
    return parsed.ms;
  });

const settingsShape = {
  description: z.string().optional(),
  /** Added to the VM's jit-approvers tag. */
  approvers: z.array(principal).optional(),
  /** N of the approvers must approve (N-of-M). */
  requiredApprovals: z.number().int().min(1).max(10).optional(),
  requireReason: z.boolean().optional(),
  /** Cap on any request, on top of the JIT rule's maxRequestAccessDuration; at most 24 h (Azure's own limit). */
  maxDuration: durationText(DAY).optional(),
  /** How long a request waits for a decision before it ends `timed_out`. */
  approvalTimeout: durationText(7 * DAY).optional(),
  /** On-call roster for break-glass (used by the break-glass use case). */
  breakGlass: z
    .object({
      users: z.array(principal).default([]),
      /** Entra groups: kept for a directory or paging adapter (PagerDuty, Opsgenie); not resolved yet. */
      groups: z.array(z.string().trim().min(1)).default([]),
      /** Cap on a break-glass window, never above the JIT rule's own maximum. Default 1 h. */
      maxDuration: durationText(DAY).optional(),
      /** Break-glass grants one person may take in 24 h. Default 3. */
      perUserPerDay: z.number().int().min(1).max(100).optional(),
      /** Break-glass grants one VM may get in 24 h. Default 5. */
      perVmPerDay: z.number().int().min(1).max(100).optional(),
      /** How long an approver has to acknowledge or flag the review. Default 4 h. */
      reviewTimeout: durationText(7 * DAY).optional(),
    })
    .strict()
    .optional(),
};

const ScopeSchema = z
  .object({
    subscription: z.string().trim().toLowerCase().optional(),
    resourceGroup: z.string().trim().toLowerCase().optional(),
    ...settingsShape,
  })
  .strict()
  .refine((scope) => scope.subscription !== undefined || scope.resourceGroup !== undefined, {
    message: "a scope needs `subscription`, `resourceGroup` or both (use `defaults` for everything)",
  });

export const RulesFileSchema = z
  .object({
    $schema: z.string().optional(),
    description: z.string().optional(),
    defaults: z.object(settingsShape).strict().default({}),
    scopes: z.array(ScopeSchema).default([]),
  })
  .strict();

export type ApprovalRules = z.output<typeof RulesFileSchema>;
type Settings = ApprovalRules["defaults"];

/** What applies when no rules file exists: one approval from the VM's tag, no reason needed. */
export const BUILT_IN_DEFAULTS = {
  requiredApprovals: 1,
  requireReason: false,
  maxDurationMs: DAY,
  approvalTimeoutMs: HOUR,
} as const;

export const EMPTY_RULES: ApprovalRules = { defaults: {}, scopes: [] };

/** Validates the parsed JSON of a rules file; the message names each bad field by its path. */
export function parseApprovalRules(
  json: unknown,
  source = "rules file",
): { readonly ok: true; readonly rules: ApprovalRules } | { readonly ok: false; readonly message: string } {
  const parsed = RulesFileSchema.safeParse(json);
  if (parsed.success) return { ok: true, rules: parsed.data };
  const problems = parsed.error.issues.map(
    (issue) => `${issue.path.length === 0 ? "(top level)" : issue.path.join(".")}: ${issue.message}`,
  );
  return { ok: false, message: `${source} is not valid — ${problems.join("; ")}` };
}

// ------------------------------------------------------------------ resolution

export interface ApprovalSubject {
  readonly vmName: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface RequesterIdentity {
  /** Entra object id. */
  readonly id: string;
  readonly upn?: string;
}

export interface ApprovalPolicy {
  /** Who may approve, lower-cased, the requester removed. */
  readonly approvers: readonly string[];
  /** N as the rules set it: never lowered (a request that cannot reach it is refused instead). */
  readonly requiredApprovals: number;
  readonly requireReason: boolean;
  readonly maxDurationMs: number;
  readonly approvalTimeoutMs: number;
  /** Tag entries that are neither a UPN nor an object id; the app logs them. */
  readonly ignoredEntries: readonly string[];
}

export type ApprovalPolicyProblem =
  | "no_vm"
  /** Nobody but (at most) the requester is listed. */
  | "no_approvers"
  /** Several VMs and nobody approves all of them. */
  | "no_shared_approver"
  /** Fewer approvers than N once the requester is removed. */
  | "too_few_approvers";

export type ApprovalPolicyResult =
  | { readonly ok: true; readonly policy: ApprovalPolicy }
  | { readonly ok: false; readonly code: ApprovalPolicyProblem; readonly message: string };

/** The jit-approvers tag: UPNs or object ids separated by ";" or ",". */
export function approversFromTags(tags: Readonly<Record<string, string>>): {
  readonly approvers: readonly string[];
  readonly ignored: readonly string[];
} {
  const value = Object.entries(tags).find(([key]) => key.toLowerCase() === APPROVERS_TAG)?.[1] ?? "";
  const entries = value
    .split(/[;,]/)
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== "");
  return {
    approvers: dedupe(entries.filter(isPrincipal)),
    ignored: entries.filter((entry) => !isPrincipal(entry)),
  };
}

/** One layer of settings and where it comes from, for sentences ("the rules for resource group rg-data"). */
interface Layer {
  readonly label: string;
  readonly settings: Settings;
}

/** The defaults, then the scopes matching a VM, least specific first; file order breaks ties. */
function matchingLayers(subject: ApprovalSubject, rules: ApprovalRules): readonly Layer[] {
  const subscription = subject.subscriptionId.toLowerCase();
  const resourceGroup = subject.resourceGroup.toLowerCase();
  const matching = rules.scopes
    .map((scope, order) => ({ scope, order }))
    .filter(
      ({ scope }) =>
        (scope.subscription === undefined || scope.subscription === subscription) &&
        (scope.resourceGroup === undefined || scope.resourceGroup === resourceGroup),
    )
    .sort((a, b) => specificity(a.scope) - specificity(b.scope) || a.order - b.order)
    .map(({ scope }) => ({
      label:
        scope.resourceGroup !== undefined
          ? `the rules for resource group ${scope.resourceGroup}`
          : `the rules for subscription ${scope.subscription ?? ""}`,
      settings: scope,
    }));
  return [{ label: "the rules' defaults", settings: rules.defaults }, ...matching];
}

function matchingSettings(subject: ApprovalSubject, rules: ApprovalRules): readonly Settings[] {
  return matchingLayers(subject, rules).map((layer) => layer.settings);
}

function specificity(scope: {
  readonly subscription?: string | undefined;
  readonly resourceGroup?: string | undefined;
}): number {
  return (scope.subscription === undefined ? 0 : 1) + (scope.resourceGroup === undefined ? 0 : 2);
}

/** The most specific layer's value, and which layer set it. */
function settingFrom<K extends keyof Settings>(
  layers: readonly Layer[],
  key: K,
): { readonly value: Settings[K]; readonly from: string } | undefined {
  let found: { value: Settings[K]; from: string } | undefined;
  for (const layer of layers)
    if (layer.settings[key] !== undefined) found = { value: layer.settings[key], from: layer.label };
  return found;
}

const TAG_SOURCE = `the VM's \`${APPROVERS_TAG}\` tag`;
const BUILT_IN = "the built-in default";

interface VmApproval {
  readonly vmName: string;
  readonly approvers: readonly string[];
  /** Where each approver is listed: the tag and/or rule layers. */
  readonly approverSources: ReadonlyMap<string, readonly string[]>;
  readonly required: number;
  readonly requiredFrom: string;
  readonly requireReason: boolean;
  readonly requireReasonFrom: string;
  readonly maxDurationMs: number;
  readonly approvalTimeoutMs: number;
  readonly ignored: readonly string[];
}

function resolveOne(subject: ApprovalSubject, rules: ApprovalRules): VmApproval {
  const layers = matchingLayers(subject, rules);
  const fromTag = approversFromTags(subject.tags);
  const sources = new Map<string, string[]>();
  const add = (principal: string, source: string): void => {
    const known = sources.get(principal) ?? [];
    if (!known.includes(source)) known.push(source);
    sources.set(principal, known);
  };
  for (const principal of fromTag.approvers) add(principal, TAG_SOURCE);
  for (const layer of layers)
    for (const principal of layer.settings.approvers ?? []) add(principal, layer.label);
  const required = settingFrom(layers, "requiredApprovals");
  const requireReason = settingFrom(layers, "requireReason");
  return {
    vmName: subject.vmName,
    approvers: [...sources.keys()],
    approverSources: sources,
    required: required?.value ?? BUILT_IN_DEFAULTS.requiredApprovals,
    requiredFrom: required?.from ?? BUILT_IN,
    requireReason: requireReason?.value ?? BUILT_IN_DEFAULTS.requireReason,
    requireReasonFrom: requireReason?.from ?? BUILT_IN,
    maxDurationMs: settingFrom(layers, "maxDuration")?.value ?? BUILT_IN_DEFAULTS.maxDurationMs,
    approvalTimeoutMs: settingFrom(layers, "approvalTimeout")?.value ?? BUILT_IN_DEFAULTS.approvalTimeoutMs,
    ignored: fromTag.ignored,
  };
}

/** Who can raise the number of approvers; said wherever the rules cannot be met. */
export function howToAddApprovers(vmNames: readonly string[]): string {
  const which = vmNames.length === 1 ? `${vmNames[0] ?? ""}'s` : "each VM's";
  return `To fix it, a VM owner adds approvers to ${which} \`${APPROVERS_TAG}\` tag (UPNs separated by ;), or a Portcullis admin (ADMINS) adds approvers for it in the approval rules file (RULES_FILE).`;
}

function requesterMatcher(requester: RequesterIdentity): (approver: string) => boolean {
  return (approver) =>
    approver === requester.id.toLowerCase() ||
    (requester.upn !== undefined && approver === requester.upn.toLowerCase());
}

/** Those listed for every one of the VMs, in the first VM's order. */
function sharedApprovers(perVm: readonly VmApproval[]): readonly string[] {
  const [first, ...others] = perVm;
  if (first === undefined) return [];
  return first.approvers.filter((approver) => others.every((vm) => vm.approvers.includes(approver)));
}

/**
 * Who may approve (or review) a request for these VMs right now, the requester removed, whether
 * or not they are enough for N. For the execute-time re-check of a click and for break-glass
 * reviews, which need one reviewer, not N.
 */
export function eligibleApprovers(
  subjects: readonly ApprovalSubject[],
  requester: RequesterIdentity,
  rules: ApprovalRules,
): readonly string[] {
  const isRequester = requesterMatcher(requester);
  return sharedApprovers(subjects.map((subject) => resolveOne(subject, rules))).filter(
    (approver) => !isRequester(approver),
  );
}

/** N for these VMs as the rules set it now: the largest any of them needs. */
export function requiredApprovalsFor(subjects: readonly ApprovalSubject[], rules: ApprovalRules): number {
  return Math.max(
    BUILT_IN_DEFAULTS.requiredApprovals,
    ...subjects.map((subject) => resolveOne(subject, rules).required),
  );
}

/**
 * Who must approve a request for these VMs. With several VMs, one approval must count for all
 * of them, so the approvers are those listed for *every* VM and N is the largest N; when no one
 * is, the answer says to ask separately. The requester never approves their own request: they
 * are removed, and when fewer than N are left the request is refused, saying who can fix it —
 * N is never lowered to fit.
 */
export function resolveApprovalPolicy(
  subjects: readonly ApprovalSubject[],
  requester: RequesterIdentity,
  rules: ApprovalRules,
): ApprovalPolicyResult {
  const perVm = subjects.map((subject) => resolveOne(subject, rules));
  if (perVm.length === 0)
    return { ok: false, code: "no_vm", message: "There is no VM to approve access to." };

  const shared = sharedApprovers(perVm);
  const vmNames = perVm.map((vm) => vm.vmName);
  const names = vmNames.join(", ");
  if (perVm.some((vm) => vm.approvers.length === 0)) {
    const bare = perVm.filter((vm) => vm.approvers.length === 0).map((vm) => vm.vmName);
    return {
      ok: false,
      code: "no_approvers",
      message: `Nobody is listed to approve access to ${bare.join(", ")}. An owner can add a \`${APPROVERS_TAG}\` tag to the VM (UPNs separated by ;), or an admin can add approvers in the rules file.`,
    };
  }
  if (shared.length === 0) {
    return {
      ok: false,
      code: "no_shared_approver",
      message: `No one approves all of ${names} (${perVm.map((vm) => `${vm.vmName}: ${vm.approvers.join(", ")}`).join("; ")}); ask for them in separate requests.`,
    };
  }

  const isRequester = requesterMatcher(requester);
  const approvers = shared.filter((approver) => !isRequester(approver));
  const strictest = perVm.reduce((a, b) => (b.required > a.required ? b : a));
  const required = strictest.required;

  if (approvers.length === 0) {
    return {
      ok: false,
      code: "no_approvers",
      message: `You are the only approver of ${names}, and nobody approves their own request. Ask an owner to add a second approver to the \`${APPROVERS_TAG}\` tag.`,
    };
  }
  if (approvers.length < required) {
    const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
    const needs = `${names} ${perVm.length === 1 ? "needs" : "need"} ${plural(required, "approval")} (${strictest.requiredFrom})`;
    const left =
      approvers.length < shared.length
        ? `but you are one of its ${plural(shared.length, "approver")} and nobody approves their own request, so only ${approvers.length} can approve yours (${approvers.join(", ")})`
        : `but only ${plural(approvers.length, "approver")} ${approvers.length === 1 ? "is" : "are"} listed (${approvers.join(", ")})`;
    return {
      ok: false,
      code: "too_few_approvers",
      message: `${needs}, ${left}. I won't ask for fewer approvals than the rules require. ${howToAddApprovers(vmNames)}`,
    };
  }
  return {
    ok: true,
    policy: {
      approvers,
      requiredApprovals: required,
      requireReason: perVm.some((vm) => vm.requireReason),
      maxDurationMs: Math.min(...perVm.map((vm) => vm.maxDurationMs)),
      approvalTimeoutMs: Math.min(...perVm.map((vm) => vm.approvalTimeoutMs)),
      ignoredEntries: dedupe(perVm.flatMap((vm) => vm.ignored)),
    },
  };
}

/** What `policy <vm>` says about approval: who, how many, whether a reason is needed, and from where. */
export interface ApprovalFacts {
  /** Every principal who may approve, with where each is listed (the tag, a rules layer). */
  readonly approvers: readonly { readonly principal: string; readonly from: readonly string[] }[];
  readonly requiredApprovals: number;
  readonly requiredFrom: string;
  readonly requireReason: boolean;
  readonly requireReasonFrom: string;
  readonly approvalTimeoutMs: number;
  readonly maxDurationMs: number;
  readonly ignoredEntries: readonly string[];
  /**
   * Where N cannot be met: "everyone" — fewer approvers are listed than N, so every request is
   * refused; "approvers" — exactly N are listed, so one of them asking for themselves is refused.
   */
  readonly shortfall?: "everyone" | "approvers";
}

export function approvalFacts(subject: ApprovalSubject, rules: ApprovalRules): ApprovalFacts {
  const vm = resolveOne(subject, rules);
  const shortfall =
    vm.approvers.length < vm.required
      ? "everyone"
      : vm.approvers.length === vm.required
        ? "approvers"
        : undefined;
  return {
    approvers: vm.approvers.map((principal) => ({
      principal,
      from: vm.approverSources.get(principal) ?? [],
    })),
    requiredApprovals: vm.required,
    requiredFrom: vm.requiredFrom,
    requireReason: vm.requireReason,
    requireReasonFrom: vm.requireReasonFrom,
    approvalTimeoutMs: vm.approvalTimeoutMs,
    maxDurationMs: vm.maxDurationMs,
    ignoredEntries: vm.ignored,
    ...(shortfall === undefined ? {} : { shortfall }),
  };
}

/** The break-glass roster for a VM: the union of the defaults and every matching scope. */
export function breakGlassRoster(
  subject: ApprovalSubject,
  rules: ApprovalRules,
): { readonly users: readonly string[]; readonly groups: readonly string[] } {
  const layers = matchingSettings(subject, rules);
  return {
    users: dedupe(layers.flatMap((layer) => layer.breakGlass?.users ?? [])),
    groups: dedupe(layers.flatMap((layer) => layer.breakGlass?.groups ?? [])),
  };
}

export const BREAK_GLASS_DEFAULTS = {
  maxDurationMs: HOUR,
  perUserPerDay: 3,
  perVmPerDay: 5,
  reviewTimeoutMs: 4 * HOUR,
} as const;

export interface BreakGlassSettings {
  readonly users: readonly string[];
  readonly groups: readonly string[];
  readonly maxDurationMs: number;
  readonly perUserPerDay: number;
  readonly perVmPerDay: number;
  readonly reviewTimeoutMs: number;
}

/** The roster and limits that apply to a VM: users add up across scopes; the most specific limit wins. */
export function breakGlassSettings(subject: ApprovalSubject, rules: ApprovalRules): BreakGlassSettings {
  const layers = matchingSettings(subject, rules).map((layer) => layer.breakGlass);
  const last = <K extends "maxDuration" | "perUserPerDay" | "perVmPerDay" | "reviewTimeout">(key: K) =>
    layers.reduce<NonNullable<Settings["breakGlass"]>[K] | undefined>(
      (found, layer) => layer?.[key] ?? found,
      undefined,
    );
  const roster = breakGlassRoster(subject, rules);
  return {
    ...roster,
    maxDurationMs: last("maxDuration") ?? BREAK_GLASS_DEFAULTS.maxDurationMs,
    perUserPerDay: last("perUserPerDay") ?? BREAK_GLASS_DEFAULTS.perUserPerDay,
    perVmPerDay: last("perVmPerDay") ?? BREAK_GLASS_DEFAULTS.perVmPerDay,
    reviewTimeoutMs: last("reviewTimeout") ?? BREAK_GLASS_DEFAULTS.reviewTimeoutMs,
  };
}

function dedupe(items: readonly string[]): string[] {
  return [...new Set(items)];
}
