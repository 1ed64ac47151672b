/** Talks to a bot process as Teams does: messages and card clicks posted to /api/messages. */
import type { FakeConnector, FakeMember } from "./fake-connector.ts";

export interface InvokeAnswer {
  readonly status: number;
  readonly body: { readonly type?: string; readonly value?: unknown } | undefined;
}

let sequence = 0;

/** The people the end-to-end tests play: sam asks, alice owns web-01 (its jit-approvers tag), mallory neither. */
export const members = {
  sam: { id: "29:sam", aadObjectId: "aad-sam", name: "Sam Engineer", userPrincipalName: "sam@contoso.com" },
  alice: {
    id: "29:alice",
    aadObjectId: "aad-alice",
    name: "Alice Owner",
    userPrincipalName: "alice@contoso.com",
  },
  mallory: {
    id: "29:mallory",
    aadObjectId: "aad-mallory",
    name: "Mallory",
    userPrincipalName: "mallory@contoso.com",
  },
} as const satisfies Record<string, FakeMember>;

export function conversationOf(user: FakeMember): string {
  return `a:personal-${user.aadObjectId}`;
}

export function activityFrom(
  connector: FakeConnector,
  user: FakeMember,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  return {
    id: `activity-${process.pid}-${++sequence}`,
    channelId: "msteams",
    serviceUrl: connector.url,
    timestamp: new Date().toISOString(),
    from: { id: user.id, aadObjectId: user.aadObjectId, name: user.name },
    recipient: { id: "28:portcullis", name: "Portcullis" },
    conversation: { id: conversationOf(user), conversationType: "personal", tenantId: "tenant-1" },
    ...extra,
  };
}

async function post(botUrl: string, activity: Record<string, unknown>): Promise<Response> {
  return fetch(`${botUrl}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(activity),
  });
}

/** Sends a message and resolves with the bot's reply to it. */
export async function say(
  botUrl: string,
  connector: FakeConnector,
  user: FakeMember,
  text: string,
): Promise<string> {
  const activity = activityFrom(connector, user, { type: "message", text });
  const response = await post(botUrl, activity);
  if (response.status >= 300) throw new Error(`the bot answered ${response.status} to "${text}"`);
  const reply = await connector.waitFor(
    (sent) => sent.body.replyToId === activity.id && sent.body.type === "message",
  );
  return String(reply.body.text);
}

/** The adaptiveCard/action invoke a click on an Action.Execute button sends; `id` repeats a delivery. */
export function clickActivity(
  connector: FakeConnector,
  user: FakeMember,
  verb: string,
  data: Record<string, unknown>,
): Record<string, unknown> {
  return activityFrom(connector, user, {
    type: "invoke",
    name: "adaptiveCard/action",
    replyToId: "card",
    value: { action: { type: "Action.Execute", verb, data }, trigger: "manual" },
  });
}

/** Posts an invoke; the answer comes in the HTTP response. */
export async function invoke(botUrl: string, activity: Record<string, unknown>): Promise<InvokeAnswer> {
  const response = await post(botUrl, activity);
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as InvokeAnswer["body"]) : undefined };
}

export function requestIdIn(text: string): string {
  const id = /R-\d+/.exec(text)?.[0];
  if (!id) throw new Error(`no request id in: ${text}`);
  return id;
}
