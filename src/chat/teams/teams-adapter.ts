import { TeamsAdapter } from "@microsoft/teams-ai";
import type { Config } from "../../config.ts";

/**
 * Local mode: no app id, so botbuilder neither checks incoming tokens nor signs outgoing calls.
 * Otherwise CloudAdapter validates every request's Bot Framework token itself.
 */
export function createTeamsAdapter(config: Config): TeamsAdapter {
  if (config.bot.mode === "local") return new TeamsAdapter({});
  const { appId, password, tenantId } = config.bot;
  return new TeamsAdapter({
    MicrosoftAppId: appId,
    ...(password === undefined ? {} : { MicrosoftAppPassword: password }),
    MicrosoftAppType: tenantId ? "SingleTenant" : "MultiTenant",
    ...(tenantId === undefined ? {} : { MicrosoftAppTenantId: tenantId }),
  });
}
