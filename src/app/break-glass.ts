/**
 * `break-glass web-01 INC-9 database down`: on-call access at once, told loudly, reviewed after.
 * Who is on call comes from the OnCallRoster port (static-roster.ts today; a PagerDuty or Opsgenie
 * adapter would answer "is this person on call for this VM now?").
 */
import {
  type AccessRequest,
  acknowledgeReview,
  createBreakGlass,
  escalateReview,
  FINAL_STATES,
  flagReview,
  OPEN_STATES,
  type Transition,
} from "../domain/access-request.ts";
import { checkBreakGlass } from "../domain/break-glass.ts";
import type { BreakGlassCommand } from "../domain/commands.ts";
import { formatDuration, utcText } from "../domain/duration.ts";
import { breakGlassSettings, eligibleApprovers } from "../domain/rules.ts";
import type { VmWithJit } from "../domain/vm.ts";
import { approvalMessage, recipientOf, replaceCards } from "./approval-delivery.ts";
import type { AppContext, ChatUser } from "./context.ts";
import { pickVm } from "./fleet.ts";
import type { ClaimedTimer, MessageHandle } from "./ports.ts";
import { offerSourceLink } from "./request-access.ts";
import { commit, insertRecord, loadRecord, type RequestRecord } from "./request-record.ts";
import { cancelTimers, scheduleTimer, TimerKind } from "./timer-kinds.ts";

const DAY_MS = 24 * 60 * 60_000;

export async function breakGlass(
  ctx: AppContext,
  user: ChatUser,
  command: BreakGlassCommand,
): Promise<string> {
  if (!user.upn)
    return "I couldn't look up your sign-in name (UPN) in Teams, and the on-call roster is kept by UPN. Try again in a minute.";
  const picked = pickVm(await ctx.gateway.listVms(), command.vm);
  if (!picked.ok) return picked.message;
  const vm = picked.vm;
  const subject = {
    vmName: vm.ref.name,
    subscriptionId: vm.ref.subscriptionId,
    resourceGroup: vm.ref.resourceGroup,
    tags: vm.tags,
  };
  const settings = breakGlassSettings(subject, ctx.settings.rules);
  const now = ctx.clock.now();
  const recent = await recentBreakGlass(ctx, now);
  const checked = checkBreakGlass({
    vm,
    ...(command.durationMs === undefined ? {} : { durationMs: command.durationMs }),
    ...(command.source === undefined ? {} : { source: command.source }),
    onCall: await ctx.onCall.isOnCall(user.upn, subject),
    settings,
    recentByUser: recent.filter((request) => request.requester.id === user.id).length,
    recentOnVm: recent.filter((request) =>
      request.targets.some((target) => target.vmId.toLowerCase() === vm.ref.id.toLowerCase()),
    ).length,
    addressOptions: { acceptDocumentationRanges: ctx.settings.acceptDocumentationRanges },
  });
  if (!checked.ok) {
    await ctx.store.audit.append({
      at: now,
      type: "break_glass.refused",
      actorId: user.id,
      payload: {
        upn: user.upn,
        vm: vm.ref.name,
        incident: command.incident,
        code: checked.code,
        message: checked.message,
      },
    });
    return checked.message;
  }

  const reviewers = reviewersFor(ctx, vm, user);
  const id = await ctx.store.requests.nextRequestId();
  const { request, event } = createBreakGlass(
    {
      id,
      requester: { id: user.id, upn: user.upn, name: user.name },
      targets: [checked.target],
      ...(checked.source ? { source: checked.source } : {}),
      durationMs: checked.durationMs,
      reason: command.reason,
      incident: command.incident,
      reviewers,
      reviewDueAt: new Date(now.getTime() + settings.reviewTimeoutMs),
    },
    now,
  );
  const stored = await insertRecord(ctx, request, event, {
    card: { maxDurationMs: settings.maxDurationMs, riskFlags: [] },
    conversationKey: user.conversationKey,
    timeZone: user.timeZone,
  });
  await scheduleTimer(
    ctx,
    TimerKind.ReviewReminder,
    id,
    new Date(now.getTime() + settings.reviewTimeoutMs / 2),
  );
  await scheduleTimer(
    ctx,
    TimerKind.ReviewEscalation,
    id,
    new Date(now.getTime() + settings.reviewTimeoutMs),
  );
  await broadcast(ctx, stored.id);

  const told = [...reviewers, ...(ctx.settings.securityConversationKey ? ["the security channel"] : [])];
  const audience =
    told.length > 0
      ? `I've told ${told.join(", ")}`
      : "Nobody could be told: set SECURITY_CHANNEL or a jit-approvers tag";
  if (request.state === "awaiting_source") {
    return `${id} BREAK-GLASS on ${vm.ref.name} for ${command.incident}. ${audience}; a review is owed.\n\n${await offerSourceLink(ctx, id, user.id)}`;
  }
  await scheduleTimer(ctx, TimerKind.Grant, id, now);
  ctx.wake();
  return `${id} BREAK-GLASS on ${vm.ref.name} for ${command.incident}: opening port ${checked.target.ports.join(", ")} for ${request.source?.prefix} now, for ${formatDuration(checked.durationMs)}. ${audience}; a review is owed.`;
}

