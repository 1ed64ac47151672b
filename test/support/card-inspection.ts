/**
 * Reading cards in tests: validation by the adaptivecards SDK at schema 1.5, and the text a user sees.
 * The SDK's ESM entry has extensionless imports plain Node cannot load; the UMD build parses and
 * validates without a DOM (DESIGN.md, "Toolchain facts").
 */
import { createRequire } from "node:module";

export const AC = createRequire(import.meta.url)(
  "adaptivecards/dist/adaptivecards.js",
) as typeof import("adaptivecards");

export type Json = Record<string, unknown>;

/** Parse with the adaptivecards SDK at schema 1.5; unknown types and newer properties show up as events. */
export function validate(json: Json): {
  parseEvents: string[];
  issues: string[];
  card: InstanceType<typeof AC.AdaptiveCard>;
} {
  const serialization = new AC.SerializationContext(AC.Versions.v1_5);
  const card = new AC.AdaptiveCard();
  card.parse(json, serialization);
  const parseEvents = Array.from(
    { length: serialization.eventCount },
    (_, i) => serialization.getEventAt(i).message,
  );
  const issues = card.validateProperties().validationEvents.map((event) => event.message);
  return { parseEvents, issues, card };
}

/** Every object in the card of a given type, depth first. */
export function elementsOfType(node: unknown, type: string): Json[] {
  if (Array.isArray(node)) return node.flatMap((item) => elementsOfType(item, type));
  if (typeof node !== "object" || node === null) return [];
  const record = node as Json;
  const own = record.type === type ? [record] : [];
  return [...own, ...Object.values(record).flatMap((value) => elementsOfType(value, type))];
}

export function runs(card: Json): string[] {
  return elementsOfType(card, "TextRun").map((run) => String(run.text));
}

export function visibleText(card: Json): string {
  const rich = elementsOfType(card, "RichTextBlock").map((block) =>
    (block.inlines as Json[]).map((run) => String(run.text)).join(""),
  );
  const blocks = elementsOfType(card, "TextBlock").map((block) => String(block.text));
  return [...blocks, ...rich].join("\n");
}
