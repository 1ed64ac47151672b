/**
 * The rules that span requests, checked by the store inside the transaction that writes the
 * request (store: `requests.exclusive`), never by a read before the write:
 *
 * - **One holder per VM and port.** A newer JIT initiate for a VM+port supersedes the older window
 *   whoever asked (`NewerRequestInitiated`), so two people's windows on the same VM+port must never
 *   overlap in time. A request that could overlap someone else's open, approved or scheduled
 *   window is refused before anyone is asked, naming who holds it and until when. (Chosen over
 *   opening both addresses in one initiate: one initiate per holder keeps every window's evidence,
 *   end time and `done` its own.) Break-glass is held to the same rule.
 * - **One open request per person per VM and port**, except the extension of their own window.
 * - **One pending extension per window.**
 * - **Break-glass limits**: per person and per VM in 24 hours.
 *
 * Pure: the store hands in the requests it read under the lock.
 */
import { type AccessRequest, isOpen, type RequestState } from "./access-request.ts";
import { utcText } from "./duration.ts";
import { samePerson } from "./person.ts";

export const DAY_MS = 24 * 60 * 60_000;

export interface BreakGlassLimits {
  readonly perUserPerDay: number;
  readonly perVmPerDay: number;
}

export interface AdmissionInput {
  /** The request about to be written: new, or an open one whose window moves (extend). */
  readonly candidate: AccessRequest;
  /** Every open request with a target on one of the candidate's VMs (the candidate may be among them). */
  readonly openOnVms: readonly AccessRequest[];
  /** Break-glass only: break-glass requests created in the last 24 h by the requester or on the VM. */
  readonly recentBreakGlass?: readonly AccessRequest[];
  readonly breakGlassLimits?: BreakGlassLimits;
  readonly now: Date;
}

export interface Refusal {
  readonly code: "held_by_other" | "already_open" | "extension_pending" | "rate_limited";
  readonly message: string;
  /** The request that stands in the way, when there is one. */
  readonly requestId?: string;
}

