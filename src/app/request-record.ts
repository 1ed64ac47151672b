/**
 * How an access request is kept in the store: the domain request plus what the bot needs to keep
 * its promises about it (the card context, every copy of the card it sent). Writes are
 * compare-and-swap; every successful transition appends its audit event.
 */
import {
  type AccessRequest,
  OPEN_STATES,
  type RequestEvent,
  type Transition,
  type TransitionError,
} from "../domain/access-request.ts";
import { admissionRefusal, type BreakGlassLimits, DAY_MS, type Refusal } from "../domain/admission.ts";
import { ErrorCode, PortcullisError } from "../domain/errors.ts";
import { nonceFromJustification } from "../domain/justification.ts";
import type { AppContext } from "./context.ts";
import type { ApprovalContext, MessageHandle, RequestStore, StoredRequest } from "./ports.ts";
import type { WindowChange } from "./window-change.ts";

export interface RequestRecord {
  readonly request: AccessRequest;
  readonly card: ApprovalContext;
  /** Every approval card sent for this request, so all of them can be replaced after a decision. */
  readonly cards: readonly MessageHandle[];
  /** Where the requester asked; notices go to their 1:1 chat first, this conversation otherwise. */
  readonly requesterConversationKey: string;
  /** IANA zone of the requester's Teams client, for "until 15:05 your time". */
  readonly requesterTimeZone?: string;
  /** The end time the grant asks Azure for, fixed before the first initiate (grant.ts). */
  readonly plannedEnd?: string;
  /**
   * The nonce every initiate of this request carries in its justification, fixed with plannedEnd
   * before the first one (grant.ts). Absent in records from before nonces: they keep the old text.
   */
  readonly nonce?: string;
  /** The requester's pre-expiry warning cards (one per end time warned about), replaced when the window moves or ends. */
  readonly windowCards?: readonly MessageHandle[];
  /** Records written before windowCards: the one warning card. */
  readonly windowCard?: MessageHandle;
  /** The end time (ISO 8601) the last pre-expiry warning was about: one warning per end. */
  readonly warnedFor?: string;
  /** When the port should be closed (the end time, or sooner after `done`) and what the check found. */
  readonly closure?: Closure;
  /** Which reviewers' cards are out (or on their way): each card reaches its reviewer once (approval-delivery.ts). */
  readonly deliveries?: readonly CardDelivery[];
  /** A move of the window's end recorded before Azure was asked; cleared once done (window-change.ts). */
  readonly windowChange?: WindowChange;
}

/** One card to one reviewer, claimed in the record before it is sent. */
export interface CardDelivery {
  /** The approver entries (UPN or object id, as listed on the request) this card serves. */
  readonly to: readonly string[];
  /** ISO 8601. A claim without a handle is given up after a lease, in case its sender died mid-send. */
  readonly claimedAt: string;
  /** Set once the card is out. */
  readonly handle?: MessageHandle;
}

export interface Closure {
  /** ISO 8601: when JIT should have removed the Allow rule. */
  readonly expectedAt: string;
  readonly checkedAt?: string;
  readonly closed?: boolean;
  /** What was still open at the check, in words. */
  readonly stillOpen?: readonly string[];
  /** The check could not run and stopped (access-window.ts): why, as the alarm said it. */
  readonly unverified?: string;
}

export type StoredRecord = StoredRequest<RequestRecord>;

/** The request's nonce: recorded, or (older records granted elsewhere) read from its grant's justification. */
export function nonceOf(record: RequestRecord): string | undefined {
  return record.nonce ?? nonceFromJustification(record.request.grant?.justification);
}

/** Every window card sent for the request, the one from older records included. */
export function windowCardsOf(record: RequestRecord): readonly MessageHandle[] {
  return [...(record.windowCard ? [record.windowCard] : []), ...(record.windowCards ?? [])];
}

export async function loadRecord(ctx: AppContext, id: string): Promise<StoredRecord | undefined> {
  return ctx.store.requests.get<RequestRecord>(id);
}

/**
 * Stores a new request, with its creation event in the same statement; no cards sent yet.
 * The only way a request enters the store: the rules that span requests (admission.ts) are
 * checked under the store's locks in the same transaction, so concurrent asks cannot both pass.
 * When admission says no, nothing is written and the refusal (with the user's sentence) comes back.
 */
export async function insertRecord(
  ctx: AppContext,
  request: AccessRequest,
  event: RequestEvent,
  extra: {
    readonly card: ApprovalContext;
    readonly conversationKey: string;
    readonly timeZone?: string | undefined;
    readonly breakGlassLimits?: BreakGlassLimits;
  },
): Promise<Admitted<StoredRecord>> {
  const record: RequestRecord = {
    request,
    card: extra.card,
    cards: [],
    requesterConversationKey: extra.conversationKey,
    ...(extra.timeZone === undefined ? {} : { requesterTimeZone: extra.timeZone }),
  };
  return ctx.store.requests.exclusive(admissionLocks(request), async (tx) => {
    const refusal = await admit(tx, request, ctx.clock.now(), extra.breakGlassLimits);
    if (refusal !== undefined) return { ok: false, refusal };
    const stored = await tx.insert<RequestRecord>(
      {
        id: request.id,
        state: request.state,
        requesterId: request.requester.id,
        createdAt: new Date(request.createdAt),
        data: record,
      },
      event,
    );
    return { ok: true, stored };
  });
}

export type Admitted<T> =
  | { readonly ok: true; readonly stored: T }
  | { readonly ok: false; readonly refusal: Refusal };

