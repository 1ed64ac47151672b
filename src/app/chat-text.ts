/**
 * What the bot says in chat, with the text it did not write held apart. A template literal tagged
 * `md` is the bot's own Markdown; every `${value}` in it is text the bot did not write (a reason, a
 * name, a deny reason, an Azure field) and is shown literally, unless the value is itself ChatText.
 * Each chat adapter renders ChatText for its own markup (chat/teams/teams-text.ts escapes for Teams
 * Markdown; Slack's mrkdwn gets its own renderer).
 *
 * Why a type rather than an escape() to call: notices (OutboundMessage) and the replies of the use
 * cases that show other people's text accept only ChatText, which only `md` and the helpers below
 * make. Forgetting to escape is then a compile error, and a forgotten `md` inside a message shows
 * Markdown literally (visible, harmless) instead of rendering someone's link.
 */
const CHAT_TEXT: unique symbol = Symbol("ChatText");

export type ChatPart =
  /** Markdown the bot wrote: rendered as markup. */
  | { readonly kind: "markup"; readonly text: string }
  /** Text the bot did not write: shown literally, on one line. */
  | { readonly kind: "plain"; readonly text: string }
  /** Text the bot did not write, shown as inline code (a command to copy). */
  | { readonly kind: "code"; readonly text: string };

export interface ChatText {
  readonly [CHAT_TEXT]: true;
  readonly parts: readonly ChatPart[];
}

export type ChatValue = ChatText | string | number;

function chatText(parts: readonly ChatPart[]): ChatText {
  return { [CHAT_TEXT]: true, parts };
}

export function isChatText(value: unknown): value is ChatText {
  return typeof value === "object" && value !== null && CHAT_TEXT in value;
}

/** The bot's Markdown with other people's text interpolated as literal text. */
export function md(strings: TemplateStringsArray, ...values: readonly ChatValue[]): ChatText {
  const parts: ChatPart[] = [];
  strings.forEach((literal, index) => {
    if (literal !== "") parts.push({ kind: "markup", text: literal });
    if (index < values.length) parts.push(...partsOf(values[index] as ChatValue));
  });
  return chatText(parts);
}

/** Inline code around text the bot did not write, e.g. a command with a VM name in it. */
export function code(text: string): ChatText {
  return chatText([{ kind: "code", text }]);
}

/** Text the bot did not write, as a ChatText of its own. */
export function plain(text: string): ChatText {
  return chatText([{ kind: "plain", text }]);
}

/**
 * Markdown the bot itself wrote but holds in a string (the help table, the doctor's report).
 * Never for a string with someone else's text in it: that is what `md` is for.
 */
export function trustedMarkup(text: string): ChatText {
  return chatText([{ kind: "markup", text }]);
}

/** Items joined by a separator the bot wrote ("\n", ", "). */
export function joinChat(items: readonly ChatValue[], separator: string): ChatText {
  const parts: ChatPart[] = [];
  items.forEach((item, index) => {
    if (index > 0 && separator !== "") parts.push({ kind: "markup", text: separator });
    parts.push(...partsOf(item));
  });
  return chatText(parts);
}

/** What a reader sees, without markup: for logs and tests. */
export function plainTextOf(text: ChatText | string): string {
  return typeof text === "string" ? text : text.parts.map((part) => part.text).join("");
}

function partsOf(value: ChatValue): readonly ChatPart[] {
  if (isChatText(value)) return value.parts;
  return [{ kind: "plain", text: String(value) }];
}
