/**
 * The custom role the bot's identity gets (infra/portcullis-role.json, which the Bicep template
 * loads too): the one list of Azure actions Portcullis needs. The doctor compares the identity's
 * effective permissions against it; a contract test checks it against what the gateway calls.
 */
import role from "../../infra/portcullis-role.json" with { type: "json" };

export const BOT_ROLE_NAME: string = role.Name;
export const BOT_ROLE_ACTIONS: readonly string[] = role.Actions;
