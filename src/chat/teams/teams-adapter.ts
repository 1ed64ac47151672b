import { TeamsAdapter } from "@microsoft/teams-ai";
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

/**
 * Local mode: no app id, so botbuilder neither checks incoming tokens nor signs outgoing calls.
 * Otherwise CloudAdapter validates every request's Bot Framework token itself.
 */
export function createTeamsAdapter(config: Config): TeamsAdapter {
  if (config.bot.mode === "local") return new TeamsAdapter({});
  const { appId, password, tenantId, type, openIdMetadataUrl } = config.bot;
  return new TeamsAdapter({
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
  });
}
