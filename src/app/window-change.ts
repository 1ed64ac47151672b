/**
 * Moving an open window's end — `done` (closes a minute from now: JIT has no revoke) or an extend
 * within what was approved — is as durable as a grant: the intent is recorded first, then Azure is
 * asked, then the outcome is recorded. A process that dies in between leaves the intent in the
 * store, and the window-change timer (due shortly after) finishes it: it looks in Azure's request
 * history for the initiate before trying again, so the store never believes an end time Azure
 * does not have.
 *
 * The first attempt runs inline so the person who typed `done` or `extend` hears the outcome; the
 * timer is the safety net. Should the inline attempt outlast the grace period, both may initiate:
 * the same window for the same address, which supersedes itself and changes nothing.
 */
import { type Actor, extendGrant, revoke, type Transition } from "../domain/access-request.ts";
import { utcText } from "../domain/duration.ts";
import { asPortcullisError, ErrorCode } from "../domain/errors.ts";
import { isOwnEntry, type OwnInitiate } from "../domain/history-match.ts";
import { nonceFromJustification } from "../domain/justification.ts";
import { scheduleWindowTimers } from "./access-window.ts";
import { replaceCards, tellRequester } from "./approval-delivery.ts";
import { md } from "./chat-text.ts";
import type { AppContext } from "./context.ts";
import { withdrawExtensionsOf } from "./extension-withdrawal.ts";
import type { ClaimedTimer } from "./ports.ts";
import {
  commit,
  commitWindowChange,
  loadRecord,
  type RequestRecord,
  type StoredRecord,
} from "./request-record.ts";
import { cancelTimers, scheduleTimer, TimerKind } from "./timer-kinds.ts";

/** How far ahead a close sets the end: Azure wants an end time in the future. */
export const CLOSE_AHEAD_MS = 60_000;
/** How long the inline attempt has before the timer takes over. */
const GRACE_MS = 60_000;
/** Transient Azure trouble is retried by the timer this many times before the change is dropped. */
const MAX_ATTEMPTS = 3;

export interface WindowChange {
  readonly kind: "close" | "extend";
  /** ISO 8601: the end time asked of Azure. */
  readonly endTimeUtc: string;
  /** ISO 8601: when it was asked; an initiate older than this in the history is not this change's. */
  readonly requestedAt: string;
  readonly justification: string;
  readonly by: Actor;
}

export type WindowChangeOutcome =
  | { readonly kind: "applied"; readonly record: RequestRecord; readonly withdrawn: readonly string[] }
  | { readonly kind: "refused"; readonly message: string }
  | { readonly kind: "failed"; readonly message: string }
  /** Someone else wrote first, or the window is no longer open. */
  | { readonly kind: "changed" };

/** Records the intent (checked like any window that moves: admission.ts), then carries it out. */
export async function changeWindow(
  ctx: AppContext,
  stored: StoredRecord,
  change: WindowChange,
): Promise<WindowChangeOutcome> {
  const preview = transition(stored.data, change, ctx.clock.now());
  if (!preview.ok) return { kind: "refused", message: preview.error.message };
  const intent: RequestRecord = { ...stored.data, windowChange: change };
  // An extension is checked against everyone else's windows as it will be; closing needs no check.
  const written =
    change.kind === "extend"
      ? await commitWindowChange(ctx, stored, { ...intent, request: preview.request })
      : { ok: true as const, stored: await commit(ctx, stored, intent) };
  if (!written.ok) return { kind: "refused", message: written.refusal.message };
  if (!written.stored) return { kind: "changed" };
  await scheduleTimer(ctx, TimerKind.WindowChange, stored.id, new Date(ctx.clock.now().getTime() + GRACE_MS));
  return carryOut(ctx, stored.id, 1);
}

/** The timer: an intent left behind (a crash, or Azure trouble the first time) is finished. */
export async function completeWindowChange(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const requestId = String(timer.payload.requestId);
  const change = (await loadRecord(ctx, requestId))?.data.windowChange;
  const outcome = await carryOut(ctx, requestId, timer.attempts + 1);
  if (!change) return;
  const end = utcText(new Date(change.endTimeUtc));
  if (outcome.kind === "applied") {
    await tellRequester(
      ctx,
      outcome.record,
      change.kind === "close"
        ? md`${requestId} is closed: JIT closes it at ${end}.`
        : md`${requestId} now closes at ${end}.`,
    );
  } else if (outcome.kind === "failed") {
    const stored = await loadRecord(ctx, requestId);
    const until = stored?.data.request.grant?.endTimeUtc;
    if (stored)
      await tellRequester(
        ctx,
        stored.data,
        md`I could not ${change.kind === "close" ? "close" : "extend"} ${requestId}: ${outcome.message}${until ? ` It stays open until ${utcText(new Date(until))}.` : ""}`,
      );
  }
}

