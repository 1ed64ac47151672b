/**
 * How an access request is kept in the store: the domain request plus what the bot needs to keep
 * its promises about it (the card context, every copy of the card it sent). Writes are
 * compare-and-swap; every successful transition appends its audit event.
 */
import type { AccessRequest, RequestEvent } from "../domain/access-request.ts";
import type { AppContext } from "./context.ts";
import type { ApprovalContext, MessageHandle, StoredRequest } from "./ports.ts";

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
  /** The requester's pre-expiry warning cards (one per end time warned about), replaced when the window moves or ends. */
  readonly windowCards?: readonly MessageHandle[];
  /** Records written before windowCards: the one warning card. */
  readonly windowCard?: MessageHandle;
  /** The end time (ISO 8601) the last pre-expiry warning was about: one warning per end. */
  readonly warnedFor?: string;
  /** When the port should be closed (the end time, or sooner after `done`) and what the check found. */
  readonly closure?: Closure;
}

export interface Closure {
  /** ISO 8601: when JIT should have removed the Allow rule. */
  readonly expectedAt: string;
  readonly checkedAt?: string;
  readonly closed?: boolean;
  /** What was still open at the check, in words. */
  readonly stillOpen?: readonly string[];
}

export type StoredRecord = StoredRequest<RequestRecord>;

/** Every window card sent for the request, the one from older records included. */
export function windowCardsOf(record: RequestRecord): readonly MessageHandle[] {
  return [...(record.windowCard ? [record.windowCard] : []), ...(record.windowCards ?? [])];
}

export async function loadRecord(ctx: AppContext, id: string): Promise<StoredRecord | undefined> {
  return ctx.store.requests.get<RequestRecord>(id);
}

/** Stores a new request, with its creation event in the same statement; no cards sent yet. */
export async function insertRecord(
  ctx: AppContext,
  request: AccessRequest,
  event: RequestEvent,
  extra: {
    readonly card: ApprovalContext;
    readonly conversationKey: string;
    readonly timeZone?: string | undefined;
  },
): Promise<StoredRecord> {
  const record: RequestRecord = {
    request,
    card: extra.card,
    cards: [],
    requesterConversationKey: extra.conversationKey,
    ...(extra.timeZone === undefined ? {} : { requesterTimeZone: extra.timeZone }),
  };
  return ctx.store.requests.insert<RequestRecord>(
    {
      id: request.id,
      state: request.state,
      requesterId: request.requester.id,
      createdAt: new Date(request.createdAt),
      data: record,
    },
    event,
  );
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
