/**
 * The evidence hash of an audit payload: SHA-256 (hex) of its canonical JSON. Canonical means
 * JSON.stringify's values (toJSON honoured, undefined members dropped) with object keys sorted
 * at every depth and no whitespace, so the hash survives jsonb's reordering of keys.
 */
import { createHash } from "node:crypto";

export function canonicalJson(value: unknown): string {
  const text = canonical(value);
  if (text === undefined) throw new TypeError("An audit payload must be JSON-serialisable");
  return text;
}

export function payloadHash(payload: unknown): string {
  return createHash("sha256").update(canonicalJson(payload), "utf8").digest("hex");
}

function canonical(value: unknown): string | undefined {
  const plain = hasToJson(value) ? value.toJSON() : value;
  if (plain === null || typeof plain !== "object") {
    // Primitives as JSON.stringify writes them: undefined and functions have no text, NaN is null.
    return JSON.stringify(plain);
  }
  if (Array.isArray(plain)) {
    return `[${plain.map((item: unknown) => canonical(item) ?? "null").join(",")}]`;
  }
  const members: string[] = [];
  for (const key of Object.keys(plain).sort()) {
    const text = canonical((plain as Record<string, unknown>)[key]);
    if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${members.join(",")}}`;
}

function hasToJson(value: unknown): value is { toJSON(): unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === "function"
  );
}
