/** Undecided requests end: nobody decided in time, or the one-time link was never opened. */
import { timeout } from "../domain/access-request.ts";
import { replaceCards, tellRequester } from "./approval-delivery.ts";
import type { AppContext } from "./context.ts";
import type { ClaimedTimer } from "./ports.ts";
import { commit, loadRecord, type RequestRecord } from "./request-record.ts";
import { cancelTimers, TimerKind, UNDECIDED_TIMERS } from "./timer-kinds.ts";

export async function expireUndecided(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const requestId = String(timer.payload.requestId);
  const linkOnly = timer.kind === TimerKind.SourceLinkExpiry;
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await loadRecord(ctx, requestId);
    if (!stored) return;
    const { request } = stored.data;
    if (request.state !== "pending" && request.state !== "awaiting_source") return;
    if (linkOnly && request.state !== "awaiting_source") return;
    const moved = timeout(request, ctx.clock.now());
    if (!moved.ok) return;
    const next: RequestRecord = { ...stored.data, request: moved.request };
    if (!(await commit(ctx, stored, next, moved.event))) continue;
    await cancelTimers(ctx, requestId, UNDECIDED_TIMERS);
    await replaceCards(ctx, next);
    await tellRequester(
      ctx,
      next,
      request.state === "awaiting_source"
        ? `${requestId} ended: the address link was not opened in time. Nothing was opened; ask again when you are at the machine.`
        : `${requestId} timed out: nobody decided in time. Nothing was opened; ask again, or ping ${request.approval.approvers.join(", ")}.`,
    );
    return;
  }
  throw new Error(`${requestId} kept changing while timing out`);
}