async function carryOut(ctx: AppContext, requestId: string, attempt: number): Promise<WindowChangeOutcome> {
  const stored = await loadRecord(ctx, requestId);
  const change = stored?.data.windowChange;
  if (!stored || !change) return { kind: "changed" };
  const { request } = stored.data;
  const [target] = request.targets;
  if (request.state !== "active" || !target || !request.source) return drop(ctx, stored, undefined);

  // A close finished late still closes a minute from now: Azure wants an end in the future.
  const now = ctx.clock.now().getTime();
  const planned = Date.parse(change.endTimeUtc);
  const endTimeUtc = new Date(
    change.kind === "close" && planned < now + 30_000 ? now + CLOSE_AHEAD_MS : planned,
  );
  const earlier = attempt === 1 ? undefined : await earlierInitiate(ctx, stored.data, change);
  if (earlier) return apply(ctx, stored, { ...change, endTimeUtc: earlier.toISOString() });
  try {
    await ctx.gateway.initiate({
      policy: { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
      virtualMachines: request.targets.map((each) => ({
        vmId: each.vmId,
        ports: each.ports.map((number) => ({
          number,
          endTimeUtc,
          allowedSourceAddressPrefix: request.source?.prefix ?? "",
        })),
      })),
      justification: change.justification,
    });
  } catch (error) {
    const coded = asPortcullisError(error);
    const transient = coded.code === ErrorCode.AzureUnavailable || coded.code === ErrorCode.AzureThrottled;
    // The timer tries again (history first); the person who asked hears now that it is not done yet.
    if (transient && attempt < MAX_ATTEMPTS) {
      if (attempt > 1) throw coded;
      return { kind: "failed", message: `${coded.userMessage} I'll keep trying for a few minutes.` };
    }
    return drop(ctx, stored, coded.userMessage);
  }
  return apply(ctx, stored, { ...change, endTimeUtc: endTimeUtc.toISOString() });
}

/** Azure has the change: the end time as the record will hold it. */
async function apply(
  ctx: AppContext,
  stored: StoredRecord,
  change: WindowChange,
): Promise<WindowChangeOutcome> {
  const now = ctx.clock.now();
  const moved = transition(stored.data, change, now);
  const { windowChange: _, ...rest } = stored.data;
  if (!moved.ok) return drop(ctx, stored, undefined);
  const next: RequestRecord =
    change.kind === "close"
      ? { ...rest, request: moved.request, closure: { expectedAt: change.endTimeUtc } }
      : { ...rest, request: moved.request };
  if (!(await commit(ctx, stored, next, moved.event))) {
    throw new Error(`${stored.id} changed while its window was moved; retrying`);
  }
  await cancelTimers(ctx, stored.id, [TimerKind.WindowChange]);
  let withdrawn: readonly string[] = [];
  if (change.kind === "close") {
    await cancelTimers(ctx, stored.id, [TimerKind.PreExpiryWarning, TimerKind.Expiry, TimerKind.WindowCheck]);
    await scheduleTimer(
      ctx,
      TimerKind.ClosureCheck,
      stored.id,
      new Date(Date.parse(change.endTimeUtc) + ctx.settings.closureCheckDelayMs),
    );
    withdrawn = await withdrawExtensionsOf(ctx, next.request);
  } else {
    await scheduleWindowTimers(ctx, next.request);
  }
  await replaceCards(ctx, next);
  return { kind: "applied", record: next, withdrawn };
}

/** Azure kept the old window (or it ended meanwhile): the intent goes, the evidence says why. */
async function drop(
  ctx: AppContext,
  stored: StoredRecord,
  message: string | undefined,
): Promise<WindowChangeOutcome> {
  const change = stored.data.windowChange;
  const { windowChange: _, ...rest } = stored.data;
  if (!(await commit(ctx, stored, rest))) throw new Error(`${stored.id} changed; retrying`);
  await cancelTimers(ctx, stored.id, [TimerKind.WindowChange]);
  if (message === undefined || change === undefined) return { kind: "changed" };
  await ctx.store.audit.append({
    at: ctx.clock.now(),
    type: change.kind === "close" ? "request.close_failed" : "request.extend_failed",
    actorId: change.by.id,
    requestId: stored.id,
    payload: { message, endTimeUtc: change.endTimeUtc },
  });
  return { kind: "failed", message };
}

/**
 * The end time of an initiate for this change already in Azure's history (an earlier attempt got
 * through and died before recording it): with this request's nonce (for records from before nonces,
 * this change's exact justification), on its VM, ports and source, made since it was asked; for an
 * extension to the end it asked for, for a close to an end no further than a close ever sets.
 */
async function earlierInitiate(
  ctx: AppContext,
  record: RequestRecord,
  change: WindowChange,
): Promise<Date | undefined> {
  const { request } = record;
  const [target] = request.targets;
  if (!target) return undefined;
  const policy = await ctx.gateway.getVmPolicy(
    { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
    target.vmId,
  );
  if (!request.source) return undefined;
  const nonce = nonceFromJustification(change.justification);
  const own: OwnInitiate = {
    tag:
      nonce === undefined
        ? { requestId: request.id, justification: change.justification }
        : { requestId: request.id, nonce },
    vmId: target.vmId,
    ports: target.ports,
    source: request.source.prefix,
    ...(change.kind === "extend" ? { endTimeUtc: new Date(change.endTimeUtc) } : {}),
  };
  const latestClose = Math.max(Date.parse(change.endTimeUtc), ctx.clock.now().getTime() + CLOSE_AHEAD_MS);
  const ends = policy.requests
    .filter(
      (entry) =>
        isOwnEntry(entry, own) && entry.startTimeUtc.getTime() >= Date.parse(change.requestedAt) - 1_000,
    )
    .flatMap((entry) =>
      entry.ports.filter((port) => target.ports.includes(port.number)).map((port) => port.endTimeUtc),
    )
    .filter((end) => change.kind === "extend" || end.getTime() <= latestClose + 1_000)
    .sort((a, b) => b.getTime() - a.getTime());
  return ends[0];
}

function transition(record: RequestRecord, change: WindowChange, at: Date): Transition {
  return change.kind === "close"
    ? revoke(record.request, change.by, at, { reason: "ended early with done" })
    : extendGrant(record.request, change.by, new Date(change.endTimeUtc), at);
}
