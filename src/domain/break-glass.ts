/**
 * Who may break glass, and what they get: the on-call roster, the same VM / port / address checks
 * as a normal request, a shorter cap and an incident reference. The rate limits per person and per
 * VM span requests, so admission.ts checks them when the store writes the request.
 */

import type { RequestSource, Target } from "./access-request.ts";
import type { AddressCheckOptions } from "./address.ts";
import { formatDuration, MIN_ACCESS_DURATION_MS, parseIsoDuration, tooShort } from "./duration.ts";
import { checkSourceForTargets, toTarget } from "./request-check.ts";
import type { BreakGlassSettings } from "./rules.ts";
import type { VmWithJit } from "./vm.ts";

export interface BreakGlassCheckInput {
  readonly vm: VmWithJit;
  readonly durationMs?: number;
  readonly source?: { readonly text: string };
  /** What the on-call roster (a port: rules file today, a paging service later) says of the requester. */
  readonly onCall: boolean;
  readonly settings: BreakGlassSettings;
  /** Who will review it afterwards (the VM's other approvers, else the auditors; never the requester). */
  readonly reviewers: readonly string[];
  readonly addressOptions?: AddressCheckOptions;
}

export type BreakGlassCheck =
  | {
      readonly ok: true;
      readonly target: Target;
      readonly durationMs: number;
      readonly source?: RequestSource;
    }
  | {
      readonly ok: false;
      readonly code: "not_on_call" | "refused" | "no_reviewer";
      readonly message: string;
    };

/** The static roster: the rules file's `breakGlass.users` for this VM's scopes, plus BREAK_GLASS_USERS. */
export function onStaticRoster(
  upn: string,
  settings: BreakGlassSettings,
  extraRoster: readonly string[],
): boolean {
  const me = upn.toLowerCase();
  return settings.users.includes(me) || extraRoster.includes(me);
}

export function checkBreakGlass(input: BreakGlassCheckInput): BreakGlassCheck {
  const { vm, settings } = input;
  if (!input.onCall) {
    return {
      ok: false,
      code: "not_on_call",
      message: `You are not on the on-call roster for ${vm.ref.name}, so you cannot break glass. Ask for access the normal way — \`ssh ${vm.ref.name} because …\` — and an owner approves it.`,
    };
  }
  if (input.reviewers.length === 0) {
    return {
      ok: false,
      code: "no_reviewer",
      message: `Break-glass on ${vm.ref.name} needs someone other than you to review it afterwards, and there is nobody: apart from you, nobody approves ${vm.ref.name} and no AUDITORS are set. Ask for access the normal way, or have the configuration fixed — a VM owner adds approvers to its \`jit-approvers\` tag, or a Portcullis admin adds approvers in the rules file (RULES_FILE) or sets AUDITORS.`,
    };
  }
  if (vm.jit.kind !== "configured") {
    const why = vm.jit.kind === "not_configured" ? "JIT is not configured on it" : "JIT does not support it";
    return {
      ok: false,
      code: "refused",
      message: `${vm.ref.name} cannot be opened by JIT: ${why} (${vm.jit.reason}).`,
    };
  }
  const policy = vm.jit.policy;
  const port = vm.osType === "Windows" ? 3389 : 22;
  const rule = policy.rules.find((candidate) => candidate.number === port);
  if (!rule) {
    const ports = policy.rules.map((candidate) => candidate.number).join(", ");
    return {
      ok: false,
      code: "refused",
      message: `${vm.ref.name}'s JIT policy does not cover port ${port} (it covers ${ports}).`,
    };
  }
  const policyMax = parseIsoDuration(rule.maxRequestAccessDuration) ?? settings.maxDurationMs;
  const cap = Math.min(settings.maxDurationMs, policyMax);
  const durationMs = input.durationMs ?? cap;
  // The same floor as every request: a window shorter than this is no use in an emergency either.
  if (durationMs < MIN_ACCESS_DURATION_MS) {
    return { ok: false, code: "refused", message: tooShort(formatDuration(durationMs)) };
  }
  if (!Number.isFinite(durationMs) || durationMs > cap) {
    return {
      ok: false,
      code: "refused",
      message: `Break-glass on ${vm.ref.name} lasts at most ${formatDuration(cap)}; ask for \`for ${Math.floor(cap / 60_000)}m\` or less.`,
    };
  }
  let source: RequestSource | undefined;
  if (input.source) {
    const checked = checkSourceForTargets(input.source.text, [{ vm, rules: [rule] }], input.addressOptions);
    if (!checked.ok) return { ok: false, code: "refused", message: checked.message };
    source = { prefix: checked.source.canonical, origin: "typed" };
  }
  return { ok: true, target: toTarget(vm, policy, [rule]), durationMs, ...(source ? { source } : {}) };
}
