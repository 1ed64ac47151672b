/**
 * Proactive messages on Teams: continueConversation with a stored reference, or createConversation
 * for a user known by Entra object id. Failures are logged and reported as "unreachable", never thrown:
 * the caller decides who else to tell.
 */

import type { TeamsAdapter } from "@microsoft/teams-ai";
import {
  type Activity,
  ActivityTypes,
  CardFactory,
  type ConversationReference,
  type TurnContext,
} from "botbuilder";
import type { Logger } from "pino";
import type {
  Clock,
  ConversationStore,
  MessageHandle,
  Notifier,
  OutboundMessage,
  Recipient,
} from "../../app/ports.ts";
import {
  approvalCard,
  approvalCardSummary,
  breakGlassCard,
  breakGlassCardSummary,
  windowCard,
} from "../cards.ts";
import { teamsText } from "./teams-text.ts";

export function toActivity(message: OutboundMessage): Partial<Activity> {
  if (message.kind === "text")
    return { type: ActivityTypes.Message, text: teamsText(message.text), textFormat: "markdown" };
  if (message.kind === "window") {
    return {
      type: ActivityTypes.Message,
      summary: `${message.request.id}: your access closes soon`,
      ...(message.text === undefined ? {} : { text: teamsText(message.text), textFormat: "markdown" }),
      attachments: [CardFactory.adaptiveCard(windowCard(message.request))],
    };
  }
  if (message.kind === "break-glass") {
    return {
      type: ActivityTypes.Message,
      summary: breakGlassCardSummary(message.request),
      attachments: [CardFactory.adaptiveCard(breakGlassCard(message.request))],
    };
  }
  return {
    type: ActivityTypes.Message,
    summary: approvalCardSummary(message.request),
    attachments: [CardFactory.adaptiveCard(approvalCard(message.request, message.context))],
  };
}

export function createTeamsNotifier(deps: {
  readonly adapter: TeamsAdapter;
  readonly botAppId: string;
  readonly conversations: ConversationStore;
  readonly clock: Clock;
  readonly logger: Logger;
}): Notifier {
  const { adapter, botAppId, conversations, clock, logger } = deps;

  async function send(
    reference: Partial<ConversationReference>,
    key: string,
    message: OutboundMessage,
  ): Promise<MessageHandle | undefined> {
    let activityId: string | undefined;
    await adapter.continueConversationAsync(botAppId, reference, async (context: TurnContext) => {
      activityId = (await context.sendActivity(toActivity(message)))?.id;
    });
    return activityId === undefined ? undefined : { conversationKey: key, activityId };
  }

  async function findUser(recipient: Recipient) {
    if (recipient.userId) {
      const byId = await conversations.get(`user:${recipient.userId}`);
      if (byId) return byId;
    }
    return recipient.upn ? conversations.findByUserPrincipalName(recipient.upn) : undefined;
  }

  async function open(
    objectId: string,
    via: Partial<ConversationReference>,
    message: OutboundMessage,
  ): Promise<MessageHandle | undefined> {
    const tenantId = via.conversation?.tenantId;
    if (!via.serviceUrl || !tenantId) return undefined;
    let result: MessageHandle | undefined;
    await adapter.createConversationAsync(
      botAppId,
      via.channelId ?? "msteams",
      via.serviceUrl,
      "https://api.botframework.com",
      {
        isGroup: false,
        bot: via.bot ?? { id: botAppId, name: "Portcullis" },
        members: [{ id: objectId, name: "" }],
        tenantId,
        channelData: { tenant: { id: tenantId } },
      },
      async (context: TurnContext) => {
        const reference = context.activity
          ? ({ ...via, conversation: context.activity.conversation } as Partial<ConversationReference>)
          : via;
        const key = `user:${objectId}`;
        await conversations.upsert({
          key,
          channel: via.channelId ?? "msteams",
          reference: reference as Record<string, unknown>,
          updatedAt: clock.now(),
        });
        const sent = await context.sendActivity(toActivity(message));
        if (sent?.id) result = { conversationKey: key, activityId: sent.id };
      },
    );
    return result;
  }

  return {
    async toUser(recipient, message, options) {
      try {
        const known = await findUser(recipient);
        if (known) return await send(known.reference as Partial<ConversationReference>, known.key, message);
        const objectId = recipient.userId;
        const via = options?.viaConversationKey
          ? await conversations.get(options.viaConversationKey)
          : undefined;
        if (objectId && via)
          return await open(objectId, via.reference as Partial<ConversationReference>, message);
        return undefined;
      } catch (error) {
        logger.warn({ err: error, recipient }, "could not reach a user");
        return undefined;
      }
    },
    async toConversation(key, message) {
      try {
        const known = await conversations.get(key);
        return known
          ? await send(known.reference as Partial<ConversationReference>, key, message)
          : undefined;
      } catch (error) {
        logger.warn({ err: error, key }, "could not reach a conversation");
        return undefined;
      }
    },
    async update(handle, message) {
      try {
        const known = await conversations.get(handle.conversationKey);
        if (!known) return false;
        await adapter.continueConversationAsync(
          botAppId,
          known.reference as Partial<ConversationReference>,
          async (context) => {
            await context.updateActivity({ ...toActivity(message), id: handle.activityId });
          },
        );
        return true;
      } catch (error) {
        logger.warn({ err: error, handle }, "could not update a message");
        return false;
      }
    },
  };
}