/**
 * Like commit, for a change that moves an open window (extend): the admission rules are checked
 * again under the same locks. `stored` is undefined when someone else wrote first.
 */
export async function commitWindowChange(
  ctx: AppContext,
  stored: StoredRecord,
  next: RequestRecord,
  event?: RequestEvent,
): Promise<Admitted<StoredRecord | undefined>> {
  return ctx.store.requests.exclusive(admissionLocks(next.request), async (tx) => {
    const refusal = await admit(tx, next.request, ctx.clock.now());
    if (refusal !== undefined) return { ok: false, refusal };
    const written = await tx.compareAndSwap<RequestRecord>(
      stored.id,
      stored.version,
      { state: next.request.state, data: next },
      event,
    );
    return { ok: true, stored: written };
  });
}

/** Every VM the request touches, and the person (by each id they have): see admission.ts. */
function admissionLocks(request: AccessRequest): string[] {
  const { requester } = request;
  return [
    ...request.targets.map((target) => `vm:${target.vmId.toLowerCase()}`),
    `person:${requester.id.toLowerCase()}`,
    ...(requester.upn === undefined ? [] : [`person:${requester.upn.toLowerCase()}`]),
  ];
}

async function admit(
  tx: RequestStore,
  request: AccessRequest,
  now: Date,
  breakGlassLimits?: BreakGlassLimits,
): Promise<Refusal | undefined> {
  const vmIds = request.targets.map((target) => target.vmId);
  const openOnVms = await tx.listOnVms<RequestRecord>(vmIds, OPEN_STATES);
  const recentBreakGlass =
    request.kind === "break_glass" && breakGlassLimits !== undefined
      ? await tx.listKindSince<RequestRecord>("break_glass", new Date(now.getTime() - DAY_MS))
      : [];
  return admissionRefusal({
    candidate: request,
    openOnVms: openOnVms.map((stored) => stored.data.request),
    recentBreakGlass: recentBreakGlass.map((stored) => stored.data.request),
    ...(breakGlassLimits === undefined ? {} : { breakGlassLimits }),
    now,
  });
}

/** Writes `next` if nobody else wrote since `stored` was read, with `event` in the same statement. */
export async function commit(
  ctx: AppContext,
  stored: StoredRecord,
  next: RequestRecord,
  event?: RequestEvent,
): Promise<StoredRecord | undefined> {
  return ctx.store.requests.compareAndSwap<RequestRecord>(
    stored.id,
    stored.version,
    { state: next.request.state, data: next },
    event,
  );
}

/** How often a move is re-read and re-applied after losing a race before it gives up. */
const MAX_MOVE_ATTEMPTS = 5;

export type Moved =
  /** Written: `record` is the request after the move, `before` what it moved from. */
  | { readonly kind: "moved"; readonly record: RequestRecord; readonly before: RequestRecord }
  /** The domain refused the move on the request as it stands now (`record`). */
  | { readonly kind: "refused"; readonly error: TransitionError; readonly record: RequestRecord }
  | { readonly kind: "missing" };

/**
 * The one write path for moving a stored request: read it, apply `move` (a domain transition,
 * decided on the request as it stands now), write it with the version read, and on a lost race read
 * again and re-apply — here and nowhere else. A second click, a retried timer or another replica
 * therefore always meets the latest state, and the domain says what that means. `extra` adds the
 * record's own fields to the write (a closure, a card handle). The follow-up work (timers, cards,
 * notices) is the caller's, after the write. Throws StoreConflict when the request kept changing.
 */
export async function moveRecord(
  ctx: AppContext,
  id: string,
  move: (current: StoredRecord) => Transition | Promise<Transition>,
  extra: (next: RequestRecord) => RequestRecord = (next) => next,
): Promise<Moved> {
  for (let attempt = 0; attempt < MAX_MOVE_ATTEMPTS; attempt++) {
    const stored = await loadRecord(ctx, id);
    if (!stored) return { kind: "missing" };
    const moved = await move(stored);
    if (!moved.ok) return { kind: "refused", error: moved.error, record: stored.data };
    const next = extra({ ...stored.data, request: moved.request });
    if (await commit(ctx, stored, next, moved.event))
      return { kind: "moved", record: next, before: stored.data };
  }
  throw new PortcullisError(
    ErrorCode.StoreConflict,
    `${id} is changing under many hands right now; try again in a moment.`,
    {
      detail: `${id}: ${MAX_MOVE_ATTEMPTS} compare-and-swap attempts lost`,
    },
  );
}

/**
 * The same write path for the record's own fields (a closure, a card handle): `change` gets the
 * record as it stands now and returns the next one, or undefined to leave it; a lost race reads
 * again and re-applies. Returns the written record, or undefined when nothing was written.
 */
export async function updateRecord(
  ctx: AppContext,
  id: string,
  change: (current: RequestRecord) => RequestRecord | undefined,
): Promise<StoredRecord | undefined> {
  for (let attempt = 0; attempt < MAX_MOVE_ATTEMPTS; attempt++) {
    const stored = await loadRecord(ctx, id);
    if (!stored) return undefined;
    const next = change(stored.data);
    if (next === undefined) return undefined;
    const written = await commit(ctx, stored, next);
    if (written) return written;
  }
  throw new PortcullisError(
    ErrorCode.StoreConflict,
    `${id} is changing under many hands right now; try again in a moment.`,
    {
      detail: `${id}: ${MAX_MOVE_ATTEMPTS} compare-and-swap attempts lost`,
    },
  );
}
