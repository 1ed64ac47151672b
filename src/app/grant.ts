/**
 * Approved → initiate → active. Runs as the "grant" timer, so a crash anywhere is retried by
 * whichever process claims the timer next. Before initiating it re-checks the policy (prepare,
 * then execute, check again) and looks in Azure's request history for an initiate of this request
 * that an earlier attempt made but never recorded — never a second grant the bot does not know of.
 */

import {
  type AccessRequest,
  beginOpening,
  fail,
  type Grant,
  type MappedPort,
  markActive,
  plannedEndFor,
} from "../domain/access-request.ts";
import { utcText } from "../domain/duration.ts";
import { asPortcullisError, ErrorCode } from "../domain/errors.ts";
import { isOwnEntry, type OwnInitiate } from "../domain/history-match.ts";
import { initiatePlan } from "../domain/justification.ts";
import { checkSourceForTargets, rulesForTargets } from "../domain/request-check.ts";
import { scheduleWindowTimers } from "./access-window.ts";
import { replaceCards, tellApprovers, tellRequester } from "./approval-delivery.ts";
import { fallbackInstructions } from "./break-glass.ts";
import { type ChatText, code, joinChat, md } from "./chat-text.ts";
import type { AppContext } from "./context.ts";
import { supersedeExtended } from "./extend.ts";
import { withdrawExtensionsOf } from "./extension-withdrawal.ts";
import { mappedPortsFor } from "./firewall-ports.ts";
import type { ClaimedTimer } from "./ports.ts";
import { commit, loadRecord, type RequestRecord, type StoredRecord } from "./request-record.ts";
import { scheduleTimer, TimerKind } from "./timer-kinds.ts";

/** Transient Azure trouble is retried by the timer this many times before the request fails. */
const MAX_GRANT_ATTEMPTS = 3;

export async function executeGrant(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const requestId = String(timer.payload.requestId);
  let stored = await loadRecord(ctx, requestId);
  // This timer ran before and never completed: that attempt may have recorded the outcome and died
  // before the window's timers and the notices. Finish those (at least once: a crash right after a
  // notice repeats it; never none). A first attempt that finds the request decided leaves it alone.
  if (timer.attempts > 1 && stored?.data.request.state === "active") return afterGrant(ctx, stored.data);
  if (timer.attempts > 1 && stored?.data.request.state === "failed" && stored.data.request.failure)
    return afterFailure(ctx, stored.data, stored.data.request.failure.message);
  if (stored?.data.request.state === "scheduled") {
    stored = await beginScheduled(ctx, stored);
    if (!stored) return;
  }
  if (stored?.data.request.state !== "approved") return;
  const { request } = stored.data;
  const now = ctx.clock.now();
  // The end time and the nonce are fixed once, before the first initiate, and every retry reuses
  // them: a retry racing an initiate still in flight from a dead process asks for the identical
  // window with the identical justification, never a longer one. A record planned before nonces
  // existed keeps going without one (its first attempt may have sent the old text).
  const plannedEnd = stored.data.plannedEnd ?? plannedEndFor(request, now).toISOString();
  if (!stored.data.plannedEnd) {
    const planned = await commit(ctx, stored, { ...stored.data, plannedEnd, nonce: ctx.newNonce() });
    if (!planned) throw new Error(`${request.id} changed while its grant was planned; retrying`);
    stored = planned;
  }
  const { nonce } = stored.data;

  // Check again at execute time: an extension opens only while the window it continues is open.
  // Its end normally withdrew the extension already; this covers a follow-up lost to a crash.
  if (request.extends) {
    const original = await loadRecord(ctx, request.extends);
    if (original && original.data.request.state !== "active") {
      await withdrawExtensionsOf(ctx, original.data.request);
      return;
    }
  }

  const problem = await stillAllowed(ctx, request);
  if (problem) return failGrant(ctx, stored, "policy_changed", problem);

  let grant = await earlierGrant(ctx, request, new Date(plannedEnd), nonce, now);
  if (grant) {
    ctx.logger.warn(
      { requestId },
      "found an initiate of this request in Azure's history; recording it instead of initiating again",
    );
  } else {
    const [call, ...more] =
      initiatePlan(request, new Date(Date.parse(plannedEnd) - request.durationMs), nonce) ?? [];
    if (!call)
      return failGrant(
        ctx,
        stored,
        ErrorCode.Internal,
        `${request.id} has no source address, so nothing can be opened.`,
      );
    if (more.length > 0)
      return failGrant(
        ctx,
        stored,
        ErrorCode.Internal,
        `${request.id} spans several JIT policies; ask for each separately.`,
      );
    let records: Awaited<ReturnType<AppContext["gateway"]["initiate"]>>;
    try {
      records = await ctx.gateway.initiate(call);
    } catch (error) {
      const coded = asPortcullisError(error);
      const transient = coded.code === ErrorCode.AzureUnavailable || coded.code === ErrorCode.AzureThrottled;
      if (transient && timer.attempts < MAX_GRANT_ATTEMPTS) {
        // Blocked emergency access must never be silent: on-call hears at once, with the fallback.
        if (request.kind === "break_glass" && timer.attempts === 1) {
          await tellRequester(
            ctx,
            stored.data,
            md`${request.id} is not open yet: ${coded.userMessage} I'm retrying. If you cannot wait:\n\n${fallbackInstructions(ctx, request)}`,
          );
        }
        throw coded;
      }
      return failGrant(ctx, stored, coded.code, coded.userMessage);
    }
    const endTimeUtc =
      call.virtualMachines[0]?.ports[0]?.endTimeUtc ?? new Date(now.getTime() + request.durationMs);
    const mappedPorts = await mappedPortsFor(ctx, request, records, call.justification);
    grant = {
      initiatedAt: now.toISOString(),
      endTimeUtc: endTimeUtc.toISOString(),
      justification: call.justification,
      ...(mappedPorts.length > 0 ? { mappedPorts } : {}),
    };
  }

  const moved = markActive(request, grant, now);
  if (!moved.ok) throw new Error(moved.error.message);
  const next: RequestRecord = { ...stored.data, request: moved.request };
  if (!(await commit(ctx, stored, next, moved.event)))
    throw new Error(`${request.id} changed while it was being granted; retrying`);
  await afterGrant(ctx, next);
}

