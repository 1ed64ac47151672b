/**
 * The access request as a closed set of states and pure transitions (DESIGN.md, "The request,
 * as a state machine"). Every transition returns the next request and exactly one audit event,
 * or a coded refusal; nothing here reads a clock, a store or Azure.
 *
 *   awaiting_source ─provideSource→ pending ─approve×N→ approved ─markActive→ active ─expire→ expired
 *                                      │                   │                    ├─revoke→ revoked
 *                                      │                   │                    └─supersede→ revoked (continued as R-n)
 *                                      ├─deny→ denied       └─fail→ failed
 *   pending ─approve×N (start in the future)→ scheduled ─beginOpening→ approved (at its start)
 *   (awaiting_source | pending | scheduled) ─cancel→ cancelled, ─fail→ failed
 *   (awaiting_source | pending) ─timeout→ timed_out
 *   an extension not yet open ─withdraw→ cancelled, when the window it extends ends first.
 *
 * The request is JSON-safe (instants as ISO 8601 strings) because the store keeps it as JSON.
 */
import { ErrorCode } from "./errors.ts";
import { checkFreeText } from "./free-text.ts";
import { type PersonRef, personName, SYSTEM_ACTOR, samePerson } from "./person.ts";
import type { OsType } from "./vm.ts";

export { SYSTEM_ACTOR };

export type RequestState =
  | "awaiting_source"
  | "pending"
  | "scheduled"
  | "approved"
  | "active"
  | "expired"
  | "revoked"
  | "denied"
  | "cancelled"
  | "timed_out"
  | "failed";

/** States in which a request still holds (or may soon hold) its VM+port; one per user at a time. */
export const OPEN_STATES: readonly RequestState[] = [
  "awaiting_source",
  "pending",
  "scheduled",
  "approved",
  "active",
];
export const FINAL_STATES: readonly RequestState[] = [
  "expired",
  "revoked",
  "denied",
  "cancelled",
  "timed_out",
  "failed",
];

export interface Requester {
  /** Entra object id (`from.aadObjectId`). */
  readonly id: string;
  readonly upn?: string;
  readonly name: string;
}

/** Whoever acts: an approver clicking, the requester typing `done`. */
export interface Actor {
  readonly id: string;
  readonly upn?: string;
  readonly name?: string;
}

export interface Target {
  readonly vmId: string;
  readonly vmName: string;
  /** The JIT policy's resource group and location (Defender keeps it in the VM's own resource group). */
  readonly resourceGroup: string;
  readonly location: string;
  readonly policyName: string;
  readonly ports: readonly number[];
  readonly osType: OsType | "Unknown";
  /** What users connect to: the firewall's public IP for a firewall-fronted VM, else the VM's address. */
  readonly connectAddress?: string;
  /** The policy names a firewall public IP: users connect through its DNAT, on the port each grant reports. */
  readonly viaFirewall?: boolean;
}

/** The firewall port Azure reported for one VM port of a grant (initiate response or history entry). */
export interface MappedPort {
  readonly vmId: string;
  readonly port: number;
  readonly mappedPort: number;
}

export interface RequestSource {
  /** Canonical form (address.ts): bare address for one host, CIDR otherwise; sent to Azure as is. */
  readonly prefix: string;
  /** "typed": `from …` in the command; "link": recorded by the one-time IP link. */
  readonly origin: "typed" | "link";
}

export interface Decision {
  readonly byId: string;
  readonly byUpn?: string;
  readonly byName?: string;
  readonly kind: "approve" | "deny";
  /** ISO 8601. */
  readonly at: string;
  readonly reason?: string;
}

export interface Grant {
  readonly initiatedAt: string;
  readonly endTimeUtc: string;
  readonly justification: string;
  /** Firewall-fronted targets: the DNAT port per VM port, as Azure reported it for this grant. */
  readonly mappedPorts?: readonly MappedPort[];
}

