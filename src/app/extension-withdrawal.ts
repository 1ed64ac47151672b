/**
 * A window's end ends its extensions too. Whatever closes a window — `done`, expiry, `cancel`, a
 * denial, a failure, or an extension that continues it — calls withdrawExtensionsOf once it has
 * written the final state, so an extension asked earlier can never open the port again later.
 */
import { type AccessRequest, FINAL_STATES, withdraw } from "../domain/access-request.ts";
import { replaceCards } from "./approval-delivery.ts";
import type { AppContext } from "./context.ts";
import { moveRecord, type RequestRecord } from "./request-record.ts";
import { cancelTimers, TimerKind, UNDECIDED_TIMERS } from "./timer-kinds.ts";

/** States of an extension that has not opened yet: what a window's end withdraws. */
export const NOT_YET_OPEN = ["awaiting_source", "pending", "scheduled", "approved"] as const;

/**
 * The one follow-up of a window reaching a final state (done, expiry, cancel, deny, failure, or
 * being continued): every extension of it that has not opened yet is withdrawn, with its audit
 * event, its timers and its cards — so an approval clicked afterwards is a no-op that says why.
 * Idempotent: a retried caller finds nothing left to withdraw. Returns the ids withdrawn.
 */
export async function withdrawExtensionsOf(
  ctx: AppContext,
  ended: AccessRequest,
): Promise<readonly string[]> {
  if (!FINAL_STATES.includes(ended.state)) return [];
  const waiting = await ctx.store.requests.listByState<RequestRecord>(NOT_YET_OPEN);
  const withdrawn: string[] = [];
  for (const candidate of waiting.filter((each) => each.data.request.extends === ended.id)) {
    const moved = await moveRecord(ctx, candidate.id, (current) =>
      withdraw(current.data.request, ended, ctx.clock.now()),
    );
    if (moved.kind !== "moved") continue;
    await cancelTimers(ctx, candidate.id, [...UNDECIDED_TIMERS, TimerKind.Grant]);
    await replaceCards(ctx, moved.record);
    withdrawn.push(candidate.id);
  }
  return withdrawn;
}

/** "R-3, which asked to extend R-2, is withdrawn with it." — or nothing when there was none. */
export function withdrawnSentence(endedId: string, withdrawn: readonly string[]): string {
  if (withdrawn.length === 0) return "";
  const ids = withdrawn.join(", ");
  return withdrawn.length === 1
    ? ` ${ids}, which asked to extend ${endedId}, is withdrawn with it.`
    : ` ${ids}, which asked to extend ${endedId}, are withdrawn with it.`;
}
