/**
 * The one-time link: opened on the machine that will connect, it shows which request and which
 * public address it would record, and records only when the person confirms (a POST from that
 * page). Opening it changes nothing, so a chat preview or a mail scanner cannot spend it. A reused,
 * expired or unknown link changes nothing; an address the policy would refuse leaves the link
 * usable from another machine, and the requester is told in chat why the attempt failed.
 */
import { type AccessRequest, provideBreakGlassSource, provideSource } from "../domain/access-request.ts";
import { clientAddressFromRequest, parseSourcePrefix, specialRangeOf } from "../domain/address.ts";
import { checkSourceForTargets, rulesForTargets } from "../domain/request-check.ts";
import { askApprovers, replaceCards, tellRequester } from "./approval-delivery.ts";
import { md, trustedMarkup } from "./chat-text.ts";
import type { AppContext } from "./context.ts";
import type { SourceLink } from "./ports.ts";
import { hashToken } from "./request-access.ts";
import { commit, loadRecord, type RequestRecord, type StoredRecord } from "./request-record.ts";
import { cancelTimers, scheduleTimer, TimerKind } from "./timer-kinds.ts";

export interface LinkPage {
  /** HTTP status for the page. */
  readonly status: number;
  readonly title: string;
  readonly message: string;
  /** The address the bot saw (or recorded), shown on the page. */
  readonly address?: string;
  /** Present when the page asks the person to confirm; the form posts back the token and the address shown. */
  readonly confirm?: LinkConfirmation;
}

export interface LinkConfirmation {
  readonly token: string;
  readonly requestId: string;
  readonly breakGlass: boolean;
  readonly requester: { readonly name: string; readonly upn?: string };
  readonly targets: readonly { readonly vmName: string; readonly ports: readonly number[] }[];
  /** What a confirmation records. */
  readonly address: string;
  readonly expiresAt: Date;
  /** `npm start` only: the address the browser really came from, which `address` stands in for. */
  readonly demoStandInFor?: string;
}

export interface LinkPeer {
  readonly address: string;
  readonly forwardedFor: string | undefined;
}

/**
 * Documentation addresses that stand in for "this machine" in the local demo. Two, because the
 * simulated fleet's rules allow 203.0.113.0/24 on some ports and 198.51.100.0/24 on others; none
 * is a simulated VM's own address.
 */
const DEMO_STAND_INS = ["203.0.113.7", "198.51.100.7"] as const;

/** GET: what confirming would record. Reads only; never uses up the link. */
export async function previewSourceLink(ctx: AppContext, token: string, peer: LinkPeer): Promise<LinkPage> {
  const seen = await inspect(ctx, token, peer);
  if (seen.kind === "page") return seen.page;
  if (seen.kind === "refused") return refuse(ctx, seen);
  return confirmPage(token, seen, 200);
}

/**
 * POST from the page: records the address and sends the request on. `shownAddress` is what the page
 * said would be recorded; if this request comes from elsewhere, the person is asked again.
 */
export async function confirmSourceLink(
  ctx: AppContext,
  token: string,
  shownAddress: string | undefined,
  peer: LinkPeer,
): Promise<LinkPage> {
  const seen = await inspect(ctx, token, peer);
  if (seen.kind === "page") return seen.page;
  if (seen.kind === "refused") return refuse(ctx, seen);
  if (shownAddress !== undefined && shownAddress !== seen.address) {
    const page = confirmPage(token, seen, 409);
    return {
      ...page,
      title: "Your address changed",
      message: `The page showed ${shownAddress}, but this confirmation came from ${seen.address}. Nothing is recorded yet; confirm again if ${seen.address} is right.`,
    };
  }
  return record(ctx, seen);
}

interface Usable {
  readonly kind: "usable";
  readonly link: SourceLink;
  readonly stored: StoredRecord;
  /** Canonical address a confirmation records. */
  readonly address: string;
  readonly demoStandInFor?: string;
}

interface Refused {
  readonly kind: "refused";
  readonly link: SourceLink;
  readonly stored: StoredRecord;
  readonly seenAddress: string;
  readonly reason: string;
  /** Loopback, private, link-local…: opening the link again from the same place cannot help. */
  readonly notPublic: boolean;
}

type Inspection = { readonly kind: "page"; readonly page: LinkPage } | Usable | Refused;

