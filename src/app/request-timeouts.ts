/** Undecided requests end: nobody decided in time, or the one-time link was never opened. */
import { SYSTEM_ACTOR, timeout } from "../domain/access-request.ts";
import { replaceCards, tellRequester } from "./approval-delivery.ts";
import { md } from "./chat-text.ts";
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
    // This timer ran before and never completed: that attempt may have timed the request out and
    // died before the notices. Send them (at least once; a first attempt leaves a decided request alone).
    if (timer.attempts > 1 && request.state === "timed_out" && request.endedBy === SYSTEM_ACTOR)
      return afterTimeout(ctx, stored.data, request.source === undefined);
    if (request.state !== "pending" && request.state !== "awaiting_source") return;
    if (linkOnly && request.state !== "awaiting_source") return;
    const moved = timeout(request, ctx.clock.now());
    if (!moved.ok) return;
    const next: RequestRecord = { ...stored.data, request: moved.request };
    if (!(await commit(ctx, stored, next, moved.event))) continue;
    return afterTimeout(ctx, next, request.state === "awaiting_source");
  }
  throw new Error(`${requestId} kept changing while timing out`);
}

async function afterTimeout(ctx: AppContext, record: RequestRecord, noAddress: boolean): Promise<void> {
  const { request } = record;
  await cancelTimers(ctx, request.id, UNDECIDED_TIMERS);
  await replaceCards(ctx, record);
  await tellRequester(
    ctx,
    record,
    noAddress
      ? md`${request.id} ended: the address link was not opened in time. Nothing was opened; ask again when you are at the machine.`
      : md`${request.id} timed out: nobody decided in time. Nothing was opened; ask again, or ping ${request.approval.approvers.join(", ")}.`,
  );
}
