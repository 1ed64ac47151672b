/**
 * The approval card and the break-glass card as pure functions of a request's state (STYLE.md,
 * "Cards"): the templates in cards/approval.json and cards/break-glass.json hold the layout, this
 * module turns a request into the flat strings they bind. Formatting (durations, UTC times,
 * sentences) happens here so the template's expressions stay plain paths and booleans. No clock,
 * no random ids: the same request and context always give the same JSON, so every copy of the
 * card can be replaced with an identical one.
 *
 * User text is safe in two ways:
 * - Template expressions: adaptivecards-templating parses `${…}` only in the template itself
 *   (Template.prepare runs once per file in cards/); values from the data object are
 *   returned as they are and never parsed, so a reason of `${$root.requester.upn}` stays literal.
 *   Every bound field is defined (undefined ones would come back as the literal `${path}`).
 * - Markdown: Teams renders markdown in TextBlock and FactSet values, so a reason could smuggle in
 *   a link. Every user- or Azure-supplied string is bound into a RichTextBlock TextRun, which is
 *   plain text by definition.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import {
  type AccessRequest,
  approvals,
  type Decision,
  deciderOf,
  endedByPerson,
  isOpen,
  type MappedPort,
  type Review,
  reviewerOf,
  withdrawalReason,
} from "../domain/access-request.ts";
import { formatDuration } from "../domain/duration.ts";
import { personName, samePerson } from "../domain/person.ts";

export const CARD_VERBS = {
  approve: "portcullis.approve",
  deny: "portcullis.deny",
  acknowledge: "portcullis.review.acknowledge",
  flag: "portcullis.review.flag",
} as const;

export interface ApprovalCardContext {
  /** The tightest policy/rules limit for this request. */
  readonly maxDurationMs: number;
  readonly riskFlags: readonly { readonly code: string; readonly message: string }[];
}

// adaptivecards-templating (CommonJS) is loaded untyped on purpose: its typings import
// "adaptivecards/src/schema", a .ts source that tsc then compiles under our strict flags and
// rejects (skipLibCheck covers .d.ts only). This is the whole surface we use.
interface CardTemplate {
  expand(context: { $root: unknown }): unknown;
}
const { Template } = createRequire(import.meta.url)("adaptivecards-templating") as {
  Template: new (payload: unknown) => CardTemplate;
};

const template = loadTemplate("approval.json");
const breakGlassTemplate = loadTemplate("break-glass.json");
const windowTemplate = loadTemplate("window.json");

function loadTemplate(file: string): CardTemplate {
  return new Template(
    JSON.parse(readFileSync(new URL(`../../cards/${file}`, import.meta.url), "utf8")) as unknown,
  );
}

export function approvalCard(request: AccessRequest, context: ApprovalCardContext): Record<string, unknown> {
  const pending = request.state === "pending";
  // Every action carries `$when: pending`; a decided card has no actions at all, not an empty list.
  return expand(template, cardData(request, context, pending));
}

function expand(cardTemplate: CardTemplate, data: unknown): Record<string, unknown> {
  const card = cardTemplate.expand({ $root: data }) as Record<string, unknown>;
  if (Array.isArray(card.actions) && card.actions.length === 0) delete card.actions;
  return card;
}

/** "R-17: Alice Example asks for web-01 port 22 for 2 h — Waiting for approval (0 of 1)". */
export function approvalCardSummary(request: AccessRequest): string {
  const targets = request.targets.map((target) => `${target.vmName} ${portList(target.ports)}`).join(", ");
  return `${request.id}: ${request.requester.name} asks for ${targets} for ${formatDuration(request.durationMs)} — ${outcome(request).headline}`;
}

// ------------------------------------------------------------------ an open window

/**
 * The requester's card for an open window: the pre-expiry warning with Extend (+30 min, +1 h) and
 * Done, or — once it closed or was extended — the same card without buttons saying so.
 * Pure: the end time comes from the request, never from a clock.
 */
export function windowCard(request: AccessRequest): Record<string, unknown> {
  const open = request.state === "active" && request.grant !== undefined;
  const what = request.targets.map((target) => `${target.vmName} ${portList(target.ports)}`).join(", ");
  const end = request.grant ? utc(request.grant.endTimeUtc) : "";
  const headline = open ? `${what} closes at ${end}` : `${what}: ${outcome(request).headline}`;
  const detail = open
    ? `Open for ${request.source?.prefix ?? "your address"}. Extend it, or close it now if you are done. Sessions already open are not cut when it closes — log out.`
    : request.continuedAs
      ? `It carries on as ${request.continuedAs}; that window's card has the new end.`
      : "Nothing to do here any more.";
  return expand(windowTemplate, { id: request.id, headline, detail, open });
}

