import { TeamsAdapter } from "@microsoft/teams-ai";
import type { Activity, TurnContext } from "botbuilder";
import type { Config } from "../../config.ts";

/**
 * The Bot Framework public cloud, as botbuilder's AuthenticationConstants has it (not exported by
 * `botbuilder`). botbuilder takes these all together or not at all: naming one endpoint switches
 * it to "parameterized" mode, where every other one must be given too.
 */
const PUBLIC_CLOUD = {
  ToChannelFromBotLoginUrl: "https://login.microsoftonline.com/botframework.com",
  ToChannelFromBotOAuthScope: "https://api.botframework.com",
  ToBotFromChannelTokenIssuer: "https://api.botframework.com",
  OAuthUrl: "https://api.botframework.com",
  CallerId: "urn:botframework:azure",
} as const;

/** What became of one inbound activity: its turn ran (with the invoke answer, if any), or it was refused. */
export type TurnAnswer =
  | { readonly outcome: "ran"; readonly status: number; readonly body?: unknown }
  | { readonly outcome: "refused"; readonly status: 401 | 503; readonly reason: string };

type TurnLogic = (context: TurnContext) => Promise<void>;

/**
 * botbuilder's CloudAdapter with the request authenticated first, on our terms. botbuilder 4.23
 * (out of support) answers 500 for several bad tokens (alg:none, HS256 with the public key, a
 * future nbf, a forged signature: jsonwebtoken's errors are rethrown, not wrapped) and accepts a
 * correctly signed token with no `exp`, which would be valid for ever. Here every token botbuilder
 * refuses is a 401, a token without `exp` is refused before the turn, and only a failure to fetch
 * the signing keys (our outage, not the caller's fault) is a 503, which Bot Service retries.
 */
export class PortcullisTeamsAdapter extends TeamsAdapter {
  readonly #requireExpiry: boolean;

  constructor(settings: ConstructorParameters<typeof TeamsAdapter>[0], requireExpiry: boolean) {
    super(settings);
    this.#requireExpiry = requireExpiry;
  }

  /**
   * Authenticates `authorization` for an activity whose shape the HTTP edge has checked
   * (http/inbound-activity.ts), then runs the turn.
   */
  async handle(authorization: string, checked: object, logic: TurnLogic): Promise<TurnAnswer> {
    const activity = withDates(checked as Activity);
    let authenticated: Awaited<ReturnType<typeof this.botFrameworkAuthentication.authenticateRequest>>;
    try {
      authenticated = await this.botFrameworkAuthentication.authenticateRequest(activity, authorization);
    } catch (error) {
      if (signingKeysUnavailable(error))
        return { outcome: "refused", status: 503, reason: `signing keys unavailable: ${messageOf(error)}` };
      return { outcome: "refused", status: 401, reason: messageOf(error) };
    }
    if (this.#requireExpiry) {
      const exp: unknown = authenticated.claimsIdentity.claims.find((claim) => claim.type === "exp")?.value;
      if (typeof exp !== "number" || !Number.isFinite(exp))
        return { outcome: "refused", status: 401, reason: "the token has no exp claim" };
    }
    const invoke = await this.processActivity(authenticated, activity, logic);
    return {
      outcome: "ran",
      status: invoke?.status ?? 200,
      ...(invoke?.body === undefined ? {} : { body: invoke.body }),
    };
  }
}

/** Fetching the OpenID metadata or the keys failed (network, or their server answered an error). */
function signingKeysUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "FetchError") return true;
  return /^Failed to load (openID config|Keys):/.test(error.message);
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]?.slice(0, 300) ?? "";
}

/** As botbuilder's own request path does (validateAndFixActivity, not exported): timestamps become Dates. */
function withDates(activity: Activity): Activity {
  const fixed = { ...activity } as Activity & Record<string, unknown>;
  for (const [field, raw] of [
    ["timestamp", "rawTimestamp"],
    ["expiration", "rawExpiration"],
    ["localTimestamp", "rawLocalTimestamp"],
  ] as const) {
    const value: unknown = fixed[field];
    if (typeof value === "string") {
      fixed[raw] = value;
      fixed[field] = new Date(value);
    }
  }
  return fixed;
}

/**
 * Local mode: no app id, so botbuilder neither checks incoming tokens nor signs outgoing calls.
 * Otherwise every request's Bot Framework token is checked (see PortcullisTeamsAdapter).
 */
export function createTeamsAdapter(config: Config): PortcullisTeamsAdapter {
  if (config.bot.mode === "local") return new PortcullisTeamsAdapter({}, false);
  const { appId, password, tenantId, type, openIdMetadataUrl } = config.bot;
  return new PortcullisTeamsAdapter(
    {
      MicrosoftAppId: appId,
      // UserAssignedMSI: botbuilder gets tokens from the managed identity whose client id is the app id.
      MicrosoftAppType: type,
      ...(password === undefined ? {} : { MicrosoftAppPassword: password }),
      ...(tenantId === undefined ? {} : { MicrosoftAppTenantId: tenantId }),
      // Only the source of the signing keys moves (tests, private clouds); issuer and audience checks stay.
      // The emulator path (Entra-issued tokens) gets the same keys, so it cannot fall back to another source.
      ...(openIdMetadataUrl === undefined
        ? {}
        : {
            ...PUBLIC_CLOUD,
            ToBotFromChannelOpenIdMetadataUrl: openIdMetadataUrl,
            ToBotFromEmulatorOpenIdMetadataUrl: openIdMetadataUrl,
          }),
    },
    true,
  );
}
