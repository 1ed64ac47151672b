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
  flagReview,
} from "../domain/access-request.ts";
import { checkBreakGlass } from "../domain/break-glass.ts";
import type { BreakGlassCommand } from "../domain/commands.ts";
import { formatDuration, utcText } from "../domain/duration.ts";
import { samePerson } from "../domain/person.ts";
import { breakGlassSettings, eligibleApprovers } from "../domain/rules.ts";
import type { VmWithJit } from "../domain/vm.ts";
import {
  approvalMessage,
  deliverCard,
  recipientOf,
  rememberCards,
  replaceCards,
  reviewOwed,
} from "./approval-delivery.ts";
import { type ChatText, code, joinChat, md, trustedMarkup } from "./chat-text.ts";
import type { AppContext, ChatUser } from "./context.ts";
import { pickVm } from "./fleet.ts";
import type { ClaimedTimer } from "./ports.ts";
import { offerSourceLink } from "./request-access.ts";
import { insertRecord, loadRecord, moveRecord, type RequestRecord } from "./request-record.ts";
import { cancelTimers, scheduleTimer, TimerKind } from "./timer-kinds.ts";

export async function breakGlass(
  ctx: AppContext,
  user: ChatUser,
  command: BreakGlassCommand,
): Promise<ChatText | string> {
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
  const reviewers = reviewersFor(ctx, vm, user);
  const checked = checkBreakGlass({
    reviewers,
    vm,
    ...(command.durationMs === undefined ? {} : { durationMs: command.durationMs }),
    ...(command.source === undefined ? {} : { source: command.source }),
    onCall: await ctx.onCall.isOnCall(user.upn, subject),
    settings,
    addressOptions: { acceptDocumentationRanges: ctx.settings.acceptDocumentationRanges },
  });
  const refused = async (code: string, message: string) => {
    await ctx.store.audit.append({
      at: now,
      type: "break_glass.refused",
      actorId: user.id,
      payload: { upn: user.upn, vm: vm.ref.name, incident: command.incident, code, message },
    });
    return message;
  };
  if (!checked.ok) return refused(checked.code, checked.message);

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
  const admitted = await insertRecord(ctx, request, event, {
    card: { maxDurationMs: settings.maxDurationMs, riskFlags: [] },
    conversationKey: user.conversationKey,
    timeZone: user.timeZone,
    breakGlassLimits: settings,
  });
  if (!admitted.ok) return refused(admitted.refusal.code, admitted.refusal.message);
  const { stored } = admitted;
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
  const audience = audienceText(await broadcast(ctx, stored.id));
  if (request.state === "awaiting_source") {
    return md`${id} BREAK-GLASS on ${vm.ref.name} for ${command.incident}. ${audience}; a review is owed.\n\n${trustedMarkup(await offerSourceLink(ctx, id, user))}`;
  }
  await scheduleTimer(ctx, TimerKind.Grant, id, now);
  ctx.wake();
  return md`${id} BREAK-GLASS on ${vm.ref.name} for ${command.incident}: opening port ${checked.target.ports.join(", ")} for ${request.source?.prefix ?? ""} now, for ${formatDuration(checked.durationMs)}. ${audience}; a review is owed.`;
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
  readonly message: ChatText | string;
  readonly record?: RequestRecord;
}> {
  const actor = { id: user.id, ...(user.upn ? { upn: user.upn } : {}), name: user.name };
  const moved = await moveRecord(ctx, requestId, (stored) => {
    const now = ctx.clock.now();
    return kind === "acknowledge"
      ? acknowledgeReview(stored.data.request, actor, now)
      : flagReview(stored.data.request, actor, now, note ?? "");
  });
  if (moved.kind === "missing") return { outcome: "refused", message: `I have no request ${requestId}.` };
  if (moved.kind === "refused")
    return { outcome: "refused", message: moved.error.message, record: moved.record };
  const next = moved.record;
  await cancelTimers(ctx, requestId, [TimerKind.ReviewReminder, TimerKind.ReviewEscalation]);
  await replaceCards(ctx, next);
  if (kind === "acknowledge")
    return { outcome: "decided", message: `You acknowledged ${requestId}.`, record: next };
  const channel = ctx.settings.securityConversationKey;
  const text = md`⚑ ${requestId} (break-glass by ${next.request.requester.name} on ${targetsText(next.request)}, ${next.request.incident ?? ""}) was flagged by ${user.name}: ${next.request.review?.note ?? ""}`;
  const posted = channel ? await ctx.notifier.toConversation(channel, { kind: "text", text }) : undefined;
  if (!posted) ctx.logger.error({ requestId, channel }, "a flagged break-glass reached no security channel");
  const told = posted
    ? "the security channel is told."
    : channel
      ? "it is in the audit, but I could not post it in the security channel: tell the security team yourself."
      : "it is in the audit, but no security channel is set up (SECURITY_CHANNEL): tell the security team yourself.";
  return { outcome: "decided", message: `You flagged ${requestId}; ${told}`, record: next };
}