export const WINDOW_VERBS = { extend: "portcullis.extend", done: "portcullis.done" } as const;

// ------------------------------------------------------------------ break-glass

/**
 * One card for a break-glass grant (issue 5): the broadcast to the security channel and the VM's
 * approvers, and the review they owe. Acknowledge / Flag (with the `flagNote` input) show only
 * while the review is "required" — also after the window closed, because the review is owed
 * regardless; a request without a review gets no review section and no actions.
 */
export function breakGlassCard(request: AccessRequest): Record<string, unknown> {
  return expand(breakGlassTemplate, breakGlassData(request));
}

/** "BREAK-GLASS R-17: Sam Engineer on web-01 port 22, incident INC-9 — Active — open until … — Review owed by …". */
export function breakGlassCardSummary(request: AccessRequest): string {
  const targets = request.targets.map((target) => `${target.vmName} ${portList(target.ports)}`).join(", ");
  const incident = request.incident?.trim() ? `, incident ${request.incident}` : "";
  const review = request.review ? ` — ${reviewText(request.review).headline}` : "";
  return `BREAK-GLASS ${request.id}: ${request.requester.name} on ${targets}${incident} — ${breakGlassOutcome(request).headline}${review}`;
}

function breakGlassData(request: AccessRequest) {
  const result = breakGlassOutcome(request);
  const review = request.review ? reviewText(request.review) : undefined;
  const until = untilText(request);
  return {
    id: request.id,
    verbs: CARD_VERBS,
    outcome: { ...result, hasDetail: result.detail !== "" },
    requester: requesterData(request),
    targetsLabel: request.targets.length === 1 ? "VM" : "VMs",
    targets: targetsData(request),
    source: sourceData(request),
    until: {
      text: until.text,
      weight: until.loud ? "Bolder" : "Default",
      color: until.loud ? "Attention" : "Default",
    },
    incident: textOr(request.incident, "no incident given"),
    reason: textOr(request.reason, "no reason given"),
    review: review
      ? {
          present: true,
          required: request.review?.state === "required",
          style: review.style,
          headline: review.headline,
          detail: review.detail,
          hasDetail: review.detail !== "",
        }
      : { present: false, required: false, style: "default", headline: "", detail: "", hasDetail: false },
  };
}

/** The approval card's outcome for what break-glass shares; no approval step to wait for. */
function breakGlassOutcome(request: AccessRequest): Outcome {
  switch (request.state) {
    case "pending":
    case "approved":
    case "scheduled":
      return {
        headline: "Opening — granted at once, waiting for Azure",
        detail: "",
        style: "warning",
      };
    default:
      return outcome(request);
  }
}

function untilText(request: AccessRequest): { text: string; loud: boolean } {
  if (request.state === "failed") {
    return { text: `NOT opened: ${request.failure?.message ?? "Azure refused the request."}`, loud: true };
  }
  if (request.grant) {
    const end = utc(request.grant.endTimeUtc);
    return {
      text:
        request.state === "revoked" && request.endedAt
          ? `${end} (closed early at ${utc(request.endedAt)})`
          : end,
      loud: false,
    };
  }
  return { text: isOpen(request) ? "opening…" : "never opened", loud: false };
}

function reviewText(review: Review): Outcome {
  const at = review.at === undefined ? "" : ` at ${utc(review.at)}`;
  switch (review.state) {
    case "required":
      return {
        headline: `Review owed by ${utc(review.dueAt)}: an approver must acknowledge or flag`,
        detail:
          "Acknowledge if this access was justified; Flag, with a note, if something was wrong. If nobody reviews it in time, it is escalated to the security channel.",
        style: "warning",
      };
    case "acknowledged":
      return { headline: `Reviewed: acknowledged by ${reviewer(review)}${at}`, detail: "", style: "good" };
    case "flagged":
      return {
        headline: `Flagged by ${reviewer(review)}${at}: ${review.note?.trim() ? review.note : "no note given"}`,
        detail: "",
        style: "attention",
      };
    case "escalated":
      return {
        headline: `Review overdue — escalated to the security channel${at}`,
        detail: `It was due by ${utc(review.dueAt)}.`,
        style: "attention",
      };
  }
}

function reviewer(review: Review): string {
  return personName(reviewerOf(review), "an approver");
}

function textOr(value: string | undefined, missing: string): { text: string; missing: boolean } {
  return value !== undefined && value.trim() !== ""
    ? { text: value, missing: false }
    : { text: missing, missing: true };
}

// ------------------------------------------------------------------ binding data

