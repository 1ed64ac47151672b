/**
 * Teams reads `<…>` in message text as HTML and drops or escapes it (the Playground shows `&lt;vm&gt;`
 * inside code), so the grammar's placeholders go out as ‹vm›. Transport-level: replies stay plain text.
 */
export function teamsText(text: string): string {
  return text.replace(/</g, "‹").replace(/>/g, "›");
}