export async function remindReviewers(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const stored = await loadRecord(ctx, String(timer.payload.requestId));
  const request = stored?.data.request;
  if (request?.review?.state !== "required") return;
  const text = md`Reminder: the break-glass ${request.id} by ${request.requester.name} on ${targetsText(request)} (${request.incident ?? ""}) still needs your review — acknowledge or flag it on the card by ${utcText(new Date(request.review.dueAt))}.`;
  await Promise.all(
    request.approval.approvers.map((approver) =>
      ctx.notifier.toUser(recipientOf(approver), { kind: "text", text }),
    ),
  );
}

export async function escalateOverdueReview(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const requestId = String(timer.payload.requestId);
  // escalateReview refuses a review no longer required: someone reviewed in time.
  const moved = await moveRecord(ctx, requestId, (stored) =>
    escalateReview(stored.data.request, ctx.clock.now()),
  );
  if (moved.kind !== "moved") return;
  const next = moved.record;
  await replaceCards(ctx, next);
  const text = md`⚠ Nobody reviewed the break-glass ${requestId} by ${next.request.requester.name} on ${targetsText(next.request)} (${next.request.incident ?? ""}: ${next.request.reason ?? ""}) in time. The security team owns the review now.`;
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
}

/**
 * What an operator with rights can run when break-glass itself fails: the same initiate, by hand.
 * Uses `az rest` against the documented REST call, so it does not depend on a CLI extension's flags.
 */
export function fallbackInstructions(
  ctx: AppContext,
  request: AccessRequest,
  subscriptionHint = "<subscription-id>",
): ChatText {
  const [target] = request.targets;
  if (!target) return md``;
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
    ? md`Runbook: ${ctx.settings.breakGlassRunbookUrl}\n\n`
    : "";
  // The incident is in the body: a code span whose fence outlasts any backtick in it keeps it literal.
  return md`${runbook}An operator with the JIT initiate right can open it by hand:\n\n${code(`az rest --method post --url "${url}" --body '${body}'`)}`;
}

/** Who the broadcast reached: the sentences about it are built from this, never from who was meant. */
interface BroadcastReach {
  readonly channel: "posted" | "unreachable" | "not-configured";
  readonly reached: readonly string[];
  readonly unreachable: readonly string[];
}

async function broadcast(ctx: AppContext, requestId: string): Promise<BroadcastReach> {
  const stored = await loadRecord(ctx, requestId);
  if (!stored) return { channel: "not-configured", reached: [], unreachable: [] };
  const channelKey = ctx.settings.securityConversationKey;
  const posted = channelKey
    ? await ctx.notifier.toConversation(channelKey, approvalMessage(stored.data))
    : undefined;
  if (posted) await rememberCards(ctx, requestId, [posted], stored.data);
  const reached: string[] = [];
  const unreachable: string[] = [];
  for (const reviewer of stored.data.request.approval.approvers) {
    const outcome = await deliverCard(ctx, requestId, [reviewer], reviewOwed, (current) =>
      ctx.notifier.toUser(recipientOf(reviewer), approvalMessage(current), {
        viaConversationKey: current.requesterConversationKey,
      }),
    );
    (outcome === "sent" || outcome === "already" ? reached : unreachable).push(reviewer);
  }
  return {
    channel: channelKey ? (posted ? "posted" : "unreachable") : "not-configured",
    reached,
    unreachable,
  };
}

/** "I've told the security channel and alice@…; I could not reach frank@… (…)", from what was delivered. */
function audienceText(reach: BroadcastReach): ChatText {
  const told = [...(reach.channel === "posted" ? ["the security channel"] : []), ...reach.reached];
  const parts = [told.length > 0 ? md`I've told ${listText(told)}` : md`I could not tell anyone`];
  if (reach.channel === "not-configured") parts.push(md`no security channel is set up (SECURITY_CHANNEL)`);
  if (reach.channel === "unreachable") parts.push(md`I could not post in the security channel`);
  if (reach.unreachable.length > 0)
    parts.push(
      md`I could not reach ${listText(reach.unreachable)}; they get the review card when they first message me`,
    );
  if (reach.reached.length === 0 && reach.unreachable.length === 0)
    parts.push(md`the VM has no owner to review it (jit-approvers tag or the rules file)`);
  return joinChat(parts, "; ");
}

/** "a, b and c": the names are other people's text, the commas and "and" the bot's. */
function listText(items: readonly string[]): ChatText {
  return items.length <= 1
    ? md`${items[0] ?? ""}`
    : md`${joinChat(items.slice(0, -1), ", ")} and ${items.at(-1) ?? ""}`;
}

function reviewersFor(ctx: AppContext, vm: VmWithJit, user: ChatUser): readonly string[] {
  const subject = {
    vmName: vm.ref.name,
    subscriptionId: vm.ref.subscriptionId,
    resourceGroup: vm.ref.resourceGroup,
    tags: vm.tags,
  };
  const me = { id: user.id, ...(user.upn ? { upn: user.upn } : {}) };
  // One review is owed, not N approvals: everyone eligible reviews, even where N could not be met.
  // Where nobody but the requester approves the VM, the auditors review instead; never the requester.
  const approvers = eligibleApprovers([subject], me, ctx.settings.rules);
  if (approvers.length > 0) return approvers;
  return ctx.settings.auditors.filter((auditor) => !samePerson({ id: auditor, upn: auditor }, me));
}

function targetsText(request: AccessRequest): string {
  return request.targets.map((target) => `${target.vmName} port ${target.ports.join(", ")}`).join("; ");
}
