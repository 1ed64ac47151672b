/**
 * How a person is named wherever someone reads it (cards, replies, evidence, Azure's justification):
 * by display name and UPN, never by an Entra object id when anything better is known. Transitions
 * nobody clicked (timers, Azure's answer) are the bot's, and read as "Portcullis".
 */

/** The actor id the bot writes for transitions nobody clicked (timers, Azure's answer). */
export const SYSTEM_ACTOR = "portcullis";

/** What the bot calls itself when it is the one who acted. */
export const SYSTEM_NAME = "Portcullis";

/** Whatever is known about a person: an Entra object id, a UPN, a display name — any of them may be missing. */
export interface PersonRef {
  readonly id?: string | undefined;
  readonly upn?: string | undefined;
  readonly name?: string | undefined;
}

/**
 * "Alice Owner (alice@contoso.com)", or whichever of the two is known; "Portcullis" for the bot.
 * With only an object id (records written before names were kept, a tag that lists an id nobody
 * has resolved) the id is said as what it is, so it can still be looked up in Entra.
 */
export function personName(person: PersonRef | undefined, unknown = "someone"): string {
  if (person === undefined) return unknown;
  const name = person.name?.trim() || undefined;
  const upn = person.upn?.trim() || undefined;
  if (name !== undefined && upn !== undefined && name.toLowerCase() !== upn.toLowerCase())
    return `${name} (${upn})`;
  if (upn !== undefined) return upn;
  if (name !== undefined) return name;
  if (person.id === undefined || person.id.trim() === "") return unknown;
  if (person.id.trim().toLowerCase() === SYSTEM_ACTOR) return SYSTEM_NAME;
  return `Entra object id ${person.id}`;
}

/**
 * The one notion of "the same person": same object id, or same UPN, case-insensitively — and an id
 * that is itself a UPN (someone listed by UPN only) matches that UPN. Never a chat platform's id.
 */
export function samePerson(a: PersonRef, b: PersonRef): boolean {
  const same = (x: string | undefined, y: string | undefined): boolean =>
    x !== undefined && y !== undefined && x.trim().toLowerCase() === y.trim().toLowerCase();
  return same(a.id, b.id) || same(a.upn, b.upn) || same(a.upn, b.id) || same(a.id, b.upn);
}