function cardData(request: AccessRequest, context: ApprovalCardContext, pending: boolean) {
  const result = outcome(request);
  const approved = approvals(request);
  return {
    id: request.id,
    subtitle: request.extends
      ? `Extension of ${request.extends}: just-in-time VM access`
      : "Just-in-time VM access request",
    asked: utc(request.createdAt),
    extension: extensionData(request),
    pending,
    verbs: CARD_VERBS,
    outcome: { ...result, hasDetail: result.detail !== "" },
    hasRiskFlags: context.riskFlags.length > 0,
    riskFlags: context.riskFlags.map((flag) => ({ code: flag.code, message: flag.message })),
    requester: requesterData(request),
    targetsLabel: request.targets.length === 1 ? "VM" : "VMs",
    targets: targetsData(request),
    source: sourceData(request),
    duration: durationText(request),
    ends: endsText(request),
    reason:
      request.reason !== undefined && request.reason.trim() !== ""
        ? { text: request.reason, missing: false }
        : { text: "no reason given", missing: true },
    limit: `${formatDuration(context.maxDurationMs)} at most (policy and rules)`,
    approvals: {
      text: `${approved.length} of ${request.approval.required}${approved.length > 0 ? ` — ${approved.map(byAt).join("; ")}` : ""}`,
      hasNote: request.approval.note !== undefined && request.approval.note !== "",
      note: request.approval.note ?? "",
    },
  };
}

/** "R-2, open until 2026-11-24 10:00 UTC" — which window an extension continues, as it stood when asked. */
function extensionData(request: AccessRequest) {
  if (!request.extends) return { present: false, text: "" };
  const from = request.extension ? `, open until ${utc(request.extension.from)} when this was asked` : "";
  return { present: true, text: `${request.extends}${from}` };
}

/** An extension asks for more time on top of an open window: say how much, not a duration from approval. */
function durationText(request: AccessRequest): string {
  const extension = request.extension;
  if (!extension) return formatDuration(request.durationMs);
  const more = Date.parse(extension.until) - Date.parse(extension.from);
  return `${formatDuration(more)} more than ${request.extends ?? "the open window"}, to ${utc(extension.until)}`;
}

function requesterData(request: AccessRequest) {
  return {
    name: request.requester.name,
    hasUpn: request.requester.upn !== undefined,
    upn: request.requester.upn === undefined ? "" : ` (${request.requester.upn})`,
  };
}

function sourceData(request: AccessRequest) {
  return request.source
    ? {
        address: request.source.prefix,
        origin:
          request.source.origin === "typed"
            ? " — typed with “from” by the requester"
            : " — recorded by the one-time link on the requester's machine",
      }
    : { address: "not known yet", origin: " — waiting for the requester to open the one-time link" };
}

function targetsData(request: AccessRequest) {
  return request.targets.map((target) => ({
    vm: target.vmName,
    resourceGroup: target.resourceGroup,
    ports: targetPorts(target, request.grant?.mappedPorts ?? []),
  }));
}

type OutcomeStyle = "accent" | "good" | "attention" | "warning" | "emphasis";

interface Outcome {
  readonly headline: string;
  readonly detail: string;
  readonly style: OutcomeStyle;
}

