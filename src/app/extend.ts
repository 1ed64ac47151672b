/**
 * `extend R-17 30m` (or the Extend buttons on the warning). Within the window the approvers
 * originally approved (first grant + approved duration) it is a newer initiate at once; beyond it,
 * a new request for the same VM, ports and address goes to the approvers ("R-18 extends R-17"), and
 * when that is granted its initiate supersedes R-17's window, which ends as revoked.
 * Either way the new end stays within the JIT rule's maximum from now, the rules' cap and 24 h.
 */
import { type AccessRequest, createRequest, extendGrant, revoke } from "../domain/access-request.ts";
import { formatDuration, parseIsoDuration, utcText } from "../domain/duration.ts";
import { asPortcullisError } from "../domain/errors.ts";
import { justificationFor } from "../domain/justification.ts";
import { AZURE_MAX_DURATION_MS } from "../domain/request-check.ts";
import { type ApprovalSubject, resolveApprovalPolicy } from "../domain/rules.ts";
import { scheduleWindowTimers } from "./access-window.ts";
import { askApprovers, replaceCards, tellRequester } from "./approval-delivery.ts";
import type { AppContext, ChatUser } from "./context.ts";
import { commit, insertRecord, loadRecord, type RequestRecord, type StoredRecord } from "./request-record.ts";
import { cancelTimers, scheduleTimer, TimerKind } from "./timer-kinds.ts";

export async function extendAccess(
  ctx: AppContext,
  user: ChatUser,
  requestId: string | undefined,
  extraMs: number,
): Promise<string> {
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
  return askForMore(ctx, stored, user, newEnd, {
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
  const moved = extendGrant(
    request,
    { id: user.id, ...(user.upn ? { upn: user.upn } : {}) },
    newEnd,
    ctx.clock.now(),
  );
  if (!moved.ok) return moved.error.message;
  const [target] = request.targets;
  if (!target) return `${request.id} has nothing open.`;
  try {
    await ctx.gateway.initiate({
      policy: { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
      virtualMachines: request.targets.map((each) => ({
        vmId: each.vmId,
        ports: each.ports.map((number) => ({
          number,
          endTimeUtc: newEnd,
          allowedSourceAddressPrefix: request.source?.prefix ?? "",
        })),
      })),
      justification: justificationFor(request),
    });
  } catch (error) {
    const coded = asPortcullisError(error);
    return `I could not extend ${request.id}: ${coded.userMessage} It still closes at ${utcText(new Date(request.grant?.endTimeUtc ?? newEnd))}.`;
  }
  const next: RequestRecord = { ...stored.data, request: moved.request };
  if (!(await commit(ctx, stored, next, moved.event)))
    return `${request.id} changed meanwhile; type \`status\` to see where it stands.`;
  await scheduleWindowTimers(ctx, next.request);
  await replaceCards(ctx, next);
  return `${request.id} now closes at ${utcText(newEnd)}, within what was approved.`;
}

async function askForMore(
  ctx: AppContext,
  stored: StoredRecord,
  user: ChatUser,
  newEnd: Date,
  approval: AccessRequest["approval"],
): Promise<string> {
  const { request: original } = stored.data;
  const open = await ctx.store.requests.listByState<RequestRecord>(["pending"]);
  const asked = open.find((candidate) => candidate.data.request.extends === original.id);
  if (asked) return `${asked.id} already asks to extend ${original.id}; it is waiting for approval.`;
  const now = ctx.clock.now();
  const id = await ctx.store.requests.nextRequestId();
  const { request, event } = createRequest(
    {
      id,
      requester: original.requester,
      targets: original.targets,
      ...(original.source ? { source: original.source } : {}),
      durationMs: newEnd.getTime() - now.getTime(),
      reason: `extends ${original.id}${original.reason ? `: ${original.reason}` : ""}`,
      approval,
    },
    now,
  );
  const extension = { ...request, extends: original.id };
  const inserted = await insertRecord(
    ctx,
    extension,
    { ...event, payload: { ...event.payload, extends: original.id } },
    {
      card: stored.data.card,
      conversationKey: user.conversationKey,
      timeZone: stored.data.requesterTimeZone,
    },
  );
  // It must be decided before the window it would extend closes.
  await scheduleTimer(ctx, TimerKind.ApprovalTimeout, id, new Date(original.grant?.endTimeUtc ?? now));
  const reply = await askApprovers(ctx, inserted);
  return `Extending ${original.id} to ${utcText(newEnd)} goes beyond what was approved, so it needs approval again. ${reply}`;
}

/** When an extension request is granted, the window it extends has been superseded: end it. */
export async function supersedeExtended(ctx: AppContext, extension: RequestRecord): Promise<void> {
  const originalId = extension.request.extends;
  if (!originalId) return;
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await loadRecord(ctx, originalId);
    if (stored?.data.request.state !== "active") return;
    const moved = revoke(stored.data.request, { id: "portcullis" }, ctx.clock.now(), {
      reason: `extended by ${extension.request.id}`,
      privileged: true,
    });
    if (!moved.ok) return;
    const next: RequestRecord = { ...stored.data, request: moved.request };
    if (!(await commit(ctx, stored, next, moved.event))) continue;
    // The port stays open under the extension; no closure check for the old window.
    await cancelTimers(ctx, originalId, [
      TimerKind.PreExpiryWarning,
      TimerKind.Expiry,
      TimerKind.ClosureCheck,
    ]);
    await replaceCards(ctx, next);
    await tellRequester(ctx, next, `${originalId} continues as ${extension.request.id}.`);
    return;
  }
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
