/** Durable timers the request flow relies on: one row per (kind, request), see DESIGN.md "Time". */
import type { AppContext } from "./context.ts";

export const TimerKind = {
  /** Approved: call initiate. A timer (due now) rather than a direct call, so a crash retries it. */
  Grant: "grant",
  /** Nobody decided in time (or no address arrived): the request ends timed_out. */
  ApprovalTimeout: "approval-timeout",
  /** The one-time IP link expired unused. */
  SourceLinkExpiry: "source-link-expiry",
  /** Half the approval time has passed: remind the approvers. */
  ApprovalReminder: "approval-reminder",
  /** Shortly before the end: warn the requester. */
  PreExpiryWarning: "pre-expiry-warning",
  /** The end time: say the window closed, end the request. */
  Expiry: "expiry",
  /** Shortly after the end: check in Azure that the port really closed. */
  ClosureCheck: "closure-check",
  /** While open, every WINDOW_CHECK_INTERVAL: has a newer initiate made elsewhere replaced the window? */
  WindowCheck: "window-check",
  /** A window's end was to move (done, extend) and the first attempt did not finish: finish it. */
  WindowChange: "window-change",
  /** Break-glass: half the review time has passed. */
  ReviewReminder: "review-reminder",
  /** Break-glass: nobody reviewed in time; escalate to the security channel. */
  ReviewEscalation: "review-escalation",
  /** Monday 08:00 UTC: the week's evidence to the security channel. */
  WeeklyDigest: "weekly-digest",
} as const;
export type TimerKind = (typeof TimerKind)[keyof typeof TimerKind];

export function timerKey(kind: TimerKind, requestId: string): string {
  return `${kind}:${requestId}`;
}

export async function scheduleTimer(
  ctx: AppContext,
  kind: TimerKind,
  requestId: string,
  dueAt: Date,
  extra: Readonly<Record<string, unknown>> = {},
): Promise<void> {
  await ctx.store.timers.schedule({
    key: timerKey(kind, requestId),
    kind,
    dueAt,
    payload: { ...extra, requestId },
  });
}

/** Every timer that only matters while a request is undecided. */
export const UNDECIDED_TIMERS: readonly TimerKind[] = [
  TimerKind.ApprovalTimeout,
  TimerKind.ApprovalReminder,
  TimerKind.SourceLinkExpiry,
];

export async function cancelTimers(
  ctx: AppContext,
  requestId: string,
  kinds: readonly TimerKind[],
): Promise<void> {
  for (const kind of kinds) await ctx.store.timers.cancel(timerKey(kind, requestId));
}
