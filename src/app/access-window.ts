/**
 * The life of an open window, driven by durable timers: a warning before the end, a notice at the
 * end, and a check afterwards that Azure really closed the port — plus `done` to close it early.
 * JIT has no revoke API; `done` closes by a newer initiate for the same VM, port and address that
 * ends a minute from now (see README "Ending access early").
 */
import { type AccessRequest, expire } from "../domain/access-request.ts";
import { formatDuration, utcText } from "../domain/duration.ts";
import { asPortcullisError, ErrorCode, type PortcullisError } from "../domain/errors.ts";
import { isOwnEntry } from "../domain/history-match.ts";
import { inboundAccess } from "../domain/inbound-access.ts";
import { type InitiateTag, justificationFor } from "../domain/justification.ts";
import { recipientOf, replaceCards, tellApprovers, tellRequester } from "./approval-delivery.ts";
import { type ChatText, code, joinChat, md } from "./chat-text.ts";
import type { AppContext, ChatUser } from "./context.ts";
import { withdrawExtensionsOf, withdrawnSentence } from "./extension-withdrawal.ts";
import { cancelRequest } from "./my-requests.ts";
import type { ClaimedTimer } from "./ports.ts";
import {
  commit,
  loadRecord,
  nonceOf,
  type RequestRecord,
  type StoredRecord,
  updateRecord,
  windowCardsOf,
} from "./request-record.ts";
import { scheduleWindowCheck } from "./superseded.ts";
import { scheduleTimer, TimerKind } from "./timer-kinds.ts";
import { CLOSE_AHEAD_MS, changeWindow } from "./window-change.ts";

/** After a grant (or an extension): warning, expiry and closure check, keyed per request. */
export async function scheduleWindowTimers(ctx: AppContext, request: AccessRequest): Promise<void> {
  if (!request.grant) return;
  const end = new Date(request.grant.endTimeUtc);
  const warnAt = end.getTime() - ctx.settings.preExpiryWarningMs;
  if (warnAt > ctx.clock.now().getTime())
    await scheduleTimer(ctx, TimerKind.PreExpiryWarning, request.id, new Date(warnAt));
  await scheduleTimer(ctx, TimerKind.Expiry, request.id, end);
  await scheduleWindowCheck(ctx, request);
  await scheduleTimer(
    ctx,
    TimerKind.ClosureCheck,
    request.id,
    new Date(end.getTime() + ctx.settings.closureCheckDelayMs),
  );
}

/**
 * The warning is one message: the window card (end time, Extend, Done), no separate text saying the
 * same again — a connector that splits text and card into two activities answers without an id, so
 * the card could not be replaced later and the text went out a second time. Once per end time: a
 * retried or re-armed timer does not warn again about an end it already warned about.
 */
export async function warnBeforeExpiry(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const stored = await loadRecord(ctx, String(timer.payload.requestId));
  const request = stored?.data.request;
  if (!stored || request?.state !== "active" || !request.grant) return;
  if (stored.data.warnedFor === request.grant.endTimeUtc) return;
  const end = new Date(request.grant.endTimeUtc);
  const left = end.getTime() - ctx.clock.now().getTime();
  if (left <= 0) return;
  const { requester } = request;
  const handle = await ctx.notifier.toUser(
    { userId: requester.id, ...(requester.upn ? { upn: requester.upn } : {}) },
    { kind: "window", request },
  );
  if (!handle) {
    // No 1:1 chat to put a card in: say it in words where they asked.
    const text = md`${request.id}: ${windowWords(request)} closes in ${formatDuration(left)}, at ${utcText(end)}. Extend it (${code(`extend ${request.id} 30m`)}) or, if you are finished, ${code(`done ${request.id}`)}.`;
    await tellRequester(ctx, stored.data, text);
  }
  const written = await updateRecord(ctx, request.id, (current) => ({
    ...current,
    warnedFor: request.grant?.endTimeUtc ?? "",
    ...(handle ? { windowCards: [...windowCardsOf(current), handle] } : {}),
  }));
  // The window moved on (done, expiry, an extension) while the card was on its way: bring it up to date.
  const now = written?.data.request;
  if (written && handle && (now?.state !== "active" || now.grant?.endTimeUtc !== request.grant.endTimeUtc))
    await replaceCards(ctx, written.data);
}

