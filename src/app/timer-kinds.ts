/** Durable timers the request flow relies on: one row per (kind, request), see DESIGN.md "Time". */
import type { AppContext } from "./context.ts";

export const TimerKind = {
  /** Approved: call initiate. A timer (due now) rather than a direct call, so a crash retries it. */
  Grant: "grant",
  /** Nobody decided in time (or no address arrived): the request ends timed_out. */
  ApprovalTimeout: "approval-timeout",
  /** The one-time IP link expired unused. */
  SourceLinkExpiry: "source-link-expiry",
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
): Promise<void> {
  await ctx.store.timers.schedule({ key: timerKey(kind, requestId), kind, dueAt, payload: { requestId } });
}

export async function cancelTimers(
  ctx: AppContext,
  requestId: string,
  kinds: readonly TimerKind[],
): Promise<void> {
  for (const kind of kinds) await ctx.store.timers.cancel(timerKey(kind, requestId));
}