export interface AccessRequest {
  readonly id: string;
  readonly state: RequestState;
  readonly requester: Requester;
  readonly targets: readonly Target[];
  readonly source?: RequestSource;
  readonly durationMs: number;
  readonly reason?: string;
  readonly createdAt: string;
  readonly approval: {
    /** Lower-cased UPNs / object ids, the requester already removed (rules.ts). */
    readonly approvers: readonly string[];
    readonly required: number;
    readonly note?: string;
  };
  readonly decisions: readonly Decision[];
  readonly grant?: Grant;
  readonly failure?: { readonly code: string; readonly message: string };
  /** When the request reached a final state, and who moved it there. */
  readonly endedAt?: string;
  /** Actor id; SYSTEM_ACTOR when nobody clicked. */
  readonly endedBy?: string;
  /** The ender's UPN and display name, so nobody reads an object id (absent in older records: see endedByPerson). */
  readonly endedByUpn?: string;
  readonly endedByName?: string;
  /** "break_glass": on-call access granted at once, with a review owed afterwards (break-glass.ts). */
  readonly kind?: "normal" | "break_glass";
  /** Break-glass only: the incident reference, e.g. "INC-9". */
  readonly incident?: string;
  /** An extension that needed approval: the active request it continues, once granted. */
  readonly extends?: string;
  /**
   * Extension only (ISO 8601): the continued window's end when the extension was asked, and the
   * new end asked for — a fixed instant, not a duration counted from the approval.
   */
  readonly extension?: { readonly from: string; readonly until: string };
  /** A window an approved extension superseded: the request that carries it on. */
  readonly continuedAs?: string;
  /** An extension withdrawn because the window it extends ended first. */
  readonly withdrawal?: Withdrawal;
  /** A future window (`at 02:00`): approved ahead, opened at this ISO 8601 instant. */
  readonly startAt?: string;
  /** ISO 8601: when an undecided request times out; bounds the window it could hold (admission.ts). */
  readonly decideBy?: string;
  /** Break-glass only: the review an approver owes. */
  readonly review?: Review;
}

/** Why an extension was withdrawn: the window it extends ended, how, by whom, when. */
export interface Withdrawal {
  /** The extended request. */
  readonly because: string;
  readonly endedState: RequestState;
  /** Who ended it, as people read it; absent when nobody did (it expired). */
  readonly endedBy?: string;
  /** ISO 8601. */
  readonly at: string;
}

export interface Review {
  readonly state: "required" | "acknowledged" | "flagged" | "escalated";
  /** ISO 8601: when the review is due. */
  readonly dueAt: string;
  readonly byId?: string;
  readonly byUpn?: string;
  readonly byName?: string;
  readonly at?: string;
  /** Flag only: what the reviewer found wrong. */
  readonly note?: string;
}

export type RequestEventType =
  | "request.created"
  | "request.source_provided"
  | "request.approval_recorded"
  | "request.approved"
  | "request.denied"
  | "request.activated"
  | "request.failed"
  | "request.cancelled"
  | "request.timed_out"
  | "request.expired"
  | "request.break_glass"
  | "request.extended"
  | "request.opening"
  | "request.withdrawn"
  | "request.superseded"
  | "review.acknowledged"
  | "review.flagged"
  | "review.escalated"
  | "request.revoked";

