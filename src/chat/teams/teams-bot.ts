/**
 * The Teams transport: a teams-ai Application on botbuilder's CloudAdapter. It turns activities
 * into use-case calls and replies; it holds no rule about VMs or approvals. Bot Framework SDK
 * and teams-ai v1 are out of support (see README), so they stay inside chat/teams/.
 */
import { Application, type TeamsAdapter, type TurnState } from "@microsoft/teams-ai";
import { ActivityTypes, TeamsInfo, TurnContext } from "botbuilder";
import { finishAccess } from "../../app/access-window.ts";
import { deliverOwedCards } from "../../app/approval-delivery.ts";
import { breakGlass, reviewBreakGlass } from "../../app/break-glass.ts";
import type { ChatText } from "../../app/chat-text.ts";
import type { AppContext, ChatUser } from "../../app/context.ts";
import { decide } from "../../app/decide.ts";
import { type DoctorReport, doctorForChat } from "../../app/doctor.ts";
import { auditReport } from "../../app/evidence.ts";
import { extendAccess } from "../../app/extend.ts";
import { listVms, policyFor } from "../../app/fleet.ts";
import { cancelRequest, status } from "../../app/my-requests.ts";
import { requestAccess } from "../../app/request-access.ts";
import type { Config } from "../../config.ts";
import { type Command, parseCommand, parseRequestId } from "../../domain/commands.ts";
import { asPortcullisError } from "../../domain/errors.ts";
import { storableText } from "../../domain/free-text.ts";
import { CARD_VERBS, WINDOW_VERBS } from "../cards.ts";
import { helpText, policyText, vmsText } from "../replies.ts";
import { teamsText } from "./teams-text.ts";

export interface TeamsBotDeps {
  readonly config: Config;
  readonly adapter: TeamsAdapter;
  readonly app: AppContext;
  /** The deployment checklist (`doctor`), wired in main.ts. */
  readonly doctor: () => Promise<DoctorReport>;
}

export interface TeamsBot {
  readonly adapter: TeamsAdapter;
  readonly app: Application<TurnState>;
}