/** The state in one line, with who and when; the only part of the card that differs per state. */
function outcome(request: AccessRequest): Outcome {
  const approved = approvals(request);
  const approvedBy = approved.length > 0 ? `Approved by ${approved.map(byAt).join("; ")}.` : "";
  const endedAt = request.endedAt === undefined ? "" : ` at ${utc(request.endedAt)}`;
  switch (request.state) {
    case "awaiting_source":
      return {
        headline: "Waiting for the requester's address",
        detail: "Nothing to decide yet: the address comes from the requester's one-time link.",
        style: "emphasis",
      };
    case "pending": {
      const missing = request.approval.required - approved.length;
      const opens = request.extension
        ? `Approving keeps exactly what is listed below open, for the source address only, until ${utc(request.extension.until)} instead of ${request.extends ?? "the open window"}'s end at ${utc(request.extension.from)}.`
        : "Approving opens exactly what is listed below, for the source address only.";
      return {
        headline: `Waiting for approval (${approved.length} of ${request.approval.required})`,
        detail: `${opens} ${missing} more approval${missing === 1 ? "" : "s"} needed; one denial ends the request.`,
        style: "accent",
      };
    }
    case "scheduled":
      return {
        headline: request.startAt
          ? `Scheduled — approved, opens at ${utc(request.startAt)}`
          : "Scheduled — approved",
        detail: `${approvedBy} The requester can still withdraw it before then.`.trim(),
        style: "good",
      };
    case "approved":
      return { headline: "Approved (waiting to open)", detail: approvedBy, style: "good" };
    case "active":
      return {
        headline: request.grant ? `Active — open until ${utc(request.grant.endTimeUtc)}` : "Active",
        detail: approvedBy,
        style: "good",
      };
    case "denied": {
      const denial = request.decisions.find((decision) => decision.kind === "deny");
      return {
        headline: denial ? `Denied by ${byAt(denial)}` : `Denied${endedAt}`,
        detail: denial?.reason ? `Reason: ${denial.reason}` : "",
        style: "attention",
      };
    }
    case "failed":
      return {
        headline: `Failed: ${request.failure?.message ?? "Azure refused the request."}`,
        detail: approvedBy,
        style: "attention",
      };
    case "timed_out":
      return {
        headline: "Timed out — nobody decided in time",
        detail: request.endedAt ? `Closed at ${utc(request.endedAt)}.` : "",
        style: "warning",
      };
    case "cancelled":
      if (request.withdrawal) {
        return {
          headline: `Withdrawn — ${withdrawalReason(request.withdrawal, utc)}`,
          detail: `Nothing was opened for ${request.id}; a decision now changes nothing.`,
          style: "warning",
        };
      }
      return {
        headline: `Cancelled by the requester${endedAt}`,
        detail: "",
        style: "warning",
      };
    case "expired":
      return {
        headline: request.endedAt ? `Expired — closed at ${utc(request.endedAt)}` : "Expired",
        detail: approvedBy,
        style: "emphasis",
      };
    case "revoked":
      if (request.continuedAs) {
        return {
          headline: `Continued as ${request.continuedAs}${endedAt}`,
          detail:
            `An approved extension took over this window; ${request.continuedAs} carries the new end. ${approvedBy}`.trim(),
          style: "emphasis",
        };
      }
      return {
        headline: `Revoked — closed early by ${enderName(request)}${endedAt}`,
        detail: approvedBy,
        style: "emphasis",
      };
  }
}

function endsText(request: AccessRequest): string {
  const duration = formatDuration(request.durationMs);
  if (request.grant) {
    const end = utc(request.grant.endTimeUtc);
    if (request.continuedAs && request.endedAt)
      return `${utc(request.endedAt)}, continued as ${request.continuedAs} (it was to end ${end})`;
    return request.state === "revoked" && request.endedAt
      ? `${end} (closed early at ${utc(request.endedAt)})`
      : end;
  }
  if (request.extension && isOpen(request)) {
    // An extension ends at a fixed instant, whenever it is approved.
    return utc(request.extension.until);
  }
  if (request.startAt && ["awaiting_source", "pending", "approved", "scheduled"].includes(request.state)) {
    // A future window: it opens at its start, not at the decision.
    const end = new Date(Date.parse(request.startAt) + request.durationMs).toISOString();
    return `opens ${utc(request.startAt)}, ends ${utc(end)}`;
  }
  switch (request.state) {
    case "awaiting_source":
    case "pending":
      return `${duration} after approval`;
    case "approved":
    case "scheduled":
      return `${duration} after it opens`;
    default:
      return "never opened";
  }
}

/** A firewall-fronted VM's ports with the firewall address, and the firewall port once the grant reports it. */
function targetPorts(target: AccessRequest["targets"][number], mapped: readonly MappedPort[]): string {
  const label = target.ports.length === 1 ? "Port" : "Ports";
  if (!target.viaFirewall || target.connectAddress === undefined)
    return `${label} ${target.ports.join(", ")}`;
  const forwards = target.ports.map((port) => {
    const via = mapped.find(
      (entry) => entry.port === port && entry.vmId.toLowerCase() === target.vmId.toLowerCase(),
    );
    return via
      ? `${port} via firewall ${target.connectAddress}:${via.mappedPort}`
      : `${port} via firewall ${target.connectAddress}`;
  });
  return `${label} ${forwards.join(", ")}`;
}

function portList(ports: readonly number[]): string {
  return `${ports.length === 1 ? "port" : "ports"} ${ports.join(", ")}`;
}

function byAt(decision: Decision): string {
  return `${personName(deciderOf(decision))} at ${utc(decision.at)}`;
}

/** Who closed it: the requester by role and name, anyone else (or the bot) by personName. */
function enderName(request: AccessRequest): string {
  const ender = endedByPerson(request);
  if (ender?.id !== undefined && samePerson(ender, { id: request.requester.id }))
    return `the requester (${request.requester.name})`;
  return personName(ender);
}

/** "2026-11-23 14:05 UTC"; an unreadable instant is shown as it came. */
function utc(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const text = date.toISOString();
  return `${text.slice(0, 10)} ${text.slice(11, 16)} UTC`;
}
