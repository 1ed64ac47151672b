/**
 * Getting approval cards in front of approvers, keeping track of every copy, and replacing all
 * copies when the request moves on — so no stale Approve button survives anywhere.
 */
import type { AccessRequest } from "../domain/access-request.ts";
import type { AppContext } from "./context.ts";
import type { MessageHandle, OutboundMessage, Recipient } from "./ports.ts";
import {
  commit,
  loadRecord,
  type RequestRecord,
  type StoredRecord,
  windowCardsOf,
} from "./request-record.ts";

const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Approvers are UPNs or Entra object ids (the jit-approvers tag allows both). */
export function recipientOf(principal: string): Recipient {
  return OBJECT_ID.test(principal) ? { userId: principal } : { upn: principal };
}

export function approvalMessage(record: RequestRecord): OutboundMessage {
  return record.request.kind === "break_glass"
    ? { kind: "break-glass", request: record.request }
    : { kind: "approval", request: record.request, context: record.card };
}

/** Sends the card to each approver and the approvals channel; returns what the requester should read. */
export async function askApprovers(ctx: AppContext, stored: StoredRecord): Promise<string> {
  const record = stored.data;
  const { request } = record;
  const message = approvalMessage(record);
  const handles: MessageHandle[] = [];
  const reached: string[] = [];
  for (const approver of request.approval.approvers) {
    const handle = await ctx.notifier.toUser(recipientOf(approver), message, {
      viaConversationKey: record.requesterConversationKey,
    });
    if (handle) {
      handles.push(handle);
      reached.push(approver);
    }
  }
  const channel = ctx.settings.approvalsConversationKey;
  const posted = channel ? await ctx.notifier.toConversation(channel, message) : undefined;
  if (posted) handles.push(posted);
  await rememberCards(ctx, request.id, handles);

  const who = request.approval.approvers.join(", ");
  const needs = `${request.approval.required} approval${request.approval.required === 1 ? "" : "s"}`;
  const note = request.approval.note ? ` ${request.approval.note}` : "";
  if (handles.length === 0) {
    return [
      `${request.id} needs ${needs} from: ${who} — but I couldn't reach any of them.${note}`,
      "Ask one of them to add Portcullis in Teams (Apps → search “Portcullis” → Add) and send it any message; I'll show them your request then. It times out if nobody decides.",
    ].join("\n\n");
  }
  const where = [
    reached.length > 0 ? `sent to ${reached.join(", ")}` : "",
    posted ? "posted in the approvals channel" : "",
  ]
    .filter((part) => part !== "")
    .join(" and ");
  const missing = request.approval.approvers.filter((approver) => !reached.includes(approver));
  const unreachable =
    missing.length > 0 && reached.length > 0
      ? ` I couldn't reach ${missing.join(", ")} (they haven't added Portcullis in Teams).`
      : "";
  return `${request.id} is waiting for ${needs} (from ${who}): ${where}.${unreachable}${note} I'll tell you when it's decided.`;
}

/** Approver `user` just became reachable: show them the pending requests they have not seen. */
export async function showPendingTo(
  ctx: AppContext,
  user: { readonly id: string; readonly upn?: string },
): Promise<number> {
  const pending = await ctx.store.requests.listByState<RequestRecord>(["pending"]);
  let shown = 0;
  for (const stored of pending) {
    const { request } = stored.data;
    const mine = request.approval.approvers.some(
      (approver) => approver === user.id.toLowerCase() || approver === user.upn?.toLowerCase(),
    );
    const seen = stored.data.cards.some((handle) => handle.conversationKey === `user:${user.id}`);
    if (!mine || seen || request.requester.id === user.id) continue;
    const handle = await ctx.notifier.toUser({ userId: user.id }, approvalMessage(stored.data));
    if (handle) {
      await rememberCards(ctx, request.id, [handle]);
      shown++;
    }
  }
  return shown;
}

/**
 * Re-renders every copy of the card from the request's state as stored now — not the caller's copy,
 * which another process (the grant, a second replica) may already have moved on from.
 */
export async function replaceCards(ctx: AppContext, given: RequestRecord): Promise<void> {
  const record = (await loadRecord(ctx, given.request.id))?.data ?? given;
  const message = approvalMessage(record);
  await Promise.all(record.cards.map((handle) => ctx.notifier.update(handle, message)));
  await Promise.all(
    windowCardsOf(record).map((handle) =>
      ctx.notifier.update(handle, { kind: "window", request: record.request }),
    ),
  );
}

/** A notice to the requester: their 1:1 chat, else the conversation they asked in. */
export async function tellRequester(ctx: AppContext, record: RequestRecord, text: string): Promise<void> {
  const { requester } = record.request;
  const message: OutboundMessage = { kind: "text", text };
  const direct = await ctx.notifier.toUser(
    { userId: requester.id, ...(requester.upn ? { upn: requester.upn } : {}) },
    message,
  );
  if (!direct) {
    const fallback = await ctx.notifier.toConversation(record.requesterConversationKey, message);
    if (!fallback) ctx.logger.error({ requestId: record.request.id }, "could not tell the requester");
  }
}

/** A notice to every approver the bot can reach (e.g. Azure refused what they approved). */
export async function tellApprovers(ctx: AppContext, request: AccessRequest, text: string): Promise<void> {
  const message: OutboundMessage = { kind: "text", text };
  await Promise.all(
    request.approval.approvers.map((approver) => ctx.notifier.toUser(recipientOf(approver), message)),
  );
}

async function rememberCards(
  ctx: AppContext,
  requestId: string,
  handles: readonly MessageHandle[],
): Promise<void> {
  if (handles.length === 0) return;
  for (let attempt = 0; attempt < 10; attempt++) {
    const stored = await loadRecord(ctx, requestId);
    if (!stored) return;
    const next: RequestRecord = { ...stored.data, cards: [...stored.data.cards, ...handles] };
    if (await commit(ctx, stored, next)) {
      // A decision may have landed while the cards were on their way: bring the new copies up to date.
      if (stored.data.request.state !== "pending") await replaceCards(ctx, next);
      return;
    }
  }
  ctx.logger.error({ requestId }, "could not record the approval cards after 10 attempts");
}
