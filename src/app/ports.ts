/**
 * The interfaces the use cases need, named for what the app does rather than for a vendor.
 * Adapters live in azure/, store/, chat/ and are wired in main.ts only.
 */
import type { AccessRequest } from "../domain/access-request.ts";
import type { InboundPath } from "../domain/inbound-access.ts";
import type { JitRequestRecord, VmPolicy, VmWithJit } from "../domain/vm.ts";
import type { ChatText } from "./chat-text.ts";

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

// ---------------------------------------------------------------- Azure

/** Where a JIT policy lives; initiate is addressed to it. */
export interface PolicyRef {
  readonly resourceGroup: string;
  readonly location: string;
  readonly name: string;
}

export interface InitiatePort {
  readonly number: number;
  readonly endTimeUtc: Date;
  readonly allowedSourceAddressPrefix: string;
}

export interface InitiateInput {
  readonly policy: PolicyRef;
  readonly virtualMachines: readonly { readonly vmId: string; readonly ports: readonly InitiatePort[] }[];
  /** Must carry the Portcullis request id: it is how a retried initiate is recognised in the history. */
  readonly justification: string;
}

export interface JitGateway {
  /** Every VM in the subscription with its JIT state (configured / not configured / unsupported + reason). */
  listVms(): Promise<readonly VmWithJit[]>;
  /** VMs whose name matches case-insensitively (several when the same name is in several resource groups). */
  findVms(name: string): Promise<readonly VmWithJit[]>;
  /** The policy as Azure holds it now, narrowed to one VM: rules and request history. */
  getVmPolicy(policy: PolicyRef, vmId: string): Promise<VmPolicy>;
  /** One initiate call; returns the request Azure recorded, one record per VM. */
  initiate(input: InitiateInput): Promise<readonly JitRequestRecord[]>;
  /**
   * Every way into the VM: per NIC IP configuration, the NSG on its subnet then on the NIC with all
   * their inbound rules — to check that a window really closed (domain/inbound-access.ts).
   */
  listInboundPaths(vmId: string): Promise<readonly InboundPath[]>;
  /** Throws a PortcullisError when ARM cannot be reached or refuses the identity. */
  checkHealth(): Promise<void>;
}

// ---------------------------------------------------------------- On call