export async function expireWindow(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const requestId = String(timer.payload.requestId);
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await loadRecord(ctx, requestId);
    const request = stored?.data.request;
    // An earlier attempt recorded the expiry and died before telling anyone: finish that (at least once).
    if (
      timer.attempts > 1 &&
      stored &&
      request?.state === "expired" &&
      request.endedBy === "portcullis" &&
      request.grant
    ) {
      return announceExpiry(ctx, stored.data, new Date(request.grant.endTimeUtc));
    }
    if (!stored || request?.state !== "active" || !request.grant) return;
    const end = new Date(request.grant.endTimeUtc);
    // The end moved (an extension) after this timer was claimed: fire at the new end instead.
    if (end.getTime() > ctx.clock.now().getTime() + 1000)
      return scheduleTimer(ctx, TimerKind.Expiry, requestId, end);
    const moved = expire(request, ctx.clock.now());
    if (!moved.ok) return;
    const next: RequestRecord = {
      ...stored.data,
      request: moved.request,
      closure: { expectedAt: end.toISOString() },
    };
    if (!(await commit(ctx, stored, next, moved.event))) continue;
    return announceExpiry(ctx, next, end);
  }
  throw new Error(`${requestId} kept changing while expiring`);
}

async function announceExpiry(ctx: AppContext, record: RequestRecord, end: Date): Promise<void> {
  const withdrawn = await withdrawExtensionsOf(ctx, record.request);
  await replaceCards(ctx, record);
  await tellRequester(
    ctx,
    record,
    md`${record.request.id}: ${windowWords(record.request)} closed at ${utcText(end)}. Existing sessions are not cut by JIT — log out now. I'll check in Azure that it really closed.${withdrawnSentence(record.request.id, withdrawn)}`,
  );
}

/**
 * How often a closure check that cannot run (Azure unavailable, throttling) is tried — with the
 * timer's back-off, about four minutes — before it stops and says so. A refusal (403) or a VM or
 * policy gone stops it at once: trying again would change nothing.
 */
export const MAX_CLOSURE_ATTEMPTS = 8;

/**
 * After the end: Azure's history must not list the request as open, and the address must not get
 * in any more — by effective access (domain/inbound-access.ts: subnet NSG then NIC NSG, by
 * priority, as Azure evaluates them), so a standing rule that outranks JIT's Deny is caught too.
 */
export async function checkClosure(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const requestId = String(timer.payload.requestId);
  const stored = await loadRecord(ctx, requestId);
  const request = stored?.data.request;
  if (!stored || !request || (request.state !== "expired" && request.state !== "revoked") || !request.source)
    return;
  const now = ctx.clock.now();
  let stillOpen: string[];
  try {
    stillOpen = await whatIsStillOpen(ctx, stored.data, now);
  } catch (error) {
    const coded = asPortcullisError(error);
    const pointless = [ErrorCode.AzureForbidden, ErrorCode.PolicyNotFound, ErrorCode.VmNotFound].includes(
      coded.code as never,
    );
    if (!pointless && timer.attempts < MAX_CLOSURE_ATTEMPTS) throw coded;
    return closureUnverified(ctx, stored, coded, timer.attempts);
  }
  const closed = stillOpen.length === 0;
  const closure = {
    ...(stored.data.closure ?? { expectedAt: request.grant?.endTimeUtc ?? now.toISOString() }),
    checkedAt: now.toISOString(),
    closed,
    stillOpen,
  };
  await commitClosure(ctx, stored, closure);
  await ctx.store.audit.append({
    at: now,
    type: closed ? "request.closure_verified" : "request.closure_failed",
    actorId: "portcullis",
    requestId,
    payload: { source: request.source.prefix, stillOpen },
  });
  if (closed) return;
  const alarm = joinChat(
    [
      md`⚠ ${requestId} should have closed at ${utcText(new Date(closure.expectedAt))}, but ${request.source.prefix} can still get in:`,
      joinChat(
        stillOpen.map((line) => md`- ${line}`),
        "\n",
      ),
      md`Remove or narrow the rule by hand (Azure portal → the NSG → Inbound security rules, or \`az network nsg rule delete\`) and look at the VM's sign-ins since then.`,
    ],
    "\n\n",
  );
  await raiseAlarm(ctx, request, alarm);
  ctx.logger.error({ requestId, stillOpen }, "JIT window did not close");
}

