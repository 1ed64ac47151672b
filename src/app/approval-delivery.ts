/**
 * Getting approval cards in front of approvers, keeping track of every copy, and replacing all
 * copies when the request moves on — so no stale Approve button survives anywhere.
 */
import { type AccessRequest, FINAL_STATES, OPEN_STATES } from "../domain/access-request.ts";
import type { ChatText } from "./chat-text.ts";
import type { AppContext } from "./context.ts";
import type { MessageHandle, OutboundMessage, Recipient } from "./ports.ts";
import {
  type CardDelivery,
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
  const reached: string[] = [];
  for (const approver of request.approval.approvers) {
    const outcome = await deliverCard(ctx, request.id, [approver], isPending, (current) =>
      ctx.notifier.toUser(recipientOf(approver), approvalMessage(current), {
        viaConversationKey: current.requesterConversationKey,
      }),
    );
    if (outcome === "sent" || outcome === "already") reached.push(approver);
  }
  const channel = ctx.settings.approvalsConversationKey;
  const posted = channel ? await ctx.notifier.toConversation(channel, approvalMessage(record)) : undefined;
  if (posted) await rememberCards(ctx, request.id, [posted], record);

  const who = request.approval.approvers.join(", ");
  const needs = `${request.approval.required} approval${request.approval.required === 1 ? "" : "s"}`;
  const note = request.approval.note ? ` ${request.approval.note}` : "";
  if (reached.length === 0 && !posted) {
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
    missing.length > 0
      ? ` I couldn't reach ${missing.join(", ")} (they haven't added Portcullis in Teams); they get the card when they first message me.`
      : "";
  return `${request.id} is waiting for ${needs} (from ${who}): ${where}.${unreachable}${note} I'll tell you when it's decided.`;
}

/**
 * `user` just became reachable (their first message, or Portcullis added again): show them every
 * approval card and break-glass review card they are owed and have not been shown. Each card goes
 * once per reviewer, however many activities (or bot processes) run this at the same time.
 */
export async function deliverOwedCards(
  ctx: AppContext,
  user: { readonly id: string; readonly upn?: string },
): Promise<number> {
  const owed = await owedTo(ctx, user);
  let shown = 0;
  for (const stored of owed) {
    const principals = stored.data.request.approval.approvers.filter((approver) => isUser(approver, user));
    const stillOwed = stored.data.request.kind === "break_glass" ? reviewOwed : isPending;
    const outcome = await deliverCard(ctx, stored.id, principals, stillOwed, (current) =>
      ctx.notifier.toUser({ userId: user.id }, approvalMessage(current)),
    );
    if (outcome === "sent") shown++;
  }
  return shown;
}

/** Pending approvals and outstanding break-glass reviews that `user` is listed for and did not ask for. */
export async function owedTo(
  ctx: AppContext,
  user: { readonly id: string; readonly upn?: string },
): Promise<readonly StoredRecord[]> {
  const all = await ctx.store.requests.listByState<RequestRecord>([...OPEN_STATES, ...FINAL_STATES]);
  return all.filter((stored) => {
    const { request } = stored.data;
    if (isUser(request.requester.id, user)) return false;
    if (request.requester.upn !== undefined && isUser(request.requester.upn, user)) return false;
    if (!request.approval.approvers.some((approver) => isUser(approver, user))) return false;
    if (request.kind === "break_glass") return reviewOwed(stored.data);
    return isPending(stored.data) && !request.decisions.some((decision) => isUser(decision.byId, user));
  });
}

/** A break-glass review nobody has given yet (escalated ones still take a late acknowledgement). */
export function reviewOwed(record: RequestRecord): boolean {
  const state = record.request.review?.state;
  return state === "required" || state === "escalated";
}

function isPending(record: RequestRecord): boolean {
  return record.request.state === "pending";
}

function isUser(principal: string, user: { readonly id: string; readonly upn?: string }): boolean {
  const listed = principal.toLowerCase();
  return listed === user.id.toLowerCase() || listed === user.upn?.toLowerCase();
}

/** How long a claimed card may be on its way before another process may send it instead (its sender died). */
const CLAIM_LEASE_MS = 2 * 60_000;

type DeliveryOutcome = "sent" | "already" | "unreachable" | "not-owed";

/**
 * Sends one card to the reviewer listed as `principals`, at most once: the delivery is claimed in
 * the request record (compare-and-swap) before the send, so a second activity or a second bot
 * process finds the claim and sends nothing. An unreachable reviewer's claim is dropped, so their
 * first message brings the card later; a claim whose sender died is taken over after a lease.
 */
export async function deliverCard(
  ctx: AppContext,
  requestId: string,
  principals: readonly string[],
  stillOwed: (record: RequestRecord) => boolean,
  send: (record: RequestRecord) => Promise<MessageHandle | undefined>,
): Promise<DeliveryOutcome> {
  if (principals.length === 0) return "not-owed";
  const covers = (delivery: CardDelivery) => delivery.to.some((entry) => principals.includes(entry));
  let claimed: StoredRecord | undefined;
  let claim: CardDelivery | undefined;
  for (let attempt = 0; attempt < 10 && !claimed; attempt++) {
    const stored = await loadRecord(ctx, requestId);
    if (!stored || !stillOwed(stored.data)) return "not-owed";
    const now = ctx.clock.now();
    const deliveries = stored.data.deliveries ?? [];
    const live = deliveries.filter(
      (delivery) =>
        delivery.handle !== undefined || now.getTime() - Date.parse(delivery.claimedAt) < CLAIM_LEASE_MS,
    );
    if (live.some(covers)) return "already";
    claim = { to: principals, claimedAt: now.toISOString() };
    claimed = await commit(ctx, stored, {
      ...stored.data,
      deliveries: [...live.filter((delivery) => !covers(delivery)), claim],
    });
  }
  if (!claimed || !claim) {
    ctx.logger.error({ requestId, principals }, "could not claim a card delivery after 10 attempts");
    // Not known to be delivered, so not claimed as such.
    return "unreachable";
  }
  const sentFrom = claimed.data;
  const handle = await send(sentFrom);
  const mine = (delivery: CardDelivery) =>
    delivery.claimedAt === claim.claimedAt && delivery.to.join() === claim.to.join();
  for (let attempt = 0; attempt < 10; attempt++) {
    const stored = await loadRecord(ctx, requestId);
    if (!stored) break;
    const others = (stored.data.deliveries ?? []).filter((delivery) => !mine(delivery));
    const next: RequestRecord = handle
      ? {
          ...stored.data,
          deliveries: [...others, { ...claim, handle }],
          cards: [...stored.data.cards, handle],
        }
      : { ...stored.data, deliveries: others };
    if (await commit(ctx, stored, next)) {
      // The request may have moved on while the card was on its way: bring this copy up to date.
      const now = approvalMessage(next);
      if (handle && JSON.stringify(now) !== JSON.stringify(approvalMessage(sentFrom)))
        await ctx.notifier.update(handle, now);
      return handle ? "sent" : "unreachable";
    }
  }
  ctx.logger.error({ requestId, principals }, "could not record a card delivery after 10 attempts");
  return handle ? "sent" : "unreachable";
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

/** A notice to the requester: their 1:1 chat, else the conversation they asked in. True when it got there. */
export async function tellRequester(
  ctx: AppContext,
  record: RequestRecord,
  text: ChatText,
): Promise<boolean> {
  const { requester } = record.request;
  const message: OutboundMessage = { kind: "text", text };
  const direct = await ctx.notifier.toUser(
    { userId: requester.id, ...(requester.upn ? { upn: requester.upn } : {}) },
    message,
  );
  if (direct) return true;
  const fallback = await ctx.notifier.toConversation(record.requesterConversationKey, message);
  if (!fallback) ctx.logger.error({ requestId: record.request.id }, "could not tell the requester");
  return fallback !== undefined;
}

/** A notice to every approver the bot can reach (e.g. Azure refused what they approved). */
export async function tellApprovers(ctx: AppContext, request: AccessRequest, text: ChatText): Promise<void> {
  const message: OutboundMessage = { kind: "text", text };
  await Promise.all(
    request.approval.approvers.map((approver) => ctx.notifier.toUser(recipientOf(approver), message)),
  );
}

/** Keeps channel copies of the card (no reviewer to claim for) so they are replaced with the others. */
export async function rememberCards(
  ctx: AppContext,
  requestId: string,
  handles: readonly MessageHandle[],
  sentFrom: RequestRecord,
): Promise<void> {
  if (handles.length === 0) return;
  for (let attempt = 0; attempt < 10; attempt++) {
    const stored = await loadRecord(ctx, requestId);
    if (!stored) return;
    const next: RequestRecord = { ...stored.data, cards: [...stored.data.cards, ...handles] };
    if (await commit(ctx, stored, next)) {
      // A decision may have landed while the cards were on their way: bring the new copies up to date.
      const now = approvalMessage(next);
      if (JSON.stringify(now) !== JSON.stringify(approvalMessage(sentFrom)))
        await Promise.all(handles.map((handle) => ctx.notifier.update(handle, now)));
      return;
    }
  }
  ctx.logger.error({ requestId }, "could not record the approval cards after 10 attempts");
}
