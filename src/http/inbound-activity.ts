/**
 * The shape of a Bot Framework activity, checked at the edge before botbuilder sees it: botbuilder
 * answers a numeric or missing `type` with a 500 and a stack trace, and an activity without
 * `serviceUrl` with a ~28 s attempt to reach the public connector. Fields the bot reads are typed
 * when present; anything else passes through untouched (Teams adds fields over time).
 */
import { z } from "zod";

const account = z
  .object({
    id: z.string().min(1).max(512),
    name: z.string().max(512).optional(),
    aadObjectId: z.string().max(128).optional(),
    role: z.string().max(64).optional(),
  })
  .passthrough();

const dateText = z
  .string()
  .max(64)
  .refine((value) => Number.isFinite(Date.parse(value)), "is not a date");

const timeZone = z
  .string()
  .max(128)
  .refine((value) => {
    try {
      new Intl.DateTimeFormat("en", { timeZone: value });
      return true;
    } catch {
      return false;
    }
  }, "is not an IANA time zone");

const serviceUrl = z
  .string()
  .max(2048)
  .refine((value) => httpUrl(value) !== undefined, "is not an http(s) URL");

const activitySchema = z
  .object({
    type: z.string().min(1).max(64),
    id: z.string().max(512).optional(),
    channelId: z.string().min(1).max(64),
    serviceUrl,
    from: account,
    recipient: account,
    conversation: z
      .object({
        id: z.string().min(1).max(1024),
        conversationType: z.string().max(64).optional(),
        tenantId: z.string().max(128).optional(),
        isGroup: z.boolean().optional(),
        name: z.string().optional(),
      })
      .passthrough(),
    text: z.string().optional(),
    textFormat: z.string().max(64).optional(),
    locale: z.string().max(64).optional(),
    localTimezone: timeZone.optional(),
    timestamp: dateText.optional(),
    localTimestamp: dateText.optional(),
    expiration: dateText.optional(),
    name: z.string().max(256).optional(),
    replyToId: z.string().max(512).optional(),
    action: z.string().max(64).optional(),
    deliveryMode: z.string().max(64).optional(),
    channelData: z.record(z.unknown()).optional(),
    entities: z.array(z.record(z.unknown())).optional(),
    attachments: z.array(z.record(z.unknown())).optional(),
    membersAdded: z.array(account).optional(),
    membersRemoved: z.array(account).optional(),
  })
  .passthrough();

export type InboundActivity = z.output<typeof activitySchema>;

export type ActivityCheck =
  | { readonly ok: true; readonly activity: InboundActivity }
  | { readonly ok: false; readonly reason: string };

/** The activity, or the first thing wrong with it (a field path and what is wrong; never the value). */
export function checkInboundActivity(body: unknown): ActivityCheck {
  const parsed = activitySchema.safeParse(body);
  if (parsed.success) return { ok: true, activity: parsed.data };
  const issue = parsed.error.issues[0];
  const path = issue?.path.join(".") || "body";
  return { ok: false, reason: `${path}: ${issue?.message ?? "invalid"}` };
}

/**
 * Where replies may go. With Bot Framework auth the token names the service URL and botbuilder
 * checks it; in local mode nothing does, so replies go only to a loopback connector (the Agents
 * Playground, a test's fake) or an origin in LOCAL_SERVICE_URLS.
 */
export type ReplyPolicy =
  | { readonly kind: "checked-by-token" }
  | { readonly kind: "loopback"; readonly alsoAllowed: readonly string[] };

export function replyAllowed(policy: ReplyPolicy, url: string): boolean {
  if (policy.kind === "checked-by-token") return true;
  const parsed = httpUrl(url);
  if (!parsed) return false;
  return isLoopbackHost(parsed.hostname) || policy.alsoAllowed.includes(parsed.origin);
}

function httpUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host);
}
