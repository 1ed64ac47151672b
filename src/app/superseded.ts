/**
 * While a window is open, check now and then that it is still ours in Azure: a portal initiate or
 * another tool on the same VM+port replaces it (JIT keeps one window per VM and port), and then the
 * requester must not go on believing it is open. The window ends as revoked, the requester and the
 * security channel are told who replaced it and when.
 */
import { revoke, SYSTEM_ACTOR } from "../domain/access-request.ts";
import { utcText } from "../domain/duration.ts";
import type { InitiateTag } from "../domain/justification.ts";
import { supersededIn } from "../domain/supersession.ts";
import { replaceCards, tellRequester } from "./approval-delivery.ts";
import { code, md } from "./chat-text.ts";
import type { AppContext } from "./context.ts";
import type { ClaimedTimer } from "./ports.ts";
import { commit, loadRecord, nonceOf, type RequestRecord } from "./request-record.ts";
import { cancelTimers, scheduleTimer, TimerKind } from "./timer-kinds.ts";

/** The next check of an open window, if it comes before the window's end. */
export async function scheduleWindowCheck(ctx: AppContext, request: RequestRecord["request"]): Promise<void> {
  if (request.state !== "active" || !request.grant) return;
  const next = ctx.clock.now().getTime() + ctx.settings.windowCheckIntervalMs;
  if (next < Date.parse(request.grant.endTimeUtc)) {
    await scheduleTimer(ctx, TimerKind.WindowCheck, request.id, new Date(next));
  }
}

export async function checkWindowHolder(ctx: AppContext, timer: ClaimedTimer): Promise<void> {
  const requestId = String(timer.payload.requestId);
  const stored = await loadRecord(ctx, requestId);
  const request = stored?.data.request;
  if (!stored || request?.state !== "active" || !request.grant) return;
  const now = ctx.clock.now();
  if (Date.parse(request.grant.endTimeUtc) <= now.getTime()) return;

  const history = [];
  for (const target of request.targets) {
    const policy = await ctx.gateway.getVmPolicy(
      { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
      target.vmId,
    );
    history.push(...policy.requests);
  }
  // Our own extensions continue the window; their initiates are ours.
  const vmIds = request.targets.map((target) => target.vmId);
  const continuations = (
    await ctx.store.requests.listOnVms<RequestRecord>(vmIds, ["approved", "active"])
  ).filter((candidate) => candidate.data.request.extends === request.id);
  // A record that never planned an initiate owns no entry; one from before nonces owns by id.
  const own = [stored, ...continuations].flatMap((each): InitiateTag[] => {
    const nonce = nonceOf(each.data);
    if (nonce !== undefined) return [{ requestId: each.id, nonce }];
    return each.data.plannedEnd || each.data.request.grant ? [{ requestId: each.id }] : [];
  });
  const found = supersededIn(request, history, own);
  if (!found) {
    await scheduleWindowCheck(ctx, request);
    return;
  }

  const when = utcText(found.by.startTimeUtc);
  const by = found.by.requestor || "someone outside Portcullis";
  const moved = revoke(request, { id: SYSTEM_ACTOR }, now, {
    reason: `replaced in Azure by a newer JIT request for ${found.vmName} port ${found.port} from ${by} at ${when}`,
    privileged: true,
  });
  if (!moved.ok) return;
  const next: RequestRecord = { ...stored.data, request: moved.request };
  // Someone else wrote first (done, expiry): the timer is retried and finds the new state.
  if (!(await commit(ctx, stored, next, moved.event)))
    throw new Error(`${requestId} changed; checking again`);
  await cancelTimers(ctx, requestId, [TimerKind.PreExpiryWarning, TimerKind.Expiry]);
  await replaceCards(ctx, next);
  const source = found.by.ports.find((port) => port.number === found.port)?.allowedSourceAddressPrefix;
  const text = md`${requestId} is no longer yours in Azure: ${by} opened ${found.vmName} port ${found.port}${source ? md` for ${source}` : ""} at ${when} outside Portcullis, and JIT keeps one window per VM and port, so yours ended then. Ask again with ${code(`ssh ${found.vmName}`)} if you still need it.`;
  await tellRequester(ctx, next, text);
  const channel = ctx.settings.securityConversationKey;
  if (channel) {
    await ctx.notifier.toConversation(channel, {
      kind: "text",
      text: md`⚠ ${requestId} (${request.requester.upn ?? request.requester.name}) was replaced in Azure by a JIT request Portcullis did not make: ${by} opened ${found.vmName} port ${found.port}${source ? md` for ${source}` : ""} at ${when}${found.by.justification ? md` ("${found.by.justification}")` : ""}.`,
    });
  }
}
