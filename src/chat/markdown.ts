/**
 * ChatText → Markdown. The bot's own parts go out as written; the parts it did not write are
 * escaped so that no Markdown in them renders: `[Re-authenticate](https://evil.example/sso)` shows
 * as those characters, not as a link called "Re-authenticate". Slack's mrkdwn needs its own escaper
 * (`&`, `<`, `>` as entities); this one is for CommonMark-style Markdown as Teams reads it.
 */
import type { ChatText } from "../app/chat-text.ts";

/** ASCII punctuation that starts inline Markdown (links, images, emphasis, code, strike, tables, entities, HTML). */
const INLINE = /[\\`*_[\]~|&<>]/g;
/** Block markers that count only at the start of a line: headings, list items, quotes, numbered lists. */
const LINE_START = /^(#|[-+=]|\d+[.)])/;

/**
 * Literal text for one Markdown line. Line breaks become spaces, so someone else's text can never
 * start a line of its own (a heading, a list item, a fake "Approved by security" line).
 */
export function escapeMarkdown(text: string, atLineStart = false): string {
  const oneLine = text.replace(/\r\n|[\r\n\u0085\u2028\u2029]/g, " ");
  const escaped = oneLine.replace(INLINE, (char) => `\\${char}`);
  if (!atLineStart) return escaped;
  const trimmed = escaped.replace(/^[ \t]+/, "");
  return trimmed.replace(LINE_START, (marker) =>
    /^\d/.test(marker) ? `${marker.slice(0, -1)}\\${marker.slice(-1)}` : `\\${marker}`,
  );
}

/** An inline code span around literal text: the fence is longer than any backtick run inside. */
export function codeSpan(text: string): string {
  const oneLine = text.replace(/\r\n|[\r\n\u0085\u2028\u2029]/g, " ");
  const longest = Math.max(0, ...(oneLine.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  const pad = oneLine.startsWith("`") || oneLine.endsWith("`") ? " " : "";
  return `${fence}${pad}${oneLine}${pad}${fence}`;
}

/**
 * Renders ChatText as Markdown. `literal` runs first on every part the bot did not write (Teams
 * turns `<`/`>` into ‹›, since it reads them as HTML even in Markdown); `markup` on the bot's own.
 */
export function renderMarkdown(
  text: ChatText,
  transform: (text: string) => string = (value) => value,
): string {
  let out = "";
  for (const part of text.parts) {
    const atLineStart = out === "" || out.endsWith("\n");
    if (part.kind === "markup") out += transform(part.text);
    else if (part.kind === "code") out += codeSpan(transform(part.text));
    else out += escapeMarkdown(transform(part.text), atLineStart);
  }
  return out;
}