/** What still lets the request's address in, in words; empty when nothing does. */
async function whatIsStillOpen(ctx: AppContext, record: RequestRecord, now: Date): Promise<string[]> {
  const { request } = record;
  const source = request.source?.prefix ?? "";
  const stillOpen: string[] = [];
  for (const target of request.targets) {
    const policy = await ctx.gateway.getVmPolicy(
      { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
      target.vmId,
    );
    for (const entry of policy.requests) {
      if (!isOwnEntry(entry, { tag: tagOf(record), vmId: target.vmId, ports: target.ports, source }))
        continue;
      for (const port of entry.ports) {
        if (port.status === "Initiated" && port.endTimeUtc.getTime() > now.getTime()) {
          stillOpen.push(
            `${target.vmName} port ${port.number}: Azure still lists the request as Initiated until ${utcText(port.endTimeUtc)}`,
          );
        }
      }
    }
    const paths = await ctx.gateway.listInboundPaths(target.vmId);
    for (const port of target.ports) {
      const verdict = inboundAccess(paths, source, port);
      if (!verdict.reachable) continue;
      const rules = verdict.via.map(
        (via) =>
          `Allow rule ${via.ruleName} (priority ${via.priority}) on ${via.nsgName}${via.certain ? "" : " (may match: a service tag or group I cannot evaluate)"}`,
      );
      stillOpen.push(
        `${target.vmName} port ${port}: ${rules.length > 0 ? rules.join(", then ") : "no NSG filters its network interface"}`,
      );
    }
  }
  return stillOpen;
}

/** The check could not run and will not be retried: recorded, audited, and said to the same people as an alarm. */
async function closureUnverified(
  ctx: AppContext,
  stored: StoredRecord,
  error: PortcullisError,
  attempts: number,
): Promise<void> {
  const { request } = stored.data;
  const now = ctx.clock.now();
  const closure = {
    ...(stored.data.closure ?? { expectedAt: request.grant?.endTimeUtc ?? now.toISOString() }),
    checkedAt: now.toISOString(),
    unverified: error.userMessage,
  };
  await commitClosure(ctx, stored, closure);
  await ctx.store.audit.append({
    at: now,
    type: "request.closure_unverified",
    actorId: "portcullis",
    requestId: request.id,
    payload: { source: request.source?.prefix ?? "", code: error.code, message: error.userMessage, attempts },
  });
  const tries = attempts === 1 ? "once" : `${attempts} times`;
  const alarm = md`⚠ I could not check that ${request.id} closed (${windowWords(request)}, due to close at ${utcText(new Date(closure.expectedAt))}): ${error.userMessage} I tried ${tries} and have stopped. Check it by hand: the VM's NSGs (Azure portal → the VM → Networking, or \`az network nic list-effective-nsg\`) must not let ${request.source?.prefix ?? "the address"} in.`;
  await raiseAlarm(ctx, request, alarm);
  ctx.logger.error(
    { requestId: request.id, code: error.code, attempts },
    "closure check could not run; stopped",
  );
}

async function raiseAlarm(ctx: AppContext, request: AccessRequest, alarm: ChatText): Promise<void> {
  await tellApprovers(ctx, request, alarm);
  const channel = ctx.settings.securityConversationKey;
  if (channel) await ctx.notifier.toConversation(channel, { kind: "text", text: alarm });
}

export async function remindApprovers(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const stored = await loadRecord(ctx, String(timer.payload.requestId));
  const request = stored?.data.request;
  if (request?.state !== "pending") return;
  const waiting = request.approval.approvers.filter(
    (approver) => !request.decisions.some((d) => (d.byUpn ?? d.byId).toLowerCase() === approver),
  );
  const due =
    typeof timer.payload.timesOutAt === "string"
      ? ` It times out at ${utcText(new Date(timer.payload.timesOutAt))}.`
      : "";
  const text = md`Reminder: ${request.id} from ${request.requester.name} (${windowWords(request)}) still waits for your decision.${due}`;
  await Promise.all(
    waiting.map((approver) => ctx.notifier.toUser(recipientOf(approver), { kind: "text", text })),
  );
}

/** `done [R-17]`: the requester (or an approver) closes an open window now. */
export async function finishAccess(
  ctx: AppContext,
  user: ChatUser,
  requestId: string | undefined,
): Promise<string> {
  const stored = requestId ? await loadRecord(ctx, requestId) : await onlyActive(ctx, user);
  if (typeof stored === "string") return stored;
  if (!stored) return `I have no request ${requestId}.`;
  const { request } = stored.data;
  // A future window not opened yet: being done with it means withdrawing it.
  if (request.state === "scheduled") return cancelRequest(ctx, user, request.id);
  const actor = { id: user.id, ...(user.upn ? { upn: user.upn } : {}), name: user.name };
  const now = ctx.clock.now();
  if (!request.source) return `${request.id} has nothing open.`;
  const closesAt = new Date(now.getTime() + CLOSE_AHEAD_MS);
  const outcome = await changeWindow(ctx, stored, {
    kind: "close",
    endTimeUtc: closesAt.toISOString(),
    requestedAt: now.toISOString(),
    justification: `${justificationFor(request, nonceOf(stored.data))} | ended early by ${user.upn ?? user.name}`,
    by: actor,
  });
  if (outcome.kind === "refused") return outcome.message;
  if (outcome.kind === "changed")
    return `${request.id} changed while I was closing it; type \`status\` to see where it stands.`;
  if (outcome.kind === "failed")
    return `I could not close ${request.id} yet: ${outcome.message} It stays open until ${utcText(new Date(request.grant?.endTimeUtc ?? now))} until I can.`;
  const next = outcome.record;
  const extra = withdrawnSentence(request.id, outcome.withdrawn);
  const byOther = user.id !== request.requester.id;
  if (byOther)
    await tellRequester(
      ctx,
      next,
      md`${request.id} was closed early by ${user.name}; ${windowWords(request)} closes at ${utcText(closesAt)}.${extra}`,
    );
  return `${request.id}: ${windowWords(request)} closes at ${utcText(closesAt)} (JIT needs an end time in the future, so up to a minute). Existing sessions are not cut — log out.${extra}`;
}

async function onlyActive(ctx: AppContext, user: ChatUser): Promise<StoredRecord | string> {
  const active = await ctx.store.requests.listByRequester<RequestRecord>(user.id, ["active"]);
  const [only] = active;
  if (!only) return "You have no open access to close. Type `status` to see your requests.";
  if (active.length > 1)
    return `You have ${active.length} open: ${active.map((stored) => stored.id).join(", ")}. Which one? e.g. \`done ${only.id}\`.`;
  return only;
}

async function commitClosure(
  ctx: AppContext,
  stored: StoredRecord,
  closure: NonNullable<RequestRecord["closure"]>,
): Promise<void> {
  await updateRecord(ctx, stored.id, (current) => ({ ...current, closure }));
}

/** What ties Azure's history entries to this request: its nonce, or for older records its id. */
function tagOf(record: RequestRecord): InitiateTag {
  const nonce = nonceOf(record);
  return nonce === undefined ? { requestId: record.request.id } : { requestId: record.request.id, nonce };
}

function windowWords(request: AccessRequest): string {
  const what = request.targets
    .map((target) => `port ${target.ports.join(", ")} on ${target.vmName}`)
    .join("; ");
  return `${what} for ${request.source?.prefix ?? "your address"}`;
}
