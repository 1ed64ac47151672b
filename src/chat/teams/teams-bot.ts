/**
 * The Teams transport: a teams-ai Application on botbuilder's CloudAdapter. It turns activities
 * into use-case calls and replies; it holds no rule about VMs or approvals. Bot Framework SDK
 * and teams-ai v1 are out of support (see README), so they stay inside chat/teams/.
 */
import { Application, TeamsAdapter, type TurnState } from "@microsoft/teams-ai";
import { ActivityTypes, TeamsInfo, TurnContext } from "botbuilder";
import type { Logger } from "pino";
import { listVms, showPolicy } from "../../app/fleet.ts";
import type { Clock, JitGateway, Store } from "../../app/ports.ts";
import type { Config } from "../../config.ts";
import { parseCommand } from "../../domain/commands.ts";
import { asPortcullisError } from "../../domain/errors.ts";
import { helpText, policyText, vmsText } from "../replies.ts";

export interface TeamsBotDeps {
  readonly config: Config;
  readonly store: Store;
  readonly gateway: JitGateway;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface TeamsBot {
  readonly adapter: TeamsAdapter;
  readonly app: Application<TurnState>;
}

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

export function createTeamsBot(deps: TeamsBotDeps): TeamsBot {
  const { config, store, gateway, clock, logger } = deps;
  const adapter = createTeamsAdapter(config);
  const app = new Application<TurnState>({
    adapter,
    ...(config.bot.mode === "authenticated" ? { botAppId: config.bot.appId } : {}),
    removeRecipientMention: true,
    // The typing indicator is cosmetic and doubles outbound calls per turn.
    startTypingTimer: false,
    longRunningMessages: false,
  });

  app.turn("beforeTurn", async (context) => {
    const activity = context.activity;
    if (!tenantAllowed(config, activity.conversation?.tenantId)) {
      logger.warn({ tenantId: activity.conversation?.tenantId }, "activity from another tenant refused");
      return false;
    }
    if (activity.type === ActivityTypes.Message && activity.id) {
      const first = await store.inbox.firstSeen(
        `${activity.conversation?.id ?? ""}|${activity.id}`,
        clock.now(),
      );
      if (!first) {
        logger.info({ activityId: activity.id }, "duplicate delivery ignored");
        return false;
      }
    }
    await remember(context, deps).catch((error: unknown) =>
      logger.warn({ err: error }, "could not store the conversation reference"),
    );
    return true;
  });

  app.activity(ActivityTypes.Message, async (context) => {
    const text = context.activity.text ?? "";
    const parsed = parseCommand(text);
    if (!parsed.ok) {
      await context.sendActivity(parsed.message);
      return;
    }
    const { command } = parsed;
    try {
      switch (command.kind) {
        case "help":
          await context.sendActivity(helpText());
          return;
        case "vms":
          await context.sendActivity(vmsText(await listVms(gateway)));
          return;
        case "policy":
          await context.sendActivity(policyText(await showPolicy(gateway, clock, command.vm)));
          return;
      }
    } catch (error) {
      const coded = asPortcullisError(error);
      logger.warn(
        { err: coded, cause: coded.cause, code: coded.code, command: command.kind },
        "command failed",
      );
      await context.sendActivity(coded.userMessage);
    }
  });

  app.conversationUpdate("membersAdded", async (context) => {
    const botId = context.activity.recipient?.id;
    const humans = (context.activity.membersAdded ?? []).filter((member) => member.id !== botId);
    if (humans.length > 0) await context.sendActivity(helpText());
  });

  app.error(async (context, error) => {
    logger.error({ err: error }, "unhandled error in a turn");
    await context
      .sendActivity("Something went wrong on my side. The details are in the bot's log.")
      .catch(() => undefined);
  });

  return { adapter, app };
}

function tenantAllowed(config: Config, tenantId: string | undefined): boolean {
  if (config.bot.mode === "local" || config.bot.tenantId === undefined) return true;
  return tenantId?.toLowerCase() === config.bot.tenantId.toLowerCase();
}

/** Keeps a reference for every user and conversation the bot hears from, for proactive messages later. */
async function remember(context: TurnContext, deps: TeamsBotDeps): Promise<void> {
  const activity = context.activity;
  const reference = TurnContext.getConversationReference(activity);
  const userId = activity.from?.aadObjectId ?? activity.from?.id;
  const personal =
    activity.conversation?.conversationType === "personal" ||
    activity.conversation?.conversationType === undefined;
  const key =
    personal && userId ? `user:${userId}` : `conversation:${activity.conversation?.id ?? "unknown"}`;
  const known = await deps.store.conversations.get(key);
  const upn = known?.userPrincipalName ?? (personal ? await lookUpUpn(context, deps.logger) : undefined);
  await deps.store.conversations.upsert({
    key,
    channel: activity.channelId ?? "msteams",
    reference: reference as Record<string, unknown>,
    ...(upn === undefined ? {} : { userPrincipalName: upn }),
    updatedAt: deps.clock.now(),
  });
}

async function lookUpUpn(context: TurnContext, logger: Logger): Promise<string | undefined> {
  const userId = context.activity.from?.id;
  if (!userId) return undefined;
  try {
    const member = await TeamsInfo.getMember(context, userId);
    return member.userPrincipalName ?? undefined;
  } catch (error) {
    logger.debug({ err: error }, "roster lookup failed; UPN unknown for now");
    return undefined;
  }
}
