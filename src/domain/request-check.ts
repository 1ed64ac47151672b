/**
 * Checks before anyone is asked (issue 3): the VMs are JIT-configured, every port is in their
 * policy, the duration fits every limit, the reason is there when the rules want one, the typed
 * address passes address.ts, and enough people other than the requester can approve (N is never
 * lowered to fit). Pure: the app resolves names to VMs and reads the rules, then asks here. Rules
 * that span requests (one holder per VM+port, one open request per person) are admission.ts's,
 * checked by the store at insert.
 */
import type { RequestSource, Target } from "./access-request.ts";
import { type AddressCheckOptions, checkSourceAgainstRule, type SourcePrefix } from "./address.ts";
import {
  formatDuration,
  MAX_ACCESS_DURATION_MS,
  MIN_ACCESS_DURATION_MS,
  parseIsoDuration,
  tooShort,
} from "./duration.ts";
import { ErrorCode } from "./errors.ts";
import {
  type ApprovalPolicy,
  type ApprovalRules,
  type RequesterIdentity,
  resolveApprovalPolicy,
} from "./rules.ts";
import type { PortRule, VmPolicy, VmWithJit } from "./vm.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Azure's own ceiling for maxRequestAccessDuration (defined once, in duration.ts). */
export const AZURE_MAX_DURATION_MS = MAX_ACCESS_DURATION_MS;
/** What a request gets when it names no duration (capped by the limits below). */
export const DEFAULT_DURATION_MS = HOUR;
/** Azure's floor (defined once, in duration.ts); the parser already refuses less. */
export const MIN_DURATION_MS = MIN_ACCESS_DURATION_MS;

export interface CheckInput {
  /** The VMs the command named, already resolved (one per name). */
  readonly vms: readonly VmWithJit[];
  readonly ports: readonly number[];
  readonly durationMs?: number;
  /** A typed `from`; the link flow checks its address with `checkSourceForTargets`. */
  readonly source?: { readonly text: string };
  readonly reason?: string;
  readonly requester: RequesterIdentity;
  readonly rules: ApprovalRules;
  readonly addressOptions?: AddressCheckOptions;
}

export interface CheckedRequest {
  readonly targets: readonly Target[];
  readonly durationMs: number;
  /** The longest this request could have asked for, for the card ("policy limits"). */
  readonly maxDurationMs: number;
  readonly source?: RequestSource;
  readonly reason?: string;
  readonly approval: ApprovalPolicy;
}

export interface CheckProblem {
  readonly code:
    | "not_configured"
    | "port_not_in_policy"
    | "duration_too_long"
    | "duration_too_short"
    | "reason_required"
    | "source_refused"
    | "no_approver"
    /** The rules need more approvals than there are approvers other than the requester. */
    | "too_few_approvers";
  readonly message: string;
}

export type CheckResult =
  | { readonly ok: true; readonly request: CheckedRequest }
  | {
      readonly ok: false;
      readonly code: typeof ErrorCode.RequestRefused;
      readonly problems: readonly CheckProblem[];
      /** All problems as one reply. */
      readonly message: string;
    };