/** Shaped like the store's AuditEvent so the app can append it as is. */
export interface RequestEvent {
  readonly type: RequestEventType;
  readonly at: Date;
  readonly actorId: string;
  readonly requestId: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

export type TransitionErrorCode =
  | typeof ErrorCode.IllegalTransition
  | typeof ErrorCode.AlreadyDecided
  | typeof ErrorCode.AlreadyVoted
  | typeof ErrorCode.SelfApproval
  | typeof ErrorCode.NotApprover
  | typeof ErrorCode.NotRequester
  | typeof ErrorCode.ReasonRequired
  | typeof ErrorCode.ReasonTooLong;

export interface TransitionError {
  readonly code: TransitionErrorCode;
  /** A sentence for the person who tried. */
  readonly message: string;
  readonly state: RequestState;
  /** For already_decided: the decisions that settled it, first first. */
  readonly decisions?: readonly Decision[];
}

export type Transition =
  | { readonly ok: true; readonly request: AccessRequest; readonly event: RequestEvent }
  | { readonly ok: false; readonly error: TransitionError };

// ------------------------------------------------------------------ creation

export interface NewRequest {
  readonly id: string;
  readonly requester: Requester;
  readonly targets: readonly Target[];
  readonly source?: RequestSource;
  readonly durationMs: number;
  readonly reason?: string;
  readonly approval: AccessRequest["approval"];
  readonly startAt?: string;
  readonly decideBy?: string;
}

/** A checked request (see request-check.ts) enters as `pending`, or `awaiting_source` without an address. */
export function createRequest(input: NewRequest, at: Date): { request: AccessRequest; event: RequestEvent } {
  const request: AccessRequest = {
    ...input,
    state: input.source === undefined ? "awaiting_source" : "pending",
    createdAt: at.toISOString(),
    decisions: [],
  };
  return {
    request,
    event: event("request.created", request, input.requester.id, at, {
      targets: request.targets.map((target) => ({ vmId: target.vmId, ports: target.ports })),
      source: request.source ?? null,
      durationMs: request.durationMs,
      reason: request.reason ?? null,
      approvers: request.approval.approvers,
      required: request.approval.required,
    }),
  };
}

// ------------------------------------------------------------------ transitions

/** The one-time link (or a later `from`) supplied the address; checks against the rules are the caller's. */
export function provideSource(
  request: AccessRequest,
  source: RequestSource,
  actor: Actor,
  at: Date,
): Transition {
  if (request.state !== "awaiting_source") {
    return illegal(request, `${request.id} is ${describeState(request)}; its address can no longer change.`);
  }
  if (!isRequester(request, actor)) {
    return refuse(
      request,
      ErrorCode.NotRequester,
      `Only ${request.requester.name} can give the address for ${request.id}.`,
    );
  }
  const next: AccessRequest = { ...request, state: "pending", source };
  return moved(next, event("request.source_provided", next, actor.id, at, { source }));
}

export interface DecisionOptions {
  /**
   * The approvers as re-read at click time (tag and rules may have changed since the card was
   * sent). When given, this list decides who may click, not the one stored with the request.
   */
  readonly currentApprovers?: readonly string[];
  /**
   * N as the rules say at click time. A request stored with a lower N (rules tightened since, or
   * written by a version that lowered N to fit) needs this many: N only ever goes up here.
   */
  readonly currentRequired?: number;
}

/** One approval. N approvals → approved; a non-pending request answers who decided first. */
export function approve(
  request: AccessRequest,
  actor: Actor,
  at: Date,
  options: DecisionOptions = {},
): Transition {
  const refused = refuseDecision(request, actor, options);
  if (refused) return refused;
  const required = Math.max(request.approval.required, options.currentRequired ?? 0);
  const earlier = request.decisions.find((decision) => sameActor(decision, actor));
  if (earlier) {
    const missing = required - approvals(request).length;
    return refuse(
      request,
      ErrorCode.AlreadyVoted,
      `You already approved ${request.id} at ${clockTime(earlier.at)}; it is waiting for ${missing} more approval${missing === 1 ? "" : "s"}.`,
    );
  }
  const decision: Decision = { ...decidedBy(actor), kind: "approve", at: at.toISOString() };
  const withDecision: AccessRequest = {
    ...request,
    approval: required === request.approval.required ? request.approval : { ...request.approval, required },
    decisions: [...request.decisions, decision],
  };
  const count = approvals(withDecision).length;
  if (count < required) {
    return moved(
      withDecision,
      event("request.approval_recorded", withDecision, actor.id, at, { approvals: count, required }),
    );
  }
  // A future window is approved ahead: it waits, withdrawable, until the grant timer opens it.
  const future = request.startAt !== undefined && Date.parse(request.startAt) > at.getTime();
  const next: AccessRequest = { ...withDecision, state: future ? "scheduled" : "approved" };
  return moved(
    next,
    event("request.approved", next, actor.id, at, {
      approvers: approvals(next).map((d) => d.byUpn ?? d.byId),
      required,
      ...(future ? { startAt: request.startAt } : {}),
    }),
  );
}

/**
 * A scheduled window's start came: it is opening now. From here `cancel` no longer withdraws it
 * (the initiate may be on its way); `done` closes it once open.
 */
export function beginOpening(request: AccessRequest, at: Date): Transition {
  if (request.state !== "scheduled") {
    return illegal(request, `${request.id} is ${describeState(request)}; only a scheduled window starts.`);
  }
  if (request.startAt !== undefined && Date.parse(request.startAt) > at.getTime()) {
    return illegal(request, `${request.id} opens at ${clockTime(request.startAt)}, not before.`);
  }
  const next: AccessRequest = { ...request, state: "approved" };
  return moved(next, event("request.opening", next, SYSTEM_ACTOR, at, { startAt: request.startAt ?? null }));
}

/** One denial ends the request; the requester is owed a reason. */
export function deny(
  request: AccessRequest,
  actor: Actor,
  at: Date,
  reason: string,
  options: DecisionOptions = {},
): Transition {
  const refused = refuseDecision(request, actor, options);
  if (refused) return refused;
  const checked = checkFreeText(reason, "The deny reason");
  if (!checked.ok) {
    return checked.reason === "empty"
      ? refuse(
          request,
          ErrorCode.ReasonRequired,
          `Denying ${request.id} needs a reason, so ${request.requester.name} knows why.`,
        )
      : refuse(request, ErrorCode.ReasonTooLong, checked.message);
  }
  const trimmed = checked.text;
  const earlier = request.decisions.find((decision) => sameActor(decision, actor));
  if (earlier) {
    return refuse(
      request,
      ErrorCode.AlreadyVoted,
      `You already approved ${request.id} at ${clockTime(earlier.at)}; your first decision stands.`,
    );
  }
  const decision: Decision = { ...decidedBy(actor), kind: "deny", at: at.toISOString(), reason: trimmed };
  const next: AccessRequest = {
    ...request,
    state: "denied",
    decisions: [...request.decisions, decision],
    endedAt: at.toISOString(),
    ...endedBy(actor),
  };
  return moved(next, event("request.denied", next, actor.id, at, { reason: trimmed }));
}

/** A newer initiate moved the end of an active window (an extension within what was approved). */
export function extendGrant(request: AccessRequest, actor: Actor, endTimeUtc: Date, at: Date): Transition {
  if (request.state !== "active" || request.grant === undefined) {
    return illegal(request, `${request.id} is ${describeState(request)}; only open access can be extended.`);
  }
  if (!isRequester(request, actor)) {
    return refuse(
      request,
      ErrorCode.NotRequester,
      `Only ${request.requester.name}, who asked for ${request.id}, can extend it.`,
    );
  }
  const previous = request.grant.endTimeUtc;
  const next: AccessRequest = {
    ...request,
    grant: { ...request.grant, endTimeUtc: endTimeUtc.toISOString() },
  };
  return moved(
    next,
    event("request.extended", next, actor.id, at, { from: previous, to: endTimeUtc.toISOString() }),
  );
}

// ------------------------------------------------------------------ extensions beyond what was approved

export interface NewExtension {
  readonly id: string;
  /** The new end asked for; the extension opens until exactly then, whenever it is approved. */
  readonly until: Date;
  readonly approval: AccessRequest["approval"];
}

/**
 * `extend` past what was approved: a new request for the same VMs, ports and address that, once
 * granted, supersedes `original`'s window. It is asked now and ends at `until`.
 */
export function createExtension(
  original: AccessRequest,
  input: NewExtension,
  at: Date,
): { request: AccessRequest; event: RequestEvent } {
  const from = original.grant?.endTimeUtc ?? at.toISOString();
  const created = createRequest(
    {
      id: input.id,
      requester: original.requester,
      targets: original.targets,
      ...(original.source === undefined ? {} : { source: original.source }),
      durationMs: input.until.getTime() - at.getTime(),
      reason: `extends ${original.id}${original.reason ? `: ${original.reason}` : ""}`,
      approval: input.approval,
      // It must be decided before the window it would extend closes.
      decideBy: from,
    },
    at,
  );
  const request: AccessRequest = {
    ...created.request,
    extends: original.id,
    extension: { from, until: input.until.toISOString() },
  };
  return {
    request,
    event: {
      ...created.event,
      payload: { ...created.event.payload, extends: original.id, from, until: input.until.toISOString() },
    },
  };
}

/**
 * The window an extension would continue has ended (done, expiry, cancel, deny…) before the
 * extension opened: the extension is withdrawn, so no late approval can open the port again.
 */
export function withdraw(request: AccessRequest, ended: AccessRequest, at: Date): Transition {
  if (request.extends === undefined || request.extends !== ended.id) {
    return illegal(request, `${request.id} does not extend ${ended.id}.`);
  }
  if (!FINAL_STATES.includes(ended.state)) {
    return illegal(request, `${ended.id} is still ${describeState(ended)}; ${request.id} stands.`);
  }
  if (!["awaiting_source", "pending", "scheduled", "approved"].includes(request.state)) {
    return illegal(request, `${request.id} is already ${describeState(request)}.`);
  }
  const by = endedByText(ended);
  const withdrawal: Withdrawal = {
    because: ended.id,
    endedState: ended.state,
    ...(by === undefined ? {} : { endedBy: by }),
    at: ended.endedAt ?? at.toISOString(),
  };
  const next: AccessRequest = {
    ...request,
    state: "cancelled",
    withdrawal,
    endedAt: at.toISOString(),
    endedBy: SYSTEM_ACTOR,
  };
  return moved(
    next,
    event("request.withdrawn", next, SYSTEM_ACTOR, at, {
      from: request.state,
      because: ended.id,
      endedState: ended.state,
      endedBy: by ?? null,
      endedAt: withdrawal.at,
    }),
  );
}

/**
 * An approved extension's initiate superseded this window (Azure: NewerRequestInitiated). It ended
 * when that initiate was made, and carries on as the extension.
 */
export function supersede(request: AccessRequest, successor: AccessRequest): Transition {
  if (request.state !== "active" || request.grant === undefined) {
    return illegal(request, `${request.id} is ${describeState(request)}; only an open window is continued.`);
  }
  if (successor.extends !== request.id || successor.grant === undefined) {
    return illegal(request, `${successor.id} has not opened as an extension of ${request.id}.`);
  }
  const at = new Date(successor.grant.initiatedAt);
  const next: AccessRequest = {
    ...request,
    state: "revoked",
    continuedAs: successor.id,
    endedAt: at.toISOString(),
    endedBy: SYSTEM_ACTOR,
  };
  return moved(
    next,
    event("request.superseded", next, SYSTEM_ACTOR, at, {
      continuedAs: successor.id,
      endedAt: at.toISOString(),
      plannedEnd: request.grant.endTimeUtc,
      newEnd: successor.grant.endTimeUtc,
    }),
  );
}

/** The end the grant asks Azure for when it opens at `at`: an extension's fixed end, else the duration from now. */
export function plannedEndFor(request: AccessRequest, at: Date): Date {
  return request.extension ? new Date(request.extension.until) : new Date(at.getTime() + request.durationMs);
}

/** Azure accepted the initiate. */
export function markActive(request: AccessRequest, grant: Grant, at: Date): Transition {
  if (request.state !== "approved" && request.state !== "scheduled") {
    return illegal(request, `${request.id} is ${describeState(request)}, so it cannot become active.`);
  }
  const next: AccessRequest = { ...request, state: "active", grant };
  return moved(
    next,
    event("request.activated", next, SYSTEM_ACTOR, at, {
      endTimeUtc: grant.endTimeUtc,
      source: next.source?.prefix ?? null,
      targets: next.targets.map((target) => ({ vmId: target.vmId, ports: target.ports })),
      justification: grant.justification,
    }),
  );
}

/** Azure (or a re-check at execute time) refused; `message` is the sentence users read. */
export function fail(request: AccessRequest, code: string, message: string, at: Date): Transition {
  if (!["awaiting_source", "pending", "scheduled", "approved"].includes(request.state)) {
    return illegal(request, `${request.id} is ${describeState(request)}, so it cannot fail now.`);
  }
  const next: AccessRequest = {
    ...request,
    state: "failed",
    failure: { code, message },
    endedAt: at.toISOString(),
    endedBy: SYSTEM_ACTOR,
  };
  return moved(next, event("request.failed", next, SYSTEM_ACTOR, at, { code, message }));
}

/** The requester withdraws a request nobody has settled yet. */
export function cancel(request: AccessRequest, actor: Actor, at: Date): Transition {
  if (!isRequester(request, actor)) {
    return refuse(
      request,
      ErrorCode.NotRequester,
      `Only ${request.requester.name}, who asked for ${request.id}, can cancel it.`,
    );
  }
  if (request.state === "active") {
    return illegal(request, `${request.id} is already open; type \`done ${request.id}\` to close it.`);
  }
  if (request.state === "approved") {
    return illegal(
      request,
      `${request.id} is already approved and opening; type \`done ${request.id}\` to close it once it is open.`,
    );
  }
  if (!["awaiting_source", "pending", "scheduled"].includes(request.state)) {
    return illegal(request, `${request.id} is already ${describeState(request)}.`);
  }
  const next: AccessRequest = {
    ...request,
    state: "cancelled",
    endedAt: at.toISOString(),
    ...endedBy(actor),
  };
  return moved(next, event("request.cancelled", next, actor.id, at, { from: request.state }));
}

/** Nobody decided (or the address never came) within the approval timeout. */
export function timeout(
  request: AccessRequest,
  at: Date,
  options: { readonly onlyAwaitingSource?: boolean } = {},
): Transition {
  if (options.onlyAwaitingSource && request.state !== "awaiting_source") {
    return illegal(
      request,
      `${request.id} is ${describeState(request)}; its address link no longer matters.`,
    );
  }
  if (request.state !== "pending" && request.state !== "awaiting_source") {
    return illegal(
      request,
      `${request.id} is ${describeState(request)}; only an undecided request can time out.`,
    );
  }
  const next: AccessRequest = {
    ...request,
    state: "timed_out",
    endedAt: at.toISOString(),
    endedBy: SYSTEM_ACTOR,
  };
  return moved(
    next,
    event("request.timed_out", next, SYSTEM_ACTOR, at, {
      from: request.state,
      approvals: approvals(request).length,
    }),
  );
}

/** The end time passed. */
export function expire(request: AccessRequest, at: Date): Transition {
  if (request.state !== "active") {
    return illegal(request, `${request.id} is ${describeState(request)}; only active access expires.`);
  }
  const next: AccessRequest = {
    ...request,
    state: "expired",
    endedAt: at.toISOString(),
    endedBy: SYSTEM_ACTOR,
  };
  return moved(
    next,
    event("request.expired", next, SYSTEM_ACTOR, at, { endTimeUtc: request.grant?.endTimeUtc ?? null }),
  );
}

/**
 * Closed early: the requester's `done`, or an approver. `privileged` lets the app pass a
 * security admin's right, which this module cannot know.
 */
export function revoke(
  request: AccessRequest,
  actor: Actor,
  at: Date,
  options: { readonly reason?: string; readonly privileged?: boolean } = {},
): Transition {
  if (request.state !== "active") {
    return illegal(request, `${request.id} is ${describeState(request)}; only active access can be closed.`);
  }
  if (!isRequester(request, actor) && !isListed(request.approval.approvers, actor) && !options.privileged) {
    return refuse(
      request,
      ErrorCode.NotRequester,
      `Only ${request.requester.name} or an approver of ${request.id} can close it.`,
    );
  }
  const next: AccessRequest = {
    ...request,
    state: "revoked",
    endedAt: at.toISOString(),
    ...endedBy(actor),
  };
  return moved(
    next,
    event("request.revoked", next, actor.id, at, {
      by: isRequester(request, actor) ? "requester" : "approver",
      reason: options.reason ?? null,
    }),
  );
}

// ------------------------------------------------------------------ break-glass

export interface NewBreakGlass {
  readonly id: string;
  readonly requester: Requester;
  readonly targets: readonly Target[];
  readonly source?: RequestSource;
  readonly durationMs: number;
  readonly reason: string;
  readonly incident: string;
  /** Who owes the review (the VMs' approvers, requester removed). */
  readonly reviewers: readonly string[];
  readonly reviewDueAt: Date;
}

/**
 * On-call access: no approval first. It enters `approved` (or `awaiting_source` without an
 * address) so the normal grant path opens it, and it owes a review from the start.
 */
export function createBreakGlass(
  input: NewBreakGlass,
  at: Date,
): { request: AccessRequest; event: RequestEvent } {
  const request: AccessRequest = {
    id: input.id,
    kind: "break_glass",
    state: input.source === undefined ? "awaiting_source" : "approved",
    requester: input.requester,
    targets: input.targets,
    ...(input.source === undefined ? {} : { source: input.source }),
    durationMs: input.durationMs,
    reason: input.reason,
    incident: input.incident,
    createdAt: at.toISOString(),
    approval: { approvers: input.reviewers, required: 0 },
    decisions: [],
    review: { state: "required", dueAt: input.reviewDueAt.toISOString() },
  };
  return {
    request,
    event: event("request.break_glass", request, input.requester.id, at, {
      incident: input.incident,
      reason: input.reason,
      targets: request.targets.map((target) => ({ vmId: target.vmId, ports: target.ports })),
      source: request.source ?? null,
      durationMs: request.durationMs,
      reviewers: input.reviewers,
    }),
  };
}

/** A break-glass request whose address arrived by the link goes straight to `approved`. */
export function provideBreakGlassSource(
  request: AccessRequest,
  source: RequestSource,
  actor: Actor,
  at: Date,
): Transition {
  const moved_ = provideSource(request, source, actor, at);
  if (!moved_.ok || request.kind !== "break_glass") return moved_;
  const next: AccessRequest = { ...moved_.request, state: "approved" };
  return moved(next, { ...moved_.event, payload: { ...moved_.event.payload, state: "approved" } });
}

/** An approver looked at the break-glass and found it fine. */
export function acknowledgeReview(request: AccessRequest, actor: Actor, at: Date): Transition {
  return review(request, actor, at, "acknowledged");
}

/** An approver found something wrong; the note goes into the weekly evidence. */
export function flagReview(request: AccessRequest, actor: Actor, at: Date, note: string): Transition {
  const checked = checkFreeText(note, "The flag note");
  if (!checked.ok) {
    return checked.reason === "empty"
      ? refuse(
          request,
          ErrorCode.ReasonRequired,
          `Flagging ${request.id} needs a note saying what was wrong.`,
        )
      : refuse(request, ErrorCode.ReasonTooLong, checked.message);
  }
  return review(request, actor, at, "flagged", checked.text);
}

/** Nobody reviewed in time: the security channel takes it from here. */
export function escalateReview(request: AccessRequest, at: Date): Transition {
  if (request.review?.state !== "required") {
    return illegal(request, `${request.id} has no review outstanding.`);
  }
  const next: AccessRequest = {
    ...request,
    review: { ...request.review, state: "escalated", at: at.toISOString() },
  };
  return moved(next, event("review.escalated", next, SYSTEM_ACTOR, at, { dueAt: request.review.dueAt }));
}

function review(
  request: AccessRequest,
  actor: Actor,
  at: Date,
  state: "acknowledged" | "flagged",
  note?: string,
): Transition {
  const current = request.review;
  if (current === undefined)
    return illegal(request, `${request.id} is not a break-glass request; there is nothing to review.`);
  if (current.state === "acknowledged" || current.state === "flagged") {
    return {
      ok: false,
      error: {
        code: ErrorCode.AlreadyDecided,
        message: `${request.id} was already ${current.state} by ${personName(reviewerOf(current), "an approver")}${current.at ? ` at ${clockTime(current.at)}` : ""}.`,
        state: request.state,
      },
    };
  }
  if (isRequester(request, actor)) {
    return refuse(
      request,
      ErrorCode.SelfApproval,
      `You broke glass on ${request.id}, so you cannot review it; ${listApprovers(request.approval.approvers)} can.`,
    );
  }
  if (!isListed(request.approval.approvers, actor)) {
    return refuse(
      request,
      ErrorCode.NotApprover,
      `Only ${listApprovers(request.approval.approvers)} can review ${request.id}.`,
    );
  }
  const next: AccessRequest = {
    ...request,
    review: {
      ...current,
      state,
      byId: actor.id,
      ...(actor.upn === undefined ? {} : { byUpn: actor.upn.toLowerCase() }),
      ...(actor.name === undefined ? {} : { byName: actor.name }),
      at: at.toISOString(),
      ...(note === undefined ? {} : { note }),
    },
  };
  return moved(
    next,
    event(
      state === "acknowledged" ? "review.acknowledged" : "review.flagged",
      next,
      actor.id,
      at,
      note === undefined ? {} : { note },
    ),
  );
}

// ------------------------------------------------------------------ reading a request

/** Who decided, for personName. */
export function deciderOf(decision: Decision): PersonRef {
  return { id: decision.byId, upn: decision.byUpn, name: decision.byName };
}

/** Who reviewed a break-glass grant, for personName; undefined while nobody has. */
export function reviewerOf(review: Review): PersonRef | undefined {
  if (review.byId === undefined && review.byUpn === undefined && review.byName === undefined)
    return undefined;
  return { id: review.byId, upn: review.byUpn, name: review.byName };
}

/**
 * Who ended the request, for personName. Records written before the ender's name was kept carry
 * only an id: the requester, a decider or the reviewer with that id names them.
 */
export function endedByPerson(request: AccessRequest): PersonRef | undefined {
  if (request.endedBy === undefined) return undefined;
  const recorded: PersonRef = { id: request.endedBy, upn: request.endedByUpn, name: request.endedByName };
  if (request.endedBy === SYSTEM_ACTOR || recorded.upn !== undefined || recorded.name !== undefined)
    return recorded;
  const known: PersonRef[] = [
    request.requester,
    ...request.decisions.map(deciderOf),
    ...(request.review ? [reviewerOf(request.review) ?? {}] : []),
  ];
  return (
    known.find((person) => person.id !== undefined && samePerson(person, { id: request.endedBy })) ?? recorded
  );
}

export function isOpen(request: AccessRequest): boolean {
  return OPEN_STATES.includes(request.state);
}

export function approvals(request: AccessRequest): readonly Decision[] {
  return request.decisions.filter((decision) => decision.kind === "approve");
}

/** End time as initiated, or (before that) what it would be if approved at `at`. */
export function endTimeFor(request: AccessRequest, at: Date): Date {
  return request.grant ? new Date(request.grant.endTimeUtc) : new Date(at.getTime() + request.durationMs);
}

/**
 * "already approved by Bob Owner (bob@contoso.com) at 14:05 UTC" — the sentence every late click gets.
 * Times are UTC because the clicker's zone is not known here; the card shows local time.
 */
export function describeOutcome(request: AccessRequest): string {
  const approved = approvals(request);
  const denial = request.decisions.find((decision) => decision.kind === "deny");
  switch (request.state) {
    case "denied":
      return denial
        ? `${request.id} was already denied by ${who(denial)} at ${clockTime(denial.at)}${denial.reason ? `: ${denial.reason}` : ""}.`
        : `${request.id} was already denied.`;
    case "cancelled":
      if (request.withdrawal)
        return `${request.id} was withdrawn because ${withdrawalReason(request.withdrawal, clockTime)}.`;
      return `${request.id} was cancelled by ${request.requester.name}${request.endedAt ? ` at ${clockTime(request.endedAt)}` : ""}.`;
    case "timed_out":
      return `${request.id} timed out${request.endedAt ? ` at ${clockTime(request.endedAt)}` : ""} without a decision.`;
    default:
      break;
  }
  const byWhom =
    approved.length === 0
      ? ""
      : ` by ${approved.map((d) => `${who(d)} at ${clockTime(d.at)}`).join(" and ")}`;
  switch (request.state) {
    case "approved":
    case "active":
    case "scheduled":
      return `${request.id} was already approved${byWhom}.`;
    case "expired":
    case "revoked":
      if (request.continuedAs)
        return `${request.id} was approved${byWhom} and has since been continued as ${request.continuedAs}.`;
      return `${request.id} was approved${byWhom} and has since ${request.state === "expired" ? "expired" : "been closed"}.`;
    case "failed":
      return `${request.id} ${approved.length > 0 ? `was approved${byWhom} but ` : ""}failed: ${request.failure?.message ?? "Azure refused it"}.`;
    default:
      return `${request.id} is ${describeState(request)}.`;
  }
}

/** "R-2 was closed by Sam Engineer at 09:20 UTC"; `time` formats the instant for where it is read. */
export function withdrawalReason(withdrawal: Withdrawal, time: (iso: string) => string): string {
  const by = withdrawal.endedBy === undefined ? "" : ` by ${withdrawal.endedBy}`;
  const when = ` at ${time(withdrawal.at)}`;
  switch (withdrawal.endedState) {
    case "expired":
      return `${withdrawal.because} expired${when}`;
    case "revoked":
      return `${withdrawal.because} was closed${by}${when}`;
    case "timed_out":
      return `${withdrawal.because} timed out${when}`;
    default:
      return `${withdrawal.because} was ${withdrawal.endedState}${by}${when}`;
  }
}

/** Who moved a request to its final state, as people read it; undefined for the bot's own moves. */
export function endedByText(request: AccessRequest): string | undefined {
  const id = request.endedBy;
  if (id === undefined || id === SYSTEM_ACTOR) return undefined;
  if (sameId(id, request.requester.id)) return request.requester.name;
  const decision = request.decisions.find((d) => sameId(d.byId, id));
  return decision ? (decision.byName ?? decision.byUpn ?? id) : id;
}

function describeState(request: AccessRequest): string {
  switch (request.state) {
    case "awaiting_source":
      return "waiting for the requester's address";
    case "pending":
      return "waiting for approval";
    case "timed_out":
      return "timed out";
    default:
      return request.state;
  }
}

// ------------------------------------------------------------------ helpers

function refuseDecision(
  request: AccessRequest,
  actor: Actor,
  options: DecisionOptions,
): Transition | undefined {
  if (request.state === "awaiting_source") {
    return illegal(
      request,
      `${request.id} is still waiting for ${request.requester.name}'s address; there is nothing to decide yet.`,
    );
  }
  if (request.state !== "pending") {
    const settling = request.decisions.filter((decision) => decision.kind === "deny").slice(0, 1);
    return {
      ok: false,
      error: {
        code: ErrorCode.AlreadyDecided,
        message: describeOutcome(request),
        state: request.state,
        decisions: settling.length > 0 ? settling : approvals(request),
      },
    };
  }
  if (isRequester(request, actor)) {
    return refuse(
      request,
      ErrorCode.SelfApproval,
      `You asked for ${request.id}, so you cannot decide it; ${listApprovers(request.approval.approvers)} can.`,
    );
  }
  const allowed = options.currentApprovers ?? request.approval.approvers;
  if (!isListed(allowed, actor)) {
    return refuse(
      request,
      ErrorCode.NotApprover,
      `You are not an approver of ${request.id}; ${listApprovers(allowed)} can decide it.`,
    );
  }
  return undefined;
}

function isRequester(request: AccessRequest, actor: Actor): boolean {
  const requester = request.requester;
  return (
    sameId(requester.id, actor.id) ||
    (requester.upn !== undefined && actor.upn !== undefined && sameId(requester.upn, actor.upn))
  );
}

function isListed(approvers: readonly string[], actor: Actor): boolean {
  return approvers.some(
    (approver) => sameId(approver, actor.id) || (actor.upn !== undefined && sameId(approver, actor.upn)),
  );
}

function sameActor(decision: Decision, actor: Actor): boolean {
  return (
    sameId(decision.byId, actor.id) ||
    (decision.byUpn !== undefined && actor.upn !== undefined && sameId(decision.byUpn, actor.upn))
  );
}

function sameId(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

function decidedBy(actor: Actor): Pick<Decision, "byId" | "byUpn" | "byName"> {
  return {
    byId: actor.id,
    ...(actor.upn === undefined ? {} : { byUpn: actor.upn.toLowerCase() }),
    ...(actor.name === undefined ? {} : { byName: actor.name }),
  };
}

function who(decision: Decision): string {
  return personName(deciderOf(decision));
}

function endedBy(actor: Actor): Pick<AccessRequest, "endedBy" | "endedByUpn" | "endedByName"> {
  return {
    endedBy: actor.id,
    ...(actor.upn === undefined ? {} : { endedByUpn: actor.upn.toLowerCase() }),
    ...(actor.name === undefined ? {} : { endedByName: actor.name }),
  };
}

function listApprovers(approvers: readonly string[]): string {
  if (approvers.length === 0) return "nobody listed";
  return approvers.length === 1
    ? (approvers[0] ?? "")
    : `${approvers.slice(0, -1).join(", ")} or ${approvers.at(-1)}`;
}

/** "14:05 UTC" from an ISO instant. */
function clockTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(11, 16)} UTC`;
}

function event(
  type: RequestEventType,
  request: AccessRequest,
  actorId: string,
  at: Date,
  payload: Readonly<Record<string, unknown>>,
): RequestEvent {
  return { type, at, actorId, requestId: request.id, payload: { state: request.state, ...payload } };
}

function moved(request: AccessRequest, ev: RequestEvent): Transition {
  return { ok: true, request, event: ev };
}

function illegal(request: AccessRequest, message: string): Transition {
  return refuse(request, ErrorCode.IllegalTransition, message);
}

function refuse(request: AccessRequest, code: TransitionErrorCode, message: string): Transition {
  return { ok: false, error: { code, message, state: request.state } };
}
