/**
 * `extend R-17 30m` (or the Extend buttons on the warning). Within the window the approvers
 * originally approved (first grant + approved duration) it is a newer initiate at once; beyond it,
 * a new request for the same VM, ports and address goes to the approvers ("R-18 extends R-17"), and
 * when that is granted its initiate supersedes R-17's window, which ends "continued as R-18" at the
 * moment of that initiate. Should R-17 end first (done, expiry), R-18 is withdrawn with it.
 * Either way the new end stays within the JIT rule's maximum from now, the rules' cap and 24 h.
 */
import { type AccessRequest, createExtension, supersede } from "../domain/access-request.ts";
import {
  formatDuration,
  MAX_ACCESS_DURATION_MS,
  MIN_ACCESS_DURATION_MS,
  parseIsoDuration,
  tooShort,
  utcText,
} from "../domain/duration.ts";
import { justificationFor } from "../domain/justification.ts";
import { AZURE_MAX_DURATION_MS } from "../domain/request-check.ts";
import { type ApprovalSubject, resolveApprovalPolicy } from "../domain/rules.ts";
import { askApprovers, replaceCards, tellRequester } from "./approval-delivery.ts";
import { md } from "./chat-text.ts";
import type { AppContext, ChatUser } from "./context.ts";
import { withdrawExtensionsOf } from "./extension-withdrawal.ts";
import { flagsFor } from "./request-access.ts";
import {
  insertRecord,
  loadRecord,
  moveRecord,
  nonceOf,
  type RequestRecord,
  type StoredRecord,
} from "./request-record.ts";
import { cancelTimers, scheduleTimer, TimerKind } from "./timer-kinds.ts";
import { changeWindow } from "./window-change.ts";

export async function extendAccess(
  ctx: AppContext,
  user: ChatUser,
  requestId: string | undefined,
  extraMs: number,
): Promise<string> {
  // The parser keeps typed durations in range; this keeps every other caller there too (an
  // Invalid Date would slip past the limit check below).
  if (!Number.isFinite(extraMs) || extraMs > MAX_ACCESS_DURATION_MS)
    return `An extension is at most ${formatDuration(MAX_ACCESS_DURATION_MS)}, the longest Azure JIT opens a port for.`;
  if (extraMs < MIN_ACCESS_DURATION_MS) return tooShort(`An extension of ${formatDuration(extraMs)}`);
  const stored = await pick(ctx, user, requestId);
  if (typeof stored === "string") return stored;
  const { request } = stored.data;
  if (request.requester.id !== user.id)
    return `Only ${request.requester.name}, who asked for ${request.id}, can extend it.`;
  if (request.state !== "active" || !request.grant || !request.source)
    return `${request.id} is not open, so there is nothing to extend. Type \`status\`.`;
  if (request.kind === "break_glass")
    return `${request.id} is a break-glass grant; extending it needs an approver — ask with \`ssh ${request.targets[0]?.vmName ?? "<vm>"} because ${request.incident ?? "…"}\`.`;

  const now = ctx.clock.now();
  const end = new Date(request.grant.endTimeUtc);
  const newEnd = new Date(end.getTime() + extraMs);
  const vms = await ctx.gateway.listVms();
  let limit = AZURE_MAX_DURATION_MS;
  const subjects: ApprovalSubject[] = [];
  for (const target of request.targets) {
    const vm = vms.find((candidate) => candidate.ref.id.toLowerCase() === target.vmId.toLowerCase());
    if (vm?.jit.kind !== "configured")
      return `${target.vmName} no longer has a JIT policy, so ${request.id} cannot be extended.`;
    for (const rule of vm.jit.policy.rules.filter((candidate) => target.ports.includes(candidate.number))) {
      limit = Math.min(limit, parseIsoDuration(rule.maxRequestAccessDuration) ?? limit);
    }
    const subject = {
      vmName: vm.ref.name,
      subscriptionId: vm.ref.subscriptionId,
      resourceGroup: vm.ref.resourceGroup,
      tags: vm.tags,
    };
    subjects.push(subject);
    const policy = resolveApprovalPolicy(
      [subject],
      { id: user.id, ...(user.upn ? { upn: user.upn } : {}) },
      ctx.settings.rules,
    );
    if (policy.ok) limit = Math.min(limit, policy.policy.maxDurationMs);
  }
  if (newEnd.getTime() - now.getTime() > limit) {
    return `${request.id} can be open at most ${formatDuration(limit)} from now; extending by ${formatDuration(extraMs)} would go past that. Try a shorter extension.`;
  }

  const approvedUntil = Date.parse(request.grant.initiatedAt) + request.durationMs;
  if (newEnd.getTime() <= approvedUntil) return extendNow(ctx, stored, user, newEnd);
  // Beyond what was approved: asked of the approvers as the rules stand now, N never lowered.
  const approval = resolveApprovalPolicy(
    subjects,
    { id: user.id, ...(user.upn ? { upn: user.upn } : {}) },
    ctx.settings.rules,
  );
  if (!approval.ok)
    return `Extending ${request.id} to ${utcText(newEnd)} goes beyond what was approved and needs approval again, which cannot be asked: ${approval.message}`;
  return askForMore(ctx, stored, user, newEnd, limit, {
    approvers: approval.policy.approvers,
    required: approval.policy.requiredApprovals,
  });
}

