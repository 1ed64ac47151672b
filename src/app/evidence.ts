/**
 * Evidence for security teams: who asked, who approved, what was open, for how long, whether it
 * verifiably closed — and every break-glass with its review, flagged ones first. `audit [vm] [7d]`
 * in chat, and the weekly digest to the security channel.
 */
import {
  type AccessRequest,
  deciderOf,
  FINAL_STATES,
  OPEN_STATES,
  reviewerOf,
} from "../domain/access-request.ts";
import { formatDuration, utcText } from "../domain/duration.ts";
import { personName } from "../domain/person.ts";
import { maySeeDetails } from "../domain/visibility.ts";
import { type ChatText, joinChat, md } from "./chat-text.ts";
import type { AppContext, ChatUser } from "./context.ts";
import type { ClaimedTimer } from "./ports.ts";
import type { RequestRecord } from "./request-record.ts";
import { scheduleTimer, TimerKind } from "./timer-kinds.ts";

const WEEK_MS = 7 * 24 * 60 * 60_000;

export async function auditReport(
  ctx: AppContext,
  user: ChatUser,
  options: { readonly vm?: string; readonly sinceMs: number },
): Promise<ChatText | string> {
  const me = user.upn?.toLowerCase();
  const records = await recent(ctx, options.sinceMs, options.vm);
  const auditor = me !== undefined && ctx.settings.auditors.includes(me);
  // Without the auditor role, people see the evidence of requests they asked for or approve (visibility.ts).
  const viewer = { id: user.id, upn: user.upn };
  const visible = auditor
    ? records
    : records.filter((record) =>
        maySeeDetails(
          viewer,
          { approvers: record.request.approval.approvers, requester: record.request.requester },
          ctx.settings.auditors,
        ),
      );
  if (!auditor && options.vm === undefined) {
    return "The full audit is for the security team (AUDITORS). As an approver, ask for one VM: `audit web-01 7d`.";
  }
  if (!auditor && visible.length === 0 && records.length > 0) {
    return md`You are not an approver of ${options.vm ?? ""}, so I can't show its audit. The security team (AUDITORS) can.`;
  }
  return evidenceText(visible, {
    since: new Date(ctx.clock.now().getTime() - options.sinceMs),
    ...(options.vm ? { vm: options.vm } : {}),
  });
}

/** The weekly digest, posted to the security channel; arms the next one. */
export async function weeklyDigest(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const channel = ctx.settings.securityConversationKey;
  if (channel) {
    const records = await recent(ctx, WEEK_MS);
    const text = md`**Weekly JIT evidence**\n\n${evidenceText(records, { since: new Date(timer.dueAt.getTime() - WEEK_MS) })}`;
    await ctx.notifier.toConversation(channel, { kind: "text", text });
  }
  await armWeeklyDigest(ctx, new Date(timer.dueAt.getTime() + 1000));
}

/**
 * Arms the digest for the next Monday 08:00 UTC. The key names that Monday, so arming again (every
 * start-up, every process) keeps one timer per week and never re-fires a week already sent.
 */
export async function armWeeklyDigest(ctx: AppContext, after: Date = ctx.clock.now()): Promise<void> {
  const next = new Date(Date.UTC(after.getUTCFullYear(), after.getUTCMonth(), after.getUTCDate(), 8));
  next.setUTCDate(next.getUTCDate() + ((8 - next.getUTCDay()) % 7));
  if (next.getTime() <= after.getTime()) next.setUTCDate(next.getUTCDate() + 7);
  await scheduleTimer(ctx, TimerKind.WeeklyDigest, next.toISOString().slice(0, 10), next);
}

export function evidenceText(
  records: readonly RequestRecord[],
  scope: { readonly since: Date; readonly vm?: string },
): ChatText {
  const where = scope.vm ? md` on ${scope.vm}` : "";
  const header = md`Since ${utcText(scope.since)}${where}: ${records.length} request${records.length === 1 ? "" : "s"}.`;
  if (records.length === 0) return header;
  const flagged = records.filter((record) => record.request.review?.state === "flagged");
  const overdue = records.filter((record) => record.request.review?.state === "escalated");
  const notClosed = records.filter((record) => record.closure?.closed === false);
  const sections = [header];
  const lines = (list: readonly RequestRecord[]) => joinChat(list.map(line), "\n");
  if (flagged.length > 0)
    sections.push(md`**Flagged break-glass reviews (${flagged.length})**\n${lines(flagged)}`);
  if (overdue.length > 0)
    sections.push(md`**Break-glass reviews overdue (${overdue.length})**\n${lines(overdue)}`);
  if (notClosed.length > 0)
    sections.push(md`**Windows that did not close on time (${notClosed.length})**\n${lines(notClosed)}`);
  sections.push(md`**All requests**\n${lines(records)}`);
  return joinChat(sections, "\n\n");
}

function line(record: RequestRecord): ChatText {
  const { request } = record;
  const what = request.targets.map((target) => `${target.vmName}:${target.ports.join(",")}`).join(" ");
  const approvers = request.decisions
    .filter((d) => d.kind === "approve")
    .map((d) => personName(deciderOf(d)));
  const denied = request.decisions.find((d) => d.kind === "deny");
  const who =
    request.kind === "break_glass"
      ? md`BREAK-GLASS ${request.incident ?? ""}, review ${reviewText(request)}`
      : denied
        ? md`denied by ${personName(deciderOf(denied))}: ${denied.reason ?? ""}`
        : approvers.length > 0
          ? `approved by ${approvers.join(", ")}`
          : "no decision";
  const window = request.grant
    ? `open ${utcText(new Date(request.grant.initiatedAt))} → ${utcText(new Date(record.closure?.expectedAt ?? request.grant.endTimeUtc))}`
    : "";
  const closed =
    record.closure?.closed === true
      ? md`; closure verified`
      : record.closure?.closed === false
        ? md`; **NOT closed at check**`
        : "";
  const reason = request.reason ? md` “${request.reason}”` : "";
  return md`- ${request.id} ${request.requester.upn ?? request.requester.name} → ${what} from ${request.source?.prefix ?? "?"} for ${formatDuration(request.durationMs)}; ${who}; ${request.state}${window ? `; ${window}` : ""}${closed}${reason}`;
}

function reviewText(request: AccessRequest): ChatText {
  const review = request.review;
  if (!review) return md`none`;
  const by = reviewerOf(review);
  return md`${review.state}${by ? md` by ${personName(by)}` : ""}${review.note ? md`: ${review.note}` : ""}`;
}

async function recent(ctx: AppContext, sinceMs: number, vm?: string): Promise<RequestRecord[]> {
  const since = ctx.clock.now().getTime() - sinceMs;
  const all = await ctx.store.requests.listByState<RequestRecord>([...OPEN_STATES, ...FINAL_STATES]);
  return all
    .map((stored) => stored.data)
    .filter((record) => Date.parse(record.request.createdAt) >= since)
    .filter(
      (record) =>
        vm === undefined ||
        record.request.targets.some((target) => target.vmName.toLowerCase() === vm.toLowerCase()),
    );
}
