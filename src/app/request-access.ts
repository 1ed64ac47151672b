/**
 * `ssh web-01 for 2h because …`: check everything before anyone is asked, store the request, then
 * either ask the approvers or hand the requester a one-time link that records their address.
 */
import { createHash } from "node:crypto";
import { type AccessRequest, createRequest } from "../domain/access-request.ts";
import type { RequestCommand } from "../domain/commands.ts";
import { checkRequest } from "../domain/request-check.ts";
import { riskFlags } from "../domain/risk-flags.ts";
import { describeStart, resolveStart } from "../domain/start-time.ts";
import type { VmWithJit } from "../domain/vm.ts";
import { askApprovers } from "./approval-delivery.ts";
import { trustedMarkup } from "./chat-text.ts";
import type { AppContext, ChatUser } from "./context.ts";
import { pickVm } from "./fleet.ts";
import { cancelRequest } from "./my-requests.ts";
import { insertRecord, type RequestRecord } from "./request-record.ts";
import { scheduleTimer, TimerKind } from "./timer-kinds.ts";

export type RequestAccessResult = { readonly reply: string; readonly requestId?: string };

export async function requestAccess(
  ctx: AppContext,
  user: ChatUser,
  command: RequestCommand,
): Promise<RequestAccessResult> {
  if (!user.upn) {
    return {
      reply:
        "I couldn't look up your sign-in name (UPN) in Teams, and I need it to keep you from approving your own request. Try again in a minute.",
    };
  }
  const all = await ctx.gateway.listVms();
  const vms: VmWithJit[] = [];
  const unknown: string[] = [];
  for (const name of command.vms) {
    const picked = pickVm(all, name);
    if (picked.ok) vms.push(picked.vm);
    else unknown.push(picked.message);
  }
  if (unknown.length > 0) return { reply: unknown.join("\n\n") };

  const policies = new Set(
    vms.map((vm) =>
      vm.jit.kind === "configured"
        ? `${vm.jit.policy.resourceGroup}/${vm.jit.policy.location}`.toLowerCase()
        : vm.ref.id,
    ),
  );
  if (policies.size > 1) {
    return {
      reply:
        "Those VMs are under different JIT policies (resource group or region), and one request opens through one policy. Ask for them separately.",
    };
  }

  const checked = checkRequest({
    vms,
    ports: command.ports,
    ...(command.durationMs === undefined ? {} : { durationMs: command.durationMs }),
    ...(command.source === undefined ? {} : { source: command.source }),
    ...(command.reason === undefined ? {} : { reason: command.reason }),
    requester: { id: user.id, upn: user.upn },
    rules: ctx.settings.rules,
    addressOptions: { acceptDocumentationRanges: ctx.settings.acceptDocumentationRanges },
  });
  if (!checked.ok) return { reply: checked.message };
  const plan = checked.request;
  if (plan.approval.ignoredEntries.length > 0) {
    ctx.logger.warn(
      { ignored: plan.approval.ignoredEntries, vms: command.vms },
      "jit-approvers entries that are neither UPN nor object id",
    );
  }

  const now = ctx.clock.now();
  const startAt = command.start ? resolveStart(command.start, now, user.timeZone) : undefined;
  if (startAt && startAt.getTime() <= now.getTime() + 60_000) {
    return {
      reply: `${describeStart(startAt, user.timeZone)} is not in the future; leave out \`at\` to ask for access now.`,
    };
  }
  if (startAt && startAt.getTime() > now.getTime() + MAX_LEAD_MS) {
    return {
      reply: `${describeStart(startAt, user.timeZone)} is more than 7 days ahead; ask closer to the time.`,
    };
  }
  // Nobody leaves a request pending forever: it times out if undecided (or without an address).
  // A future window may wait for its decision until it would start.
  const timesOutAt = new Date(
    Math.max(now.getTime() + plan.approval.approvalTimeoutMs, startAt?.getTime() ?? 0),
  );
  const id = await ctx.store.requests.nextRequestId();
  const { request, event } = createRequest(
    {
      id,
      requester: { id: user.id, upn: user.upn, name: user.name },
      targets: plan.targets,
      ...(plan.source === undefined ? {} : { source: plan.source }),
      durationMs: plan.durationMs,
      ...(plan.reason === undefined ? {} : { reason: plan.reason }),
      approval: {
        approvers: plan.approval.approvers,
        required: plan.approval.requiredApprovals,
      },
      ...(startAt === undefined ? {} : { startAt: startAt.toISOString() }),
      decideBy: timesOutAt.toISOString(),
    },
    now,
  );
  const admitted = await insertRecord(ctx, request, event, {
    card: { maxDurationMs: plan.maxDurationMs, riskFlags: await flagsFor(ctx, request, user) },
    conversationKey: user.conversationKey,
    timeZone: user.timeZone,
  });
  if (!admitted.ok) return { reply: admitted.refusal.message };
  const { stored } = admitted;
  await scheduleTimer(ctx, TimerKind.ApprovalTimeout, id, timesOutAt);
  await scheduleTimer(
    ctx,
    TimerKind.ApprovalReminder,
    id,
    new Date(now.getTime() + plan.approval.approvalTimeoutMs / 2),
    {
      timesOutAt: timesOutAt.toISOString(),
    },
  );

  if (request.state === "awaiting_source")
    return { requestId: id, reply: await offerSourceLink(ctx, id, user) };
  const asked = await askApprovers(ctx, stored);
  const when = startAt ? `It opens at ${describeStart(startAt, user.timeZone)} once approved. ` : "";
  return { requestId: id, reply: `${when}${asked}` };
}