export function checkRequest(input: CheckInput): CheckResult {
  const problems: CheckProblem[] = [];
  const configured: { vm: VmWithJit; policy: VmPolicy; rules: PortRule[] }[] = [];

  for (const vm of input.vms) {
    if (vm.jit.kind !== "configured") {
      problems.push({
        code: "not_configured",
        message: `${vm.ref.name} ${vm.jit.kind === "not_configured" ? "is not configured for JIT" : "cannot use JIT"}: ${vm.jit.reason}`,
      });
      continue;
    }
    const rules: PortRule[] = [];
    for (const port of input.ports) {
      const rule = vm.jit.policy.rules.find((candidate) => candidate.number === port);
      if (rule) rules.push(rule);
      else {
        const covered = vm.jit.policy.rules.map((candidate) => candidate.number);
        problems.push({
          code: "port_not_in_policy",
          message:
            covered.length === 0
              ? `${vm.ref.name}'s JIT policy covers no ports.`
              : `${vm.ref.name}'s JIT policy covers port${covered.length === 1 ? "" : "s"} ${covered.join(", ")}, not ${port}.`,
        });
      }
    }
    configured.push({ vm, policy: vm.jit.policy, rules });
  }

  const approval = resolveApprovalPolicy(
    input.vms.map((vm) => ({
      vmName: vm.ref.name,
      subscriptionId: vm.ref.subscriptionId,
      resourceGroup: vm.ref.resourceGroup,
      tags: vm.tags,
    })),
    input.requester,
    input.rules,
  );
  if (!approval.ok) {
    problems.push({
      code: approval.code === "too_few_approvers" ? "too_few_approvers" : "no_approver",
      message: approval.message,
    });
  }

  // The tightest limit wins and is named, so the user knows whom to ask for more.
  const limits: { ms: number; because: string }[] = [
    { ms: AZURE_MAX_DURATION_MS, because: "Azure JIT allows" },
  ];
  if (approval.ok) limits.push({ ms: approval.policy.maxDurationMs, because: "the approval rules allow" });
  for (const { vm, rules } of configured) {
    for (const rule of rules) {
      const ms = parseIsoDuration(rule.maxRequestAccessDuration);
      // An unreadable maximum is Azure's to enforce; the 24 h ceiling still applies here.
      if (ms !== undefined)
        limits.push({ ms, because: `${vm.ref.name}'s JIT rule for port ${rule.number} allows` });
    }
  }
  const tightest = limits.reduce((a, b) => (b.ms < a.ms ? b : a));
  const durationMs = input.durationMs ?? Math.min(DEFAULT_DURATION_MS, tightest.ms);
  if (!Number.isFinite(durationMs) || durationMs > tightest.ms) {
    problems.push({
      code: "duration_too_long",
      message: `${formatDuration(durationMs)} is too long: ${tightest.because} at most ${formatDuration(tightest.ms)}. Ask for ${formatDuration(tightest.ms)} or less.`,
    });
  } else if (durationMs < MIN_DURATION_MS) {
    problems.push({
      code: "duration_too_short",
      message: tooShort(formatDuration(durationMs)),
    });
  }

  const reason = input.reason?.trim() || undefined;
  if (approval.ok && approval.policy.requireReason && reason === undefined) {
    problems.push({
      code: "reason_required",
      message: `Access to ${input.vms.map((vm) => vm.ref.name).join(", ")} needs a reason: add \`because <ticket or what you will do>\`, e.g. \`because INC-4211\`.`,
    });
  }

  let source: RequestSource | undefined;
  if (input.source !== undefined) {
    const checked = checkSourceForTargets(input.source.text, configured, input.addressOptions);
    if (checked.ok) source = { prefix: checked.source.canonical, origin: "typed" };
    else problems.push({ code: "source_refused", message: checked.message });
  }

  if (problems.length > 0 || !approval.ok) {
    return {
      ok: false,
      code: ErrorCode.RequestRefused,
      problems,
      message:
        problems.length === 1
          ? (problems[0]?.message ?? "")
          : problems.map((p) => `- ${p.message}`).join("\n"),
    };
  }
  return {
    ok: true,
    request: {
      targets: configured.map(({ vm, policy, rules }) => toTarget(vm, policy, rules)),
      durationMs,
      maxDurationMs: tightest.ms,
      ...(source === undefined ? {} : { source }),
      ...(reason === undefined ? {} : { reason }),
      approval: approval.policy,
    },
  };
}

/**
 * An address against every rule it would open: all must allow it. Used for a typed `from` and
 * again for the address the one-time link records.
 */
export function checkSourceForTargets(
  text: string,
  targets: readonly { readonly vm: VmWithJit; readonly rules: readonly PortRule[] }[],
  options: AddressCheckOptions = {},
): { readonly ok: true; readonly source: SourcePrefix } | { readonly ok: false; readonly message: string } {
  let accepted: SourcePrefix | undefined;
  const several = targets.length > 1 || targets.some(({ rules }) => rules.length > 1);
  for (const { vm, rules } of targets) {
    for (const rule of rules) {
      const checked = checkSourceAgainstRule(text, rule.allowedSourceAddressPrefixes, options);
      if (!checked.ok) {
        return {
          ok: false,
          message: several ? `${vm.ref.name} port ${rule.number}: ${checked.message}` : checked.message,
        };
      }
      accepted = checked.source;
    }
  }
  if (accepted === undefined) {
    // No rule to check against (every port was refused above): still report a syntax error.
    const checked = checkSourceAgainstRule(text, ["*"], options);
    return checked.ok ? { ok: true, source: checked.source } : { ok: false, message: checked.message };
  }
  return { ok: true, source: accepted };
}

/** The rules of the requested ports for each VM, for checkSourceForTargets in the link flow. */
export function rulesForTargets(
  vms: readonly VmWithJit[],
  targets: readonly Target[],
): { readonly vm: VmWithJit; readonly rules: readonly PortRule[] }[] {
  return targets.flatMap((target) => {
    const vm = vms.find((candidate) => candidate.ref.id.toLowerCase() === target.vmId.toLowerCase());
    if (vm === undefined || vm.jit.kind !== "configured") return [];
    const policyRules = vm.jit.policy.rules;
    return [{ vm, rules: policyRules.filter((rule) => target.ports.includes(rule.number)) }];
  });
}

export function toTarget(vm: VmWithJit, policy: VmPolicy, rules: readonly PortRule[]): Target {
  const connectAddress = policy.publicIpAddress ?? vm.connectAddress;
  return {
    vmId: vm.ref.id,
    vmName: vm.ref.name,
    resourceGroup: policy.resourceGroup,
    location: policy.location,
    policyName: policy.policyName,
    ports: rules.map((rule) => rule.number),
    osType: vm.osType,
    ...(connectAddress === undefined ? {} : { connectAddress }),
    // The firewall port is not known until Azure answers the initiate: it comes with the grant.
    ...(policy.publicIpAddress === undefined ? {} : { viaFirewall: true }),
  };
}