export function createTeamsBot(deps: TeamsBotDeps): TeamsBot {
  const { config, adapter, app: ctx } = deps;
  const { logger } = ctx;
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
    if ((activity.type === ActivityTypes.Message || activity.type === ActivityTypes.Invoke) && activity.id) {
      const first = await ctx.store.inbox.firstSeen(
        `${activity.conversation?.id ?? ""}|${activity.id}`,
        ctx.clock.now(),
      );
      if (!first) {
        logger.info({ activityId: activity.id }, "duplicate delivery ignored");
        // A repeated card click still needs an invoke answer, or Teams shows the card as failed.
        if (activity.type === ActivityTypes.Invoke) {
          await context.sendActivity({
            type: ActivityTypes.InvokeResponse,
            value: {
              status: 200,
              body: {
                statusCode: 200,
                type: "application/vnd.microsoft.activity.message",
                value: "Already handled.",
              },
            },
          });
        }
        return false;
      }
    }
    try {
      await remember(context, ctx);
    } catch (error) {
      logger.warn({ err: error }, "could not store the conversation reference");
    }
    return true;
  });

  app.activity(ActivityTypes.Message, async (context) => {
    const parsed = parseCommand(context.activity.text ?? "");
    if (!parsed.ok) {
      await context.sendActivity(teamsText(parsed.message));
      return;
    }
    try {
      await context.sendActivity(teamsText(await run(parsed.command, context)));
    } catch (error) {
      const coded = asPortcullisError(error);
      logger.warn(
        { err: coded, cause: coded.cause, code: coded.code, command: parsed.command.kind },
        "command failed",
      );
      await context.sendActivity(teamsText(coded.userMessage));
    }
  });

  async function run(command: Command, context: TurnContext): Promise<ChatText | string> {
    switch (command.kind) {
      case "help":
        return helpText();
      case "vms":
        return vmsText(await listVms(ctx.gateway));
      case "policy": {
        const { view, approval } = await policyFor(ctx, await chatUser(context, ctx), command.vm);
        return policyText(view, approval);
      }
      case "request":
        return (await requestAccess(ctx, await chatUser(context, ctx), command)).reply;
      case "status":
        return status(ctx, await chatUser(context, ctx));
      case "cancel":
        return cancelRequest(ctx, await chatUser(context, ctx), command.requestId);
      case "done":
        return finishAccess(ctx, await chatUser(context, ctx), command.requestId);
      case "break_glass":
        return breakGlass(ctx, await chatUser(context, ctx), command);
      case "extend":
        return extendAccess(ctx, await chatUser(context, ctx), command.requestId, command.durationMs);
      case "doctor":
        return doctorForChat(await chatUser(context, ctx), config.admins, deps.doctor);
      case "audit":
        return auditReport(ctx, await chatUser(context, ctx), {
          sinceMs: command.sinceMs,
          ...(command.vm === undefined ? {} : { vm: command.vm }),
        });
    }
  }

  for (const [verb, kind] of [
    [CARD_VERBS.approve, "approve"],
    [CARD_VERBS.deny, "deny"],
  ] as const) {
    app.adaptiveCards.actionExecute<{ requestId?: unknown; denyReason?: unknown }>(
      verb,
      async (context, _state, data) => {
        // Card data is a hint: only the request id is taken from it; everything else is looked up.
        const requestId = cardRequestId(data.requestId);
        if (!requestId)
          return "This card is missing its request id; ask the requester to send the request again.";
        const reason = typeof data.denyReason === "string" ? data.denyReason : undefined;
        try {
          const result = await decide(ctx, await chatUser(context, ctx), requestId, kind, reason);
          // The clicker's copy shows the current state; a refusal is said in words and leaves the card as it is.
          // Answered in words, never with a card: the use case replaces every copy of the card itself,
          // and a card in this answer could land after a newer replacement (Active) and roll it back.
          return teamsText(result.message);
        } catch (error) {
          const coded = asPortcullisError(error);
          logger.warn({ err: coded, cause: coded.cause, requestId }, "decision failed");
          return coded.userMessage;
        }
      },
    );
  }

  for (const [verb, kind] of [
    [CARD_VERBS.acknowledge, "acknowledge"],
    [CARD_VERBS.flag, "flag"],
  ] as const) {
    app.adaptiveCards.actionExecute<{ requestId?: unknown; flagNote?: unknown }>(
      verb,
      async (context, _state, data) => {
        const requestId = cardRequestId(data.requestId);
        if (!requestId) return "This card is missing its request id.";
        const note = typeof data.flagNote === "string" ? data.flagNote : undefined;
        try {
          const result = await reviewBreakGlass(ctx, await chatUser(context, ctx), requestId, kind, note);
          return teamsText(result.message);
        } catch (error) {
          const coded = asPortcullisError(error);
          logger.warn({ err: coded, cause: coded.cause, requestId }, "review failed");
          return coded.userMessage;
        }
      },
    );
  }

  // The requester's window card: the answer is said in words; the card itself is replaced by the use case.
  app.adaptiveCards.actionExecute<{ requestId?: unknown; minutes?: unknown }>(
    WINDOW_VERBS.extend,
    async (context, _state, data) => {
      const requestId = cardRequestId(data.requestId);
      const minutes =
        typeof data.minutes === "number" && [30, 60].includes(data.minutes) ? data.minutes : undefined;
      if (!requestId || !minutes)
        return "This card's Extend button is malformed; type `extend R-… 30m` instead.";
      return teamsText(await extendAccess(ctx, await chatUser(context, ctx), requestId, minutes * 60_000));
    },
  );
  app.adaptiveCards.actionExecute<{ requestId?: unknown }>(
    WINDOW_VERBS.done,
    async (context, _state, data) => {
      const requestId = cardRequestId(data.requestId);
      if (!requestId) return "This card's Done button is malformed; type `done` instead.";
      return teamsText(await finishAccess(ctx, await chatUser(context, ctx), requestId));
    },
  );

  app.conversationUpdate("membersAdded", async (context) => {
    const botId = context.activity.recipient?.id;
    const humans = (context.activity.membersAdded ?? []).filter((member) => member.id !== botId);
    if (humans.length > 0) await context.sendActivity(teamsText(helpText()));
  });

  app.error(async (context, error) => {
    logger.error({ err: error }, "unhandled error in a turn");
    await context
      .sendActivity("Something went wrong on my side. The details are in the bot's log.")
      .catch(() => undefined);
  });

  return { adapter, app };
}