export interface OnCallSubject {
  readonly vmName: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Who may break glass on a VM right now. Today a static roster (app/static-roster.ts: the rules
 * file and BREAK_GLASS_USERS); a PagerDuty or Opsgenie adapter would answer "on call now" instead.
 */
export interface OnCallRoster {
  isOnCall(upn: string, subject: OnCallSubject): Promise<boolean>;
}

// ---------------------------------------------------------------- Chat

/**
 * What the app says; each chat adapter renders it (Markdown text, an Adaptive Card, Block Kit…).
 * Text is ChatText, never a string: other people's text in it stays literal (app/chat-text.ts).
 */
export type OutboundMessage =
  | { readonly kind: "text"; readonly text: ChatText }
  | { readonly kind: "approval"; readonly request: AccessRequest; readonly context: ApprovalContext }
  /** Break-glass: the broadcast that is also the review card. */
  | { readonly kind: "break-glass"; readonly request: AccessRequest }
  /** The requester's open window: the pre-expiry warning with Extend and Done. */
  | { readonly kind: "window"; readonly request: AccessRequest; readonly text?: ChatText };

/** What an approval card shows beyond the request itself; stored with it so the card stays a function of state. */
export interface ApprovalContext {
  readonly maxDurationMs: number;
  readonly riskFlags: readonly { readonly code: string; readonly message: string }[];
}

/** A person to reach in chat: Entra object id and/or UPN, whichever is known. */
export interface Recipient {
  readonly userId?: string;
  readonly upn?: string;
}

/** Where a sent message lives, so it can be replaced later (cards: no stale buttons). */
export interface MessageHandle {
  readonly conversationKey: string;
  readonly activityId: string;
}

export interface Notifier {
  /**
   * A 1:1 message: through a stored conversation reference, or a new conversation when the channel
   * can open one (Teams: an Entra object id, in the tenant of `viaConversationKey`). Undefined when unreachable.
   */
  toUser(
    recipient: Recipient,
    message: OutboundMessage,
    options?: { readonly viaConversationKey?: string },
  ): Promise<MessageHandle | undefined>;
  /** A channel or group chat the bot holds a reference for. Undefined when unreachable. */
  toConversation(conversationKey: string, message: OutboundMessage): Promise<MessageHandle | undefined>;
  /** Replaces an earlier message; false when the channel refused (logged by the adapter). */
  update(handle: MessageHandle, message: OutboundMessage): Promise<boolean>;
}

// ---------------------------------------------------------------- Store

/**
 * An access request as stored. The store treats `data` as opaque JSON owned by the app;
 * `state` and `requesterId` are columns so they can be queried. `version` is for compare-and-swap.
 */
export interface StoredRequest<T = unknown> {
  readonly id: string;
  readonly version: number;
  readonly state: string;
  readonly requesterId: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly data: T;
}

export interface RequestStore {
  /** Allocates the next human-friendly id ("R-17"). Unique across processes. */
  nextRequestId(): Promise<string>;
  /** With `event`, the audit event is written in the same statement: both or neither. */
  insert<T>(
    request: Omit<StoredRequest<T>, "version" | "updatedAt">,
    event?: AuditEvent,
  ): Promise<StoredRequest<T>>;
  get<T>(id: string): Promise<StoredRequest<T> | undefined>;
  /** Writes only if the row still has `expectedVersion`; returns the new row, or undefined if someone else won. */
  compareAndSwap<T>(
    id: string,
    expectedVersion: number,
    next: { readonly state: string; readonly data: T },
    event?: AuditEvent,
  ): Promise<StoredRequest<T> | undefined>;
  listByRequester<T>(requesterId: string, states?: readonly string[]): Promise<readonly StoredRequest<T>[]>;
  listByState<T>(states: readonly string[]): Promise<readonly StoredRequest<T>[]>;
  /** Requests in `states` with a target on any of these VMs (ids compared case-insensitively). */
  listOnVms<T>(vmIds: readonly string[], states: readonly string[]): Promise<readonly StoredRequest<T>[]>;
  /** Requests of this `kind` (break_glass…) created at or after `since`, in any state. */
  listKindSince<T>(kind: string, since: Date): Promise<readonly StoredRequest<T>[]>;
  /**
   * Runs `fn` in one transaction that first takes every named lock (across processes, released at
   * commit): invariants that span requests are read and written inside it (app/request-record.ts).
   * `tx` is this store inside the transaction; it cannot nest.
   */
  exclusive<R>(locks: readonly string[], fn: (tx: RequestStore) => Promise<R>): Promise<R>;
}

export interface AuditEvent {
  readonly at: Date;
  /** Stable event name, e.g. "request.created", "request.approved". */
  readonly type: string;
  readonly actorId: string;
  readonly requestId?: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

export interface StoredAuditEvent extends AuditEvent {
  readonly seq: number;
}

export interface AuditLog {
  append(event: AuditEvent): Promise<StoredAuditEvent>;
  list(filter?: {
    readonly requestId?: string;
    readonly since?: Date;
    readonly limit?: number;
  }): Promise<readonly StoredAuditEvent[]>;
}

/** A Bot Framework ConversationReference (or a Slack equivalent), kept as JSON. */
export interface ConversationRecord {
  /** "user:<aadObjectId>" for a 1:1 chat with that user, "conversation:<id>" for a channel or group. */
  readonly key: string;
  readonly channel: string;
  readonly reference: Readonly<Record<string, unknown>>;
  readonly userPrincipalName?: string;
  readonly updatedAt: Date;
}

export interface ConversationStore {
  upsert(record: ConversationRecord): Promise<void>;
  get(key: string): Promise<ConversationRecord | undefined>;
  /** Finds a user's 1:1 reference by UPN, case-insensitively. */
  findByUserPrincipalName(upn: string): Promise<ConversationRecord | undefined>;
}

export interface TimerSpec {
  /** Unique per purpose, e.g. "expiry:R-17"; scheduling the same key twice keeps one timer. */
  readonly key: string;
  readonly kind: string;
  readonly dueAt: Date;
  readonly payload: Readonly<Record<string, unknown>>;
}

export interface ClaimedTimer extends TimerSpec {
  readonly id: number;
  /** Which attempt this claim is: 1 the first time the timer fires, 2 after one failure… */
  readonly attempts: number;
}

export interface TimerStore {
  schedule(timer: TimerSpec): Promise<void>;
  cancel(key: string): Promise<void>;
  /** Claims up to `limit` due timers for `owner` until `leaseUntil`; no other claimer gets them meanwhile. */
  claimDue(now: Date, owner: string, leaseUntil: Date, limit: number): Promise<readonly ClaimedTimer[]>;
  complete(id: number, owner: string): Promise<void>;
  /** Releases the claim and sets the next attempt time. */
  retryLater(id: number, owner: string, nextAttemptAt: Date, error: string): Promise<void>;
  /** Moves the lease of claims `owner` still holds to `leaseUntil` (a heartbeat while handlers run). */
  extendLease(ids: readonly number[], owner: string, leaseUntil: Date): Promise<void>;
}

/** Inbound activity de-duplication: Teams may deliver the same activity twice. */
export interface InboxStore {
  /** True the first time an id is seen, false afterwards. */
  firstSeen(activityId: string, at: Date): Promise<boolean>;
}

/** One-time links that record the address of the machine that opens them. Only a hash of the token is kept. */
export interface SourceLink {
  readonly tokenHash: string;
  readonly requestId: string;
  readonly userId: string;
  readonly expiresAt: Date;
}

export type SourceLinkClaim =
  | { readonly ok: true; readonly requestId: string; readonly userId: string }
  | { readonly ok: false; readonly reason: "unknown" | "used" | "expired" };

export interface SourceLinkStore {
  create(link: SourceLink): Promise<void>;
  /** The link as stored, without using it; undefined for an unknown token. */
  peek(tokenHash: string): Promise<(SourceLink & { readonly usedAt?: Date }) | undefined>;
  /** Uses the link at `now` for `address` if it is unused and unexpired: exactly one caller ever wins. */
  claim(tokenHash: string, now: Date, address: string): Promise<SourceLinkClaim>;
}

export interface Store {
  readonly requests: RequestStore;
  readonly audit: AuditLog;
  readonly conversations: ConversationStore;
  readonly timers: TimerStore;
  readonly inbox: InboxStore;
  readonly sourceLinks: SourceLinkStore;
  /** Cheap round trip for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