/** Everything GET and POST both check, read-only. */
async function inspect(ctx: AppContext, token: string, peer: LinkPeer): Promise<Inspection> {
  const tokenHash = hashToken(token);
  const link = await ctx.store.sourceLinks.peek(tokenHash);
  const now = ctx.clock.now();
  if (!link)
    return page({
      status: 404,
      title: "Unknown link",
      message: "This link is not one I made. Ask the bot again in Teams.",
    });
  if (link.usedAt)
    return page({
      status: 410,
      title: "Link already used",
      message: `Each link works once, and this one was used at ${link.usedAt.toISOString().slice(0, 16).replace("T", " ")} UTC. Nothing changed.`,
    });
  if (link.expiresAt.getTime() <= now.getTime()) {
    return page({
      status: 410,
      title: "Link expired",
      message: "This link expired. Nothing changed; ask the bot again in Teams.",
    });
  }

  const client = clientAddressFromRequest(peer.address, peer.forwardedFor, ctx.settings.trustedProxies);
  if (!client.ok)
    return page({
      status: 400,
      title: "Address unknown",
      message: `I can't tell your address: ${client.reason}.`,
    });
  const stored = await loadRecord(ctx, link.requestId);
  if (stored?.data.request.state !== "awaiting_source") {
    return page({
      status: 410,
      title: "Request closed",
      message: `${link.requestId} is no longer waiting for an address. Nothing changed.`,
    });
  }
  const vms = await ctx.gateway.listVms();
  const rules = rulesForTargets(vms, stored.data.request.targets);
  const options = { acceptDocumentationRanges: ctx.settings.acceptDocumentationRanges };
  const checked = checkSourceForTargets(client.address, rules, options);
  if (checked.ok) return { kind: "usable", link, stored, address: checked.source.canonical };

  const notPublic = isNotPublic(client.address);
  if (notPublic && ctx.settings.localDemo) {
    for (const standIn of DEMO_STAND_INS) {
      const demo = checkSourceForTargets(standIn, rules, options);
      if (demo.ok)
        return {
          kind: "usable",
          link,
          stored,
          address: demo.source.canonical,
          demoStandInFor: client.address,
        };
    }
  }
  return { kind: "refused", link, stored, seenAddress: client.address, reason: checked.message, notPublic };
}

/** The peer is somewhere nobody connects from across the Internet (loopback, RFC 1918, link-local…). */
function isNotPublic(address: string): boolean {
  const parsed = parseSourcePrefix(address);
  return parsed.ok && specialRangeOf(parsed.source) !== undefined;
}

function page(linkPage: LinkPage): Inspection {
  return { kind: "page", page: linkPage };
}

function confirmPage(token: string, seen: Usable, status: number): LinkPage {
  const { request } = seen.stored.data;
  const requester = {
    name: request.requester.name,
    ...(request.requester.upn ? { upn: request.requester.upn } : {}),
  };
  return {
    status,
    title: `Record this address for ${request.id}?`,
    message: "Confirm only if you asked for this access and this is the machine you will connect from.",
    address: seen.address,
    confirm: {
      token,
      requestId: request.id,
      breakGlass: request.kind === "break_glass",
      requester,
      targets: request.targets.map((target) => ({ vmName: target.vmName, ports: target.ports })),
      address: seen.address,
      expiresAt: seen.link.expiresAt,
      ...(seen.demoStandInFor === undefined ? {} : { demoStandInFor: seen.demoStandInFor }),
    },
  };
}

/** The page says why, and so does the chat: the person holding the link may not be looking at both. */
async function refuse(ctx: AppContext, refused: Refused): Promise<LinkPage> {
  const { request } = refused.stored.data;
  const until = `${refused.link.expiresAt.toISOString().slice(11, 16)} UTC`;
  const advice = refused.notPublic
    ? `I see ${refused.seenAddress} when the browser runs on the bot's own machine or network, or when a proxy in front of the bot is not in TRUSTED_PROXIES — opening the link again from there will not help. Cancel with \`cancel ${request.id}\` and ask again with \`from <your public address>\`, or ask an admin to add the proxy to TRUSTED_PROXIES.`
    : `Open the link on the machine you will connect from (it still works until ${until}), or cancel with \`cancel ${request.id}\` and ask again with \`from <address>\`.`;
  await tellRequester(
    ctx,
    refused.stored.data,
    // `advice` is the bot's own sentence; the only address in it is one the bot parsed, not typed text.
    md`The address link for ${request.id} was opened from **${refused.seenAddress}**, and I could not use that address: ${refused.reason} Nothing was recorded. ${trustedMarkup(advice)}`,
  );
  return {
    status: 403,
    title: "This address can't be used",
    message: `${refused.reason} Nothing was recorded. ${advice}`,
    address: refused.seenAddress,
  };
}

async function record(ctx: AppContext, usable: Usable): Promise<LinkPage> {
  const { link, stored, address } = usable;
  const now = ctx.clock.now();
  const claim = await ctx.store.sourceLinks.claim(link.tokenHash, now, address);
  if (!claim.ok)
    return {
      status: 410,
      title: claim.reason === "expired" ? "Link expired" : "Link already used",
      message:
        claim.reason === "expired"
          ? "This link expired a moment ago. Nothing changed; ask the bot again in Teams."
          : "This link was used a moment ago. Nothing changed.",
    };
  const { request } = stored.data;
  const source = { prefix: address, origin: "link" } as const;
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
  const demo =
    usable.demoStandInFor === undefined ? "" : ` (the demo's stand-in for ${usable.demoStandInFor})`;
  if (request.kind === "break_glass") {
    await scheduleTimer(ctx, TimerKind.Grant, request.id, now);
    ctx.wake();
    await replaceCards(ctx, next);
    return recorded(
      request,
      address,
      `${address}${demo} is recorded for the break-glass ${request.id}; the port is opening now. Go back to Teams for the details.`,
    );
  }
  const reply = await askApprovers(ctx, written);
  await tellRequester(
    ctx,
    next,
    md`I recorded **${address}**${demo} for ${request.id} from the link. ${trustedMarkup(reply)}`,
  );
  return recorded(
    request,
    address,
    `${address}${demo} is recorded for ${request.id}; the approvers have been asked. You can close this page and go back to Teams.`,
  );
}

function recorded(request: AccessRequest, address: string, message: string): LinkPage {
  return { status: 200, title: `Address recorded for ${request.id}`, message, address };
}