/** A card's request id, only in the shape we write: anything else is no id, never a query. */
function cardRequestId(value: unknown): string | undefined {
  return typeof value === "string" && value.length <= 16 ? parseRequestId(value) : undefined;
}

function tenantAllowed(config: Config, tenantId: string | undefined): boolean {
  if (config.bot.mode === "local" || config.bot.tenantId === undefined) return true;
  return tenantId?.toLowerCase() === config.bot.tenantId.toLowerCase();
}

function conversationKeyOf(context: TurnContext): string {
  const activity = context.activity;
  const userId = activity.from?.aadObjectId ?? activity.from?.id;
  const personal =
    activity.conversation?.conversationType === "personal" ||
    activity.conversation?.conversationType === undefined;
  return personal && userId ? `user:${userId}` : `conversation:${activity.conversation?.id ?? "unknown"}`;
}

/** The person typing or clicking; the UPN comes from the stored record or the Teams roster. */
async function chatUser(context: TurnContext, ctx: AppContext): Promise<ChatUser> {
  const activity = context.activity;
  const id = activity.from?.aadObjectId ?? activity.from?.id ?? "unknown";
  const known = await ctx.store.conversations.get(`user:${id}`);
  const upn = known?.userPrincipalName ?? (await lookUpUpn(context, ctx));
  // Display name and zone are stored with the request: cleaned of what the database cannot hold.
  const zone = (activity as { localTimezone?: unknown }).localTimezone;
  const timeZone = typeof zone === "string" ? storableText(zone).trim().slice(0, 64) : undefined;
  const name = typeof activity.from?.name === "string" ? storableText(activity.from.name).trim() : "";
  return {
    id,
    ...(upn ? { upn } : {}),
    name: name.slice(0, 256) || upn || id,
    conversationKey: conversationKeyOf(context),
    ...(timeZone ? { timeZone } : {}),
  };
}

/** Keeps a reference for every user and conversation the bot hears from, for proactive messages later. */
async function remember(context: TurnContext, ctx: AppContext): Promise<void> {
  const activity = context.activity;
  const key = conversationKeyOf(context);
  const known = await ctx.store.conversations.get(key);
  const personal = key.startsWith("user:");
  const upn = known?.userPrincipalName ?? (personal ? await lookUpUpn(context, ctx) : undefined);
  await ctx.store.conversations.upsert({
    key,
    channel: activity.channelId ?? "msteams",
    reference: TurnContext.getConversationReference(activity) as Record<string, unknown>,
    ...(upn === undefined ? {} : { userPrincipalName: upn }),
    updatedAt: ctx.clock.now(),
  });
  // A new 1:1 chat (or Portcullis added again) may belong to a reviewer nobody could reach before:
  // show them the cards they are owed. Teams sends several activities at once on install; each card goes once.
  if (personal && (!known || addsTheApp(activity))) {
    const id = key.slice("user:".length);
    await deliverOwedCards(ctx, { id, ...(upn ? { upn } : {}) });
  }
}

/** Teams' signals that a user (re-)installed the bot: installationUpdate "add", or the user among membersAdded. */
function addsTheApp(activity: TurnContext["activity"]): boolean {
  if (activity.type === ActivityTypes.InstallationUpdate) return activity.action === "add";
  if (activity.type !== ActivityTypes.ConversationUpdate) return false;
  const botId = activity.recipient?.id;
  return (activity.membersAdded ?? []).some((member) => member.id !== botId);
}

async function lookUpUpn(context: TurnContext, ctx: AppContext): Promise<string | undefined> {
  const userId = context.activity.from?.id;
  if (!userId) return undefined;
  try {
    const member = await TeamsInfo.getMember(context, userId);
    return member.userPrincipalName?.toLowerCase() ?? undefined;
  } catch (error) {
    ctx.logger.debug({ err: error }, "roster lookup failed; UPN unknown for now");
    return undefined;
  }
}
