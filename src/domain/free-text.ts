/**
 * Text people type that we keep and show again: request and break-glass reasons, deny reasons,
 * flag notes (issue 10, items 5 and 7). One limit and one cleaning for all of them.
 *
 * Cleaning, not refusing: PostgreSQL cannot store U+0000 (text or jsonb) nor a lone UTF-16
 * surrogate (jsonb), and neither means anything in a chat message, so they are replaced where text
 * enters — the command parser and the card inputs (via `checkFreeText` in the domain transitions).
 * NUL and the other control characters become a space (tab and line breaks stay), a lone
 * surrogate becomes U+FFFD "�", which stays visible in the audit rather than vanishing.
 */

/** Longer text does not fit a card, a chat line or Azure's justification; a ticket id and a line is the intent. */
export const MAX_FREE_TEXT_LENGTH = 500;

// Every control character (Unicode Cc: U+0000–U+001F, U+007F–U+009F) except tab, line feed and carriage return.
const CONTROL = /[^\P{Cc}\t\n\r]/gu;

/** Text the database can store and a chat can show: controls → space, lone surrogates → U+FFFD. */
export function storableText(text: string): string {
  return text.toWellFormed().replace(CONTROL, " ");
}

export type FreeTextCheck =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: "empty" | "too_long"; readonly message: string };

/**
 * A free-text field as stored: cleaned, trimmed, and at most MAX_FREE_TEXT_LENGTH characters.
 * `field` names it in the refusal ("The deny reason"), so the user knows which box to shorten.
 */
export function checkFreeText(text: string, field: string): FreeTextCheck {
  const cleaned = storableText(text).trim();
  if (cleaned === "") return { ok: false, reason: "empty", message: `${field} is empty.` };
  if (cleaned.length > MAX_FREE_TEXT_LENGTH) {
    return {
      ok: false,
      reason: "too_long",
      message: `${field} is ${cleaned.length} characters; keep it to ${MAX_FREE_TEXT_LENGTH} or fewer (a ticket id and a line is plenty).`,
    };
  }
  return { ok: true, text: cleaned };
}
