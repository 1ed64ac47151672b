import { type ChatText, isChatText } from "../../app/chat-text.ts";
import { renderMarkdown } from "../markdown.ts";

/**
 * Message text for Teams, which reads it as Markdown. ChatText's held-apart parts (other people's
 * text) are escaped there; a plain string is the bot's own Markdown (help, coded error sentences).
 * Teams also reads `<…>` in message text as HTML and drops or escapes it (the Playground shows
 * `&lt;vm&gt;` inside code), so every `<`/`>` goes out as ‹›: the grammar's placeholders read
 * ‹vm›, and nobody's `<a href>` or `<at>` mention survives as markup.
 */
export function teamsText(text: ChatText | string): string {
  return isChatText(text) ? renderMarkdown(text, angleQuotes) : angleQuotes(text);
}

function angleQuotes(text: string): string {
  return text.replace(/</g, "‹").replace(/>/g, "›");
}