/** Undefined when the candidate may be written; otherwise the first reason it may not. */
export function admissionRefusal(input: AdmissionInput): Refusal | undefined {
  const { candidate, now } = input;
  for (const other of input.openOnVms) {
    if (other.id === candidate.id || !isOpen(other)) continue;
    // An extension and the window it extends are one holder: its initiate supersedes that window.
    if (candidate.extends === other.id || other.extends === candidate.id) continue;
    const clash = sharedPort(candidate, other);
    if (clash === undefined) continue;
    if (candidate.extends !== undefined && other.extends === candidate.extends) {
      return {
        code: "extension_pending",
        requestId: other.id,
        message: `${other.id} already asks to extend ${candidate.extends}; it is waiting for approval.`,
      };
    }
    if (samePerson(candidate.requester, other.requester)) {
      return {
        code: "already_open",
        requestId: other.id,
        message: `You already have ${other.id} (${describeOwnState(other.state)}) for ${clash}; \`status\` shows it${other.state === "active" ? `, \`done ${other.id}\` closes it` : `, \`cancel ${other.id}\` withdraws it`}.`,
      };
    }
    const mine = occupies(candidate, now);
    const theirs = occupies(other, now);
    if (mine.from < theirs.to && theirs.from < mine.to) {
      return { code: "held_by_other", requestId: other.id, message: heldMessage(other, clash, theirs) };
    }
  }
  if (candidate.kind === "break_glass" && input.breakGlassLimits !== undefined) {
    return breakGlassLimit(candidate, input.recentBreakGlass ?? [], input.breakGlassLimits, now);
  }
  return undefined;
}

/**
 * The time a request could hold its VM+ports, as an interval in ms. Conservative: a request not yet
 * open without a known start holds from its creation until it could last end (decided at the last
 * moment, then open for its whole duration), or for ever when that is unknown.
 */
export function occupies(request: AccessRequest, now: Date): { readonly from: number; readonly to: number } {
  if (request.grant !== undefined) {
    return { from: Date.parse(request.grant.initiatedAt), to: Date.parse(request.grant.endTimeUtc) };
  }
  if (request.extension !== undefined) {
    return {
      from: Math.min(Date.parse(request.createdAt), now.getTime()),
      to: Date.parse(request.extension.until),
    };
  }
  if (request.startAt !== undefined) {
    const from = Date.parse(request.startAt);
    return { from, to: from + request.durationMs };
  }
  const from = Math.min(Date.parse(request.createdAt), now.getTime());
  if (request.decideBy === undefined) return { from, to: Number.POSITIVE_INFINITY };
  return { from, to: Math.max(Date.parse(request.decideBy), now.getTime()) + request.durationMs };
}

/** "web-01 port 22" for the first VM+port both requests name, if any. */
export function sharedPort(a: AccessRequest, b: AccessRequest): string | undefined {
  for (const target of a.targets) {
    const same = b.targets.find((other) => other.vmId.toLowerCase() === target.vmId.toLowerCase());
    const port = same?.ports.find((candidate) => target.ports.includes(candidate));
    if (port !== undefined) return `${target.vmName} port ${port}`;
  }
  return undefined;
}

/** Break-glass that counts towards the limits: created in the last 24 h and not failed. */
export function countsTowardsLimits(request: AccessRequest, now: Date): boolean {
  return (
    request.kind === "break_glass" &&
    request.state !== "failed" &&
    Date.parse(request.createdAt) > now.getTime() - DAY_MS
  );
}

function breakGlassLimit(
  candidate: AccessRequest,
  recent: readonly AccessRequest[],
  limits: BreakGlassLimits,
  now: Date,
): Refusal | undefined {
  const counted = recent.filter((other) => other.id !== candidate.id && countsTowardsLimits(other, now));
  const byUser = counted.filter((other) => samePerson(other.requester, candidate.requester)).length;
  if (byUser >= limits.perUserPerDay) {
    return {
      code: "rate_limited",
      message: `You have broken glass ${byUser} times in the last 24 h, the most the rules allow (${limits.perUserPerDay}). Ask an approver, or the security team, for access the normal way.`,
    };
  }
  const vmIds = new Set(candidate.targets.map((target) => target.vmId.toLowerCase()));
  const onVm = counted.filter((other) =>
    other.targets.some((target) => vmIds.has(target.vmId.toLowerCase())),
  ).length;
  if (onVm >= limits.perVmPerDay) {
    const vmName = candidate.targets[0]?.vmName ?? "This VM";
    return {
      code: "rate_limited",
      message: `${vmName} has had ${onVm} break-glass grants in the last 24 h, the most the rules allow (${limits.perVmPerDay}). Ask an approver for access the normal way.`,
    };
  }
  return undefined;
}

function heldMessage(
  holder: AccessRequest,
  clash: string,
  window: { readonly from: number; readonly to: number },
): string {
  const who = holder.requester.upn ?? holder.requester.name;
  const name = holder.requester.name === who ? who : `${holder.requester.name} (${who})`;
  const until = Number.isFinite(window.to) ? ` until ${utcText(new Date(window.to))}` : "";
  const what =
    holder.state === "active"
      ? `has it open${until}`
      : holder.state === "scheduled" || (holder.state === "approved" && holder.startAt !== undefined)
        ? `is approved for it from ${utcText(new Date(window.from))}${until}`
        : holder.state === "approved"
          ? "is approved for it and it is opening now"
          : `has asked for it (waiting for ${holder.state === "awaiting_source" ? "their address" : "approval"}; it could be open${until})`;
  const after = Number.isFinite(window.to) ? ` or ask again after ${utcText(new Date(window.to))}` : "";
  return `${clash} is held by ${name}: ${holder.id} ${what}. JIT keeps one window per VM and port, so a second one would close theirs. Ask them to end it (\`done ${holder.id}\` or \`cancel ${holder.id}\`)${after}.`;
}

function describeOwnState(state: RequestState): string {
  return state === "awaiting_source" ? "waiting for your address" : state;
}
