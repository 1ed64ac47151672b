/**
 * An approver clicks Approve or Deny. Everything is re-read at click time — the request, the VM's
 * tags and rules, the clicker's right — and the write is compare-and-swap, so the first decision
 * wins across duplicate deliveries and bot processes. Granting happens in grant.ts.
 */
import { type Actor, approve, deny } from "../domain/access-request.ts";
import { utcText } from "../domain/duration.ts";
import { ErrorCode } from "../domain/errors.ts";
import { eligibleApprovers, requiredApprovalsFor } from "../domain/rules.ts";
import type { VmWithJit } from "../domain/vm.ts";
import { replaceCards, tellRequester } from "./approval-delivery.ts";
import { type ChatText, md } from "./chat-text.ts";
import type { AppContext, ChatUser } from "./context.ts";
import { withdrawExtensionsOf } from "./extension-withdrawal.ts";
import { moveRecord, type RequestRecord } from "./request-record.ts";
import { cancelTimers, scheduleTimer, TimerKind, UNDECIDED_TIMERS } from "./timer-kinds.ts";

export interface DecideResult {
  /** decided: the click moved the request; refused: it did not (and `message` says why). */
  readonly outcome: "decided" | "refused";
  /** What the clicker reads: a confirmation, or why nothing changed. */
  readonly message: ChatText | string;
  /** The request as it stands after the click, for the clicker's copy of the card. */
  readonly record?: RequestRecord;
}

export async function decide(
  ctx: AppContext,
  user: ChatUser,
  requestId: string,
  kind: "approve" | "deny",
  reason?: string,
): Promise<DecideResult> {
  const actor: Actor = { id: user.id, ...(user.upn ? { upn: user.upn } : {}), name: user.name };
  const moved = await moveRecord(ctx, requestId, async (stored) => {
    const { request } = stored.data;
    const options =
      request.state === "pending" ? await approvalNow(ctx, request.targets, request.requester) : {};
    const now = ctx.clock.now();
    return kind === "approve"
      ? approve(request, actor, now, options)
      : deny(request, actor, now, reason ?? "", options);
  });
  if (moved.kind === "missing") return { outcome: "refused", message: `I have no request ${requestId}.` };
  if (moved.kind === "refused") {
    const { code, message } = moved.error;
    if (code === ErrorCode.NotApprover || code === ErrorCode.SelfApproval) {
      await ctx.store.audit.append({
        at: ctx.clock.now(),
        type: "request.decision_refused",
        actorId: user.id,
        requestId,
        payload: { kind, code, upn: user.upn ?? null },
      });
    }
    return { outcome: "refused", message, record: moved.record };
  }
  const told = await afterDecision(ctx, moved.record);
  return { outcome: "decided", message: summary(moved.record, told), record: moved.record };
}

/** Timers, cards and notices after a decision; false when the requester should have been told and could not be. */
async function afterDecision(ctx: AppContext, record: RequestRecord): Promise<boolean> {
  const { request } = record;
  if (request.state === "approved" || request.state === "scheduled") {
    // A future window (scheduled) opens at its start; the durable timer carries it across restarts.
    const opensAt =
      request.state === "scheduled" && request.startAt ? new Date(request.startAt) : ctx.clock.now();
    await scheduleTimer(ctx, TimerKind.Grant, request.id, opensAt);
    await cancelTimers(ctx, request.id, UNDECIDED_TIMERS);
  }
  await replaceCards(ctx, record);
  // After the "Approved" cards are out, so the grant's "Active" cards cannot be overtaken by them.
  if (request.state === "approved") ctx.wake();
  if (request.state === "denied") {
    await cancelTimers(ctx, request.id, UNDECIDED_TIMERS);
    await withdrawExtensionsOf(ctx, request);
    const denial = request.decisions.find((decision) => decision.kind === "deny");
    return tellRequester(
      ctx,
      record,
      md`${request.id} was denied by ${denial?.byName ?? denial?.byUpn ?? "an approver"}: ${denial?.reason ?? "no reason given"}. Nothing was opened.`,
    );
  }
  return true;
}

function summary(record: RequestRecord, requesterTold: boolean): ChatText | string {
  const { request } = record;
  const count = request.decisions.filter((decision) => decision.kind === "approve").length;
  switch (request.state) {
    case "scheduled":
      return `You approved ${request.id}; it opens at ${request.startAt ? utcText(new Date(request.startAt)) : "its start"}.`;
    case "approved":
      return `You approved ${request.id}; I'm opening it now.`;
    case "denied":
      return requesterTold
        ? md`You denied ${request.id}; ${request.requester.name} has been told.`
        : md`You denied ${request.id}, but I could not reach ${request.requester.name} to say so: tell them yourself.`;
    default:
      return `Your approval of ${request.id} is recorded (${count} of ${request.approval.required}).`;
  }
}

/**
 * Who may approve now and how many must, from the VMs' current tags and the rules: a tag edited
 * after the card was sent counts at click time, and N is never below what the rules say now.
 * A VM that is gone leaves nobody able to approve it.
 */
async function approvalNow(
  ctx: AppContext,
  targets: RequestRecord["request"]["targets"],
  requester: RequestRecord["request"]["requester"],
): Promise<{ readonly currentApprovers: readonly string[]; readonly currentRequired?: number }> {
  const all = await ctx.gateway.listVms();
  const vms = targets.map((target) =>
    all.find((vm) => vm.ref.id.toLowerCase() === target.vmId.toLowerCase()),
  );
  if (vms.some((vm) => vm === undefined)) return { currentApprovers: [] };
  const subjects = (vms as VmWithJit[]).map((vm) => ({
    vmName: vm.ref.name,
    subscriptionId: vm.ref.subscriptionId,
    resourceGroup: vm.ref.resourceGroup,
    tags: vm.tags,
  }));
  return {
    currentApprovers: eligibleApprovers(
      subjects,
      { id: requester.id, ...(requester.upn ? { upn: requester.upn } : {}) },
      ctx.settings.rules,
    ),
    currentRequired: requiredApprovalsFor(subjects, ctx.settings.rules),
  };
}