/**
 * A scheduled window's start has come: it moves to approved (opening) in one compare-and-swap
 * write, so a `cancel` either lands before it (nothing opens) or is refused after it (never a port
 * opened for a withdrawn request). Early (the timer moved): wait for the start.
 */
async function beginScheduled(ctx: AppContext, stored: StoredRecord): Promise<StoredRecord | undefined> {
  const { request } = stored.data;
  const now = ctx.clock.now();
  if (request.startAt && Date.parse(request.startAt) > now.getTime()) {
    await scheduleTimer(ctx, TimerKind.Grant, request.id, new Date(request.startAt));
    return undefined;
  }
  const moved = beginOpening(request, now);
  if (!moved.ok) return undefined;
  const opening = await commit(ctx, stored, { ...stored.data, request: moved.request }, moved.event);
  if (!opening) throw new Error(`${request.id} changed as its start came; retrying`);
  return opening;
}

/** What follows a recorded grant: the window's timers, the cards, the requester's notice. */
async function afterGrant(ctx: AppContext, record: RequestRecord): Promise<void> {
  await scheduleWindowTimers(ctx, record.request);
  await supersedeExtended(ctx, record);
  await replaceCards(ctx, record);
  await tellRequester(ctx, record, grantNotice(record));
}

/** The request's VMs, ports and address are still allowed by the policy as Azure holds it now. */
async function stillAllowed(ctx: AppContext, request: AccessRequest): Promise<string | undefined> {
  const all = await ctx.gateway.listVms();
  for (const target of request.targets) {
    const vm = all.find((candidate) => candidate.ref.id.toLowerCase() === target.vmId.toLowerCase());
    if (vm?.jit.kind !== "configured")
      return `${target.vmName} no longer has a JIT policy, so ${request.id} was not opened.`;
    const ports = vm.jit.policy.rules.map((rule) => rule.number);
    const missing = target.ports.filter((port) => !ports.includes(port));
    if (missing.length > 0)
      return `${target.vmName}'s JIT policy no longer covers port ${missing.join(", ")}, so ${request.id} was not opened.`;
  }
  if (!request.source) return `${request.id} has no source address.`;
  const checked = checkSourceForTargets(request.source.prefix, rulesForTargets(all, request.targets), {
    acceptDocumentationRanges: ctx.settings.acceptDocumentationRanges,
  });
  return checked.ok
    ? undefined
    : `${checked.message} The policy changed after approval, so ${request.id} was not opened.`;
}

/**
 * An initiate of this request already in Azure's history (an earlier attempt crashed before
 * recording it): this request's nonce (the id alone for records from before nonces), on this VM,
 * every port, from this source, to the planned end. Another deployment's "R-17", a database reset
 * or a person typing "Portcullis R-17" in the portal does not count: their nonce is not ours.
 */