/**
 * A one-time link that records the address of the machine it is opened on; returns what to say
 * where the request was typed. The link goes only to the requester's 1:1 chat: in a group chat or
 * a channel every member sees it, and whoever opened it first would have their address recorded
 * as the requester's. When the requester cannot be reached privately the request is withdrawn.
 */
export async function offerSourceLink(ctx: AppContext, requestId: string, user: ChatUser): Promise<string> {
  const token = ctx.newToken();
  const expiresAt = new Date(ctx.clock.now().getTime() + ctx.settings.sourceLinkTtlMs);
  await ctx.store.sourceLinks.create({ tokenHash: hashToken(token), requestId, userId: user.id, expiresAt });
  await scheduleTimer(ctx, TimerKind.SourceLinkExpiry, requestId, expiresAt);
  const minutes = Math.round(ctx.settings.sourceLinkTtlMs / 60_000);
  const text = [
    `${requestId}: open this link **on the machine you will connect from**, within ${minutes} minutes, and confirm the public address it shows: ${ctx.settings.publicBaseUrl}/ip/${token}`,
    `It works once and is for you alone: don't forward it. If you'd rather type the address, cancel with \`cancel ${requestId}\` and ask again with \`from <address>\`.`,
  ].join("\n\n");
  if (user.conversationKey.startsWith("user:")) return text;
  const sent = await ctx.notifier.toUser(
    { userId: user.id, ...(user.upn ? { upn: user.upn } : {}) },
    // Every part of it is the bot's own: the id, the configured base URL and a token it generated.
    { kind: "text", text: trustedMarkup(text) },
  );
  if (sent) {
    return `${requestId}: I've sent you a private link in our 1:1 chat to record your address; open it on the machine you will connect from. It is not posted here, where anyone could open it.`;
  }
  const cancelled = await cancelRequest(ctx, user, requestId);
  return `${requestId}: I could not reach you in a 1:1 chat, and the address link must not be posted here, where anyone in this conversation could open it and have their address recorded as yours. ${cancelled} Ask again with \`from <your public address>\`, or message me 1:1 and ask there.`;
}

/** How far ahead a future window may be asked for. */
const MAX_LEAD_MS = 7 * 24 * 60 * 60_000;

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Risk flags for the card; "new address" compares with what this user opened before. */
export async function flagsFor(ctx: AppContext, request: AccessRequest, user: ChatUser) {
  const earlier = await ctx.store.requests.listByRequester<RequestRecord>(user.id, [
    "active",
    "expired",
    "revoked",
  ]);
  return riskFlags(request, {
    now: ctx.clock.now(),
    ...(user.timeZone === undefined ? {} : { timeZone: user.timeZone }),
    knownAddressesForUser: earlier.flatMap((stored) =>
      stored.data.request.source ? [stored.data.request.source.prefix] : [],
    ),
  });
}
