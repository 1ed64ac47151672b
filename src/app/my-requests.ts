/**
 * `status` and `cancel R-17`: what a user has open, what waits for them, and withdrawing a request —
 * an undecided one, or an approved future window that has not started yet.
 */
import { type AccessRequest, approvals, cancel, OPEN_STATES } from "../domain/access-request.ts";
import { formatDuration, utcText } from "../domain/duration.ts";
import { owedTo, replaceCards } from "./approval-delivery.ts";
import { type ChatText, joinChat, md, trustedMarkup } from "./chat-text.ts";
import type { AppContext, ChatUser } from "./context.ts";
import { withdrawExtensionsOf, withdrawnSentence } from "./extension-withdrawal.ts";
import { moveRecord, type RequestRecord } from "./request-record.ts";
import { cancelTimers, TimerKind, UNDECIDED_TIMERS } from "./timer-kinds.ts";

export async function status(ctx: AppContext, user: ChatUser): Promise<ChatText> {
  const now = ctx.clock.now();
  const mine = (await ctx.store.requests.listByRequester<RequestRecord>(user.id, OPEN_STATES)).map(
    (stored) => stored.data.request,
  );
  const owed = (await owedTo(ctx, user)).map((stored) => stored.data.request);
  const waitingForMe = owed.filter((request) => request.kind !== "break_glass");
  const reviewsOwed = owed.filter((request) => request.kind === "break_glass");
  const sections: ChatText[] = [];
  // Your own requests: VM names, ports, addresses and states, no one else's text.
  sections.push(
    trustedMarkup(
      mine.length === 0
        ? "You have no open requests."
        : `**Your open requests (${mine.length})**\n${mine.map((request) => `- ${line(request, now)}`).join("\n")}`,
    ),
  );
  // Other people's names and incident references are their text: held apart, shown literally.
  if (waitingForMe.length > 0) {
    sections.push(
      md`**Waiting for your decision (${waitingForMe.length})**\n${joinChat(
        waitingForMe.map((request) => md`- ${request.id} from ${request.requester.name}: ${what(request)}`),
        "\n",
      )}`,
    );
  }
  if (reviewsOwed.length > 0) {
    sections.push(
      md`**Break-glass reviews you owe (${reviewsOwed.length})** — acknowledge or flag each on its card\n${joinChat(
        reviewsOwed.map((request) => md`- ${reviewLine(request)}`),
        "\n",
      )}`,
    );
  }
  return joinChat(sections, "\n\n");
}

function reviewLine(request: AccessRequest): ChatText {
  const due = request.review?.dueAt ? utcText(new Date(request.review.dueAt)) : "now";
  const when =
    request.review?.state === "escalated"
      ? `overdue since ${due}, escalated to the security team (a late review still counts)`
      : `due by ${due}`;
  return md`${request.id} break-glass by ${request.requester.name} (${request.incident ?? "no incident"}): ${what(request)} — ${when}`;
}

export async function cancelRequest(ctx: AppContext, user: ChatUser, requestId: string): Promise<string> {
  const actor = { id: user.id, ...(user.upn ? { upn: user.upn } : {}), name: user.name };
  const moved = await moveRecord(ctx, requestId, (stored) =>
    cancel(stored.data.request, actor, ctx.clock.now()),
  );
  if (moved.kind === "missing") return `I have no request ${requestId}.`;
  if (moved.kind === "refused") return moved.error.message;
  const next = moved.record;
  // A scheduled window's grant timer goes with it: nothing opens at its start.
  await cancelTimers(ctx, requestId, [...UNDECIDED_TIMERS, TimerKind.Grant]);
  const withdrawn = await withdrawExtensionsOf(ctx, next.request);
  await replaceCards(ctx, next);
  const was = moved.before.request;
  const extra = withdrawnSentence(requestId, withdrawn);
  return was.state === "scheduled" && was.startAt
    ? `${requestId} is withdrawn: it was approved to open at ${utcText(new Date(was.startAt))}, and nothing was opened.${extra}`
    : `${requestId} is cancelled; nothing was opened.${extra}`;
}

function what(request: AccessRequest): string {
  const targets = request.targets
    .map((target) => `${target.vmName} port ${target.ports.join(",")}`)
    .join("; ");
  const source = request.source ? ` from ${request.source.prefix}` : "";
  return `${targets}${source} for ${formatDuration(request.durationMs)}`;
}

function line(request: AccessRequest, now: Date): string {
  switch (request.state) {
    case "awaiting_source":
      return `${request.id} ${what(request)} — waiting for you to open the address link`;
    case "pending":
      return `${request.id} ${what(request)} — waiting for approval (${approvals(request).length} of ${request.approval.required})`;
    case "scheduled":
      return `${request.id} ${what(request)} — scheduled: approved, opens at ${request.startAt ? utcText(new Date(request.startAt)) : "its start"} (\`cancel ${request.id}\` withdraws it)`;
    case "approved":
      return `${request.id} ${what(request)} — approved, opening`;
    case "active": {
      const end = new Date(request.grant?.endTimeUtc ?? now);
      const left = Math.max(0, end.getTime() - now.getTime());
      return `${request.id} ${what(request)} — **open**, ${formatDuration(left)} left (until ${end.toISOString().slice(11, 16)} UTC)`;
    }
    default:
      return `${request.id} ${what(request)} — ${request.state}`;
  }
}