/** Acknowledge or Flag on the break-glass card. */
export async function reviewBreakGlass(
  ctx: AppContext,
  user: ChatUser,
  requestId: string,
  kind: "acknowledge" | "flag",
  note?: string,
): Promise<{
  readonly outcome: "decided" | "refused";
  readonly message: string;
  readonly record?: RequestRecord;
}> {
  const actor = { id: user.id, ...(user.upn ? { upn: user.upn } : {}), name: user.name };
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await loadRecord(ctx, requestId);
    if (!stored) return { outcome: "refused", message: `I have no request ${requestId}.` };
    const now = ctx.clock.now();
    const moved: Transition =
      kind === "acknowledge"
        ? acknowledgeReview(stored.data.request, actor, now)
        : flagReview(stored.data.request, actor, now, note ?? "");
    if (!moved.ok) return { outcome: "refused", message: moved.error.message, record: stored.data };
    const next: RequestRecord = { ...stored.data, request: moved.request };
    if (!(await commit(ctx, stored, next, moved.event))) continue;
    await cancelTimers(ctx, requestId, [TimerKind.ReviewReminder, TimerKind.ReviewEscalation]);
    await replaceCards(ctx, next);
    if (kind === "flag") {
      const channel = ctx.settings.securityConversationKey;
      const text = `⚑ ${requestId} (break-glass by ${next.request.requester.name} on ${targetsText(next.request)}, ${next.request.incident}) was flagged by ${user.name}: ${note?.trim()}`;
      if (channel) await ctx.notifier.toConversation(channel, { kind: "text", text });
    }
    return {
      outcome: "decided",
      message:
        kind === "acknowledge"
          ? `You acknowledged ${requestId}.`
          : `You flagged ${requestId}; the security channel is told.`,
      record: next,
    };
  }
  return { outcome: "refused", message: `${requestId} is changing right now; try again in a moment.` };
}

export async function remindReviewers(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const stored = await loadRecord(ctx, String(timer.payload.requestId));
  const request = stored?.data.request;
  if (request?.review?.state !== "required") return;
  const text = `Reminder: the break-glass ${request.id} by ${request.requester.name} on ${targetsText(request)} (${request.incident}) still needs your review — acknowledge or flag it on the card by ${utcText(new Date(request.review.dueAt))}.`;
  await Promise.all(
    request.approval.approvers.map((approver) =>
      ctx.notifier.toUser(recipientOf(approver), { kind: "text", text }),
    ),
  );
}

export async function escalateOverdueReview(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const requestId = String(timer.payload.requestId);
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await loadRecord(ctx, requestId);
    if (stored?.data.request.review?.state !== "required") return;
    const moved = escalateReview(stored.data.request, ctx.clock.now());
    if (!moved.ok) return;
    const next: RequestRecord = { ...stored.data, request: moved.request };
    if (!(await commit(ctx, stored, next, moved.event))) continue;
    await replaceCards(ctx, next);
    const text = `⚠ Nobody reviewed the break-glass ${requestId} by ${next.request.requester.name} on ${targetsText(next.request)} (${next.request.incident}: ${next.request.reason}) in time. The security team owns the review now.`;
    const channel = ctx.settings.securityConversationKey;
    const posted = channel ? await ctx.notifier.toConversation(channel, { kind: "text", text }) : undefined;
    if (!posted) {
      ctx.logger.error({ requestId }, "break-glass review overdue and no security channel to escalate to");
      await Promise.all(
        next.request.approval.approvers.map((approver) =>
          ctx.notifier.toUser(recipientOf(approver), { kind: "text", text }),
        ),
      );
    }
    return;
  }
  throw new Error(`${requestId} kept changing while escalating`);
}