async function extendNow(
  ctx: AppContext,
  stored: StoredRecord,
  user: ChatUser,
  newEnd: Date,
): Promise<string> {
  const { request } = stored.data;
  const now = ctx.clock.now();
  const outcome = await changeWindow(ctx, stored, {
    kind: "extend",
    endTimeUtc: newEnd.toISOString(),
    requestedAt: now.toISOString(),
    justification: justificationFor(request, nonceOf(stored.data)),
    by: { id: user.id, ...(user.upn ? { upn: user.upn } : {}), name: user.name },
  });
  if (outcome.kind === "refused") return outcome.message;
  if (outcome.kind === "changed")
    return `${request.id} changed meanwhile; type \`status\` to see where it stands.`;
  if (outcome.kind === "failed")
    return `I could not extend ${request.id}: ${outcome.message} It still closes at ${utcText(new Date(request.grant?.endTimeUtc ?? newEnd))}.`;
  return `${request.id} now closes at ${utcText(newEnd)}, within what was approved.`;
}

async function askForMore(
  ctx: AppContext,
  stored: StoredRecord,
  user: ChatUser,
  newEnd: Date,
  maxDurationMs: number,
  approval: AccessRequest["approval"],
): Promise<string> {
  const { request: original } = stored.data;
  const now = ctx.clock.now();
  const id = await ctx.store.requests.nextRequestId();
  const { request, event } = createExtension(original, { id, until: newEnd, approval }, now);
  // The card is about the extension as asked now: its own risk flags (time of asking), its own limit.
  // Admission refuses a second extension of the same window (admission.ts).
  const admitted = await insertRecord(ctx, request, event, {
    card: { maxDurationMs, riskFlags: await flagsFor(ctx, request, user) },
    conversationKey: user.conversationKey,
    timeZone: stored.data.requesterTimeZone,
  });
  if (!admitted.ok) return admitted.refusal.message;
  await scheduleTimer(ctx, TimerKind.ApprovalTimeout, id, new Date(request.decideBy ?? now));
  const reply = await askApprovers(ctx, admitted.stored);
  return `Extending ${original.id} to ${utcText(newEnd)} goes beyond what was approved, so it needs approval again. ${reply}`;
}

/** When an extension request is granted, the window it extends has been superseded: end it. */
export async function supersedeExtended(ctx: AppContext, extension: RequestRecord): Promise<void> {
  const originalId = extension.request.extends;
  if (!originalId) return;
  // supersede refuses anything but an open window: then there is nothing to end.
  const moved = await moveRecord(ctx, originalId, (stored) =>
    supersede(stored.data.request, extension.request),
  );
  if (moved.kind !== "moved") return;
  const next = moved.record;
  // The port stays open under the extension; no closure check for the old window.
  await cancelTimers(ctx, originalId, [TimerKind.PreExpiryWarning, TimerKind.Expiry, TimerKind.ClosureCheck]);
  await withdrawExtensionsOf(ctx, next.request);
  await replaceCards(ctx, next);
  await tellRequester(ctx, next, md`${originalId} continues as ${extension.request.id}.`);
}

async function pick(
  ctx: AppContext,
  user: ChatUser,
  requestId: string | undefined,
): Promise<StoredRecord | string> {
  if (requestId) return (await loadRecord(ctx, requestId)) ?? `I have no request ${requestId}.`;
  const active = await ctx.store.requests.listByRequester<RequestRecord>(user.id, ["active"]);
  const [only] = active;
  if (!only) return "You have no open access to extend. Type `status` to see your requests.";
  if (active.length > 1)
    return `You have ${active.length} open: ${active.map((each) => each.id).join(", ")}. Which one? e.g. \`extend ${only.id} 30m\`.`;
  return only;
}
