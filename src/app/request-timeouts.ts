/** Undecided requests end: nobody decided in time, or the one-time link was never opened. */
import { SYSTEM_ACTOR, timeout } from "../domain/access-request.ts";
import { replaceCards, tellRequester } from "./approval-delivery.ts";
import { md } from "./chat-text.ts";
import type { AppContext } from "./context.ts";
import type { ClaimedTimer } from "./ports.ts";
import { loadRecord, moveRecord, type RequestRecord } from "./request-record.ts";
import { cancelTimers, TimerKind, UNDECIDED_TIMERS } from "./timer-kinds.ts";

export async function expireUndecided(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const requestId = String(timer.payload.requestId);
  const linkOnly = timer.kind === TimerKind.SourceLinkExpiry;
  const current = await loadRecord(ctx, requestId);
  if (!current) return;
  // This timer ran before and never completed: that attempt may have timed the request out and
  // died before the notices. Send them (at least once; a first attempt leaves a decided request alone).
  const was = current.data.request;
  if (timer.attempts > 1 && was.state === "timed_out" && was.endedBy === SYSTEM_ACTOR)
    return afterTimeout(ctx, current.data, was.source === undefined);
  // The link's own expiry ends only a request still waiting for its address.
  const moved = await moveRecord(ctx, requestId, (stored) =>
    timeout(stored.data.request, ctx.clock.now(), { onlyAwaitingSource: linkOnly }),
  );
  if (moved.kind !== "moved") return;
  return afterTimeout(ctx, moved.record, moved.before.request.state === "awaiting_source");
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