/**
 * What an operator with rights can run when break-glass itself fails: the same initiate, by hand.
 * Uses `az rest` against the documented REST call, so it does not depend on a CLI extension's flags.
 */
export function fallbackInstructions(
  ctx: AppContext,
  request: AccessRequest,
  subscriptionHint = "<subscription-id>",
): string {
  const [target] = request.targets;
  if (!target) return "";
  const subscription = /^\/subscriptions\/([^/]+)/i.exec(target.vmId)?.[1] ?? subscriptionHint;
  const end = new Date(ctx.clock.now().getTime() + request.durationMs).toISOString();
  const body = JSON.stringify({
    virtualMachines: [
      {
        id: target.vmId,
        ports: target.ports.map((number) => ({
          number,
          endTimeUtc: end,
          allowedSourceAddressPrefix: request.source?.prefix ?? "<your-ip>",
        })),
      },
    ],
    justification: `${request.incident} break-glass fallback (${request.id})`,
  });
  const url = `https://management.azure.com/subscriptions/${subscription}/resourceGroups/${target.resourceGroup}/providers/Microsoft.Security/locations/${target.location}/jitNetworkAccessPolicies/${target.policyName}/initiate?api-version=2020-01-01`;
  const runbook = ctx.settings.breakGlassRunbookUrl
    ? `Runbook: ${ctx.settings.breakGlassRunbookUrl}\n\n`
    : "";
  return `${runbook}An operator with the JIT initiate right can open it by hand:\n\n\`az rest --method post --url "${url}" --body '${body}'\``;
}

async function broadcast(ctx: AppContext, requestId: string): Promise<void> {
  const stored = await loadRecord(ctx, requestId);
  if (!stored) return;
  const message = approvalMessage(stored.data);
  const handles: MessageHandle[] = [];
  const channel = ctx.settings.securityConversationKey;
  if (channel) {
    const posted = await ctx.notifier.toConversation(channel, message);
    if (posted) handles.push(posted);
  }
  for (const reviewer of stored.data.request.approval.approvers) {
    const sent = await ctx.notifier.toUser(recipientOf(reviewer), message, {
      viaConversationKey: stored.data.requesterConversationKey,
    });
    if (sent) handles.push(sent);
  }
  for (let attempt = 0; attempt < 5 && handles.length > 0; attempt++) {
    const current = await loadRecord(ctx, requestId);
    if (!current) return;
    if (await commit(ctx, current, { ...current.data, cards: [...current.data.cards, ...handles] })) return;
  }
}

function reviewersFor(ctx: AppContext, vm: VmWithJit, user: ChatUser): readonly string[] {
  const subject = {
    vmName: vm.ref.name,
    subscriptionId: vm.ref.subscriptionId,
    resourceGroup: vm.ref.resourceGroup,
    tags: vm.tags,
  };
  // One review is owed, not N approvals: everyone eligible reviews, even where N could not be met.
  return eligibleApprovers(
    [subject],
    { id: user.id, ...(user.upn ? { upn: user.upn } : {}) },
    ctx.settings.rules,
  );
}

async function recentBreakGlass(ctx: AppContext, now: Date): Promise<readonly AccessRequest[]> {
  const since = now.getTime() - DAY_MS;
  const all = await ctx.store.requests.listByState<RequestRecord>([...OPEN_STATES, ...FINAL_STATES]);
  return all
    .map((stored) => stored.data.request)
    .filter(
      (request) =>
        request.kind === "break_glass" &&
        Date.parse(request.createdAt) >= since &&
        request.state !== "failed",
    );
}

function targetsText(request: AccessRequest): string {
  return request.targets.map((target) => `${target.vmName} port ${target.ports.join(", ")}`).join("; ");
}