async function earlierGrant(
  ctx: AppContext,
  request: AccessRequest,
  plannedEnd: Date,
  nonce: string | undefined,
  now: Date,
): Promise<Grant | undefined> {
  const [target] = request.targets;
  if (!target || !request.source) return undefined;
  const policy = await ctx.gateway.getVmPolicy(
    { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
    target.vmId,
  );
  const own: OwnInitiate = {
    tag: { requestId: request.id, ...(nonce === undefined ? {} : { nonce }) },
    vmId: target.vmId,
    ports: target.ports,
    source: request.source.prefix,
    endTimeUtc: plannedEnd,
  };
  const mine = policy.requests
    .filter((entry) => isOwnEntry(entry, own))
    .sort((a, b) => b.startTimeUtc.getTime() - a.startTimeUtc.getTime())[0];
  // Superseded since, or over: not a window to record; initiating again is right.
  const open = mine?.ports.some(
    (port) => port.status !== "Revoked" && port.endTimeUtc.getTime() > now.getTime(),
  );
  if (!mine || !open) return undefined;
  const mappedPorts = await mappedPortsFor(ctx, request, [mine], mine.justification ?? "");
  return {
    initiatedAt: mine.startTimeUtc.toISOString(),
    endTimeUtc: plannedEnd.toISOString(),
    justification: mine.justification ?? "",
    ...(mappedPorts.length > 0 ? { mappedPorts } : {}),
  };
}

async function failGrant(
  ctx: AppContext,
  stored: StoredRecord,
  code: string,
  message: string,
): Promise<void> {
  const moved = fail(stored.data.request, code, message, ctx.clock.now());
  if (!moved.ok) throw new Error(moved.error.message);
  const next: RequestRecord = { ...stored.data, request: moved.request };
  if (!(await commit(ctx, stored, next, moved.event)))
    throw new Error(`${stored.id} changed while failing; retrying`);
  await afterFailure(ctx, next, message);
}

/** What follows a recorded failure: the cards, and everyone told why. */
async function afterFailure(ctx: AppContext, next: RequestRecord, message: string): Promise<void> {
  await withdrawExtensionsOf(ctx, next.request);
  await replaceCards(ctx, next);
  const text = md`${next.request.id} could not be opened: ${message}`;
  if (next.request.kind === "break_glass") {
    await tellRequester(ctx, next, md`${text}\n\n${fallbackInstructions(ctx, next.request)}`);
    const channel = ctx.settings.securityConversationKey;
    if (channel)
      await ctx.notifier.toConversation(channel, { kind: "text", text: md`⚠ Break-glass ${text}` });
  } else {
    await tellRequester(ctx, next, text);
  }
  await tellApprovers(ctx, next.request, text);
}

/** What is open, from where, until when, and how to connect. */
export function grantNotice(record: RequestRecord): ChatText {
  const { request } = record;
  const end = new Date(request.grant?.endTimeUtc ?? Date.now());
  const source = request.source?.prefix ?? "?";
  const lines = request.targets.map((target) => {
    const ports = target.ports.join(", ");
    return md`- **${target.vmName}** port ${ports}: ${connectHint(target, request.grant?.mappedPorts ?? [])}`;
  });
  return joinChat(
    [
      md`${request.id} is open for ${source} until ${utcText(end)}${localTime(end, record.requesterTimeZone)}.`,
      joinChat(lines, "\n"),
      md`JIT closes the port at that time; sessions already open are not cut, so log out when you are done.`,
    ],
    "\n\n",
  );
}

/**
 * How to connect: the VM's address and port, or for a firewall-fronted VM the firewall's public IP
 * and the firewall port Azure reported with this grant (never the VM's own port on the firewall).
 */
function connectHint(target: AccessRequest["targets"][number], mappedPorts: readonly MappedPort[]): ChatText {
  const address = target.connectAddress;
  if (!address) return md`connect to the VM's address from your network`;
  const hints = target.ports.map((port) => {
    const mapped = mappedPorts.find(
      (entry) => entry.port === port && entry.vmId.toLowerCase() === target.vmId.toLowerCase(),
    )?.mappedPort;
    if (target.viaFirewall && mapped === undefined)
      return md`through the firewall at ${code(address)} (Azure did not report which firewall port forwards to ${String(port)}; see ${code(`policy ${target.vmName}`)})`;
    const via = mapped ?? port;
    if (port === 22)
      return via === 22
        ? code(`ssh ${address}`)
        : md`${code(`ssh -p ${via} ${address}`)} (through the firewall)`;
    if (port === 3389) return md`Remote Desktop to ${code(`${address}:${via}`)}`;
    return code(`${address}:${via}`);
  });
  return joinChat(hints, ", ");
}

function localTime(date: Date, timeZone: string | undefined): string {
  if (!timeZone) return "";
  try {
    const text = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit" }).format(
      date,
    );
    return ` (${text} your time)`;
  } catch {
    return "";
  }
}
