/**
 * The one-time link: opened on the machine that will connect, it records that machine's public
 * address for the request and sends the request on to the approvers. A reused, expired or unknown
 * link changes nothing; an address the policy would refuse leaves the link usable from another machine.
 */
import { provideBreakGlassSource, provideSource } from "../domain/access-request.ts";
import { clientAddressFromRequest } from "../domain/address.ts";
import { checkSourceForTargets, rulesForTargets } from "../domain/request-check.ts";
import { askApprovers, replaceCards, tellRequester } from "./approval-delivery.ts";
import type { AppContext } from "./context.ts";
import { hashToken } from "./request-access.ts";
import { commit, loadRecord, type RequestRecord } from "./request-record.ts";
import { cancelTimers, scheduleTimer, TimerKind } from "./timer-kinds.ts";

export interface LinkPage {
  /** HTTP status for the page. */
  readonly status: number;
  readonly title: string;
  readonly message: string;
  /** The address the bot saw, shown on the page. */
  readonly address?: string;
}

export async function useSourceLink(
  ctx: AppContext,
  token: string,
  peer: { readonly address: string; readonly forwardedFor: string | undefined },
): Promise<LinkPage> {
  const tokenHash = hashToken(token);
  const link = await ctx.store.sourceLinks.peek(tokenHash);
  const now = ctx.clock.now();
  if (!link)
    return {
      status: 404,
      title: "Unknown link",
      message: "This link is not one I made. Ask the bot again in Teams.",
    };
  if (link.usedAt)
    return {
      status: 410,
      title: "Link already used",
      message: "Each link works once, and this one has been used. Nothing changed.",
    };
  if (link.expiresAt.getTime() <= now.getTime()) {
    return {
      status: 410,
      title: "Link expired",
      message: "This link expired. Nothing changed; ask the bot again in Teams.",
    };
  }

  const client = clientAddressFromRequest(peer.address, peer.forwardedFor, ctx.settings.trustedProxies);
  if (!client.ok) return { status: 400, title: "Address unknown", message: client.reason };
  const stored = await loadRecord(ctx, link.requestId);
  if (stored?.data.request.state !== "awaiting_source") {
    return {
      status: 410,
      title: "Request closed",
      message: `${link.requestId} is no longer waiting for an address. Nothing changed.`,
    };
  }
  const { request } = stored.data;
  const vms = await ctx.gateway.listVms();
  const checked = checkSourceForTargets(client.address, rulesForTargets(vms, request.targets), {
    acceptDocumentationRanges: ctx.settings.acceptDocumentationRanges,
  });
  if (!checked.ok) {
    return {
      status: 403,
      title: "This address can't be used",
      message: `${checked.message} Open the link from the machine you will connect from (the link still works until it expires), or cancel and ask again with \`from <address>\`.`,
      address: client.address,
    };
  }

  const claim = await ctx.store.sourceLinks.claim(tokenHash, now, client.address);
  if (!claim.ok)
    return {
      status: 410,
      title: "Link already used",
      message: "This link was used a moment ago. Nothing changed.",
    };
  const source = { prefix: checked.source.canonical, origin: "link" } as const;
  const moved =
    request.kind === "break_glass"
      ? provideBreakGlassSource(request, source, { id: link.userId }, now)
      : provideSource(request, source, { id: link.userId }, now);
  if (!moved.ok) return { status: 409, title: "Request changed", message: moved.error.message };
  const next: RequestRecord = { ...stored.data, request: moved.request };
  const written = await commit(ctx, stored, next, moved.event);
  if (!written)
    return {
      status: 409,
      title: "Request changed",
      message: `${request.id} changed meanwhile (cancelled?). Nothing changed.`,
    };
  await cancelTimers(ctx, request.id, [TimerKind.SourceLinkExpiry]);
  if (request.kind === "break_glass") {
    await scheduleTimer(ctx, TimerKind.Grant, request.id, now);
    ctx.wake();
    await replaceCards(ctx, next);
    return {
      status: 200,
      title: "Address recorded",
      message: `${checked.source.canonical} is recorded for the break-glass ${request.id}; the port is opening now. Go back to Teams for the details.`,
      address: checked.source.canonical,
    };
  }
  const reply = await askApprovers(ctx, written);
  await tellRequester(
    ctx,
    next,
    `I recorded **${checked.source.canonical}** for ${request.id} from the link. ${reply}`,
  );
  return {
    status: 200,
    title: "Address recorded",
    message: `${checked.source.canonical} is recorded for ${request.id}; the approvers have been asked. You can close this page and go back to Teams.`,
    address: checked.source.canonical,
  };
}
