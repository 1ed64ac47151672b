/**
 * A person as Portcullis knows them: their directory identity (Entra object id and/or UPN), never
 * a chat platform's user id. `samePerson` is the one comparison the rules use.
 */
export interface Principal {
  /** Entra object id (or, where only that is known, the UPN). */
  readonly id: string;
  readonly upn?: string | undefined;
}

/** Same object id, or same UPN, compared case-insensitively. */
export function samePerson(a: Principal, b: Principal): boolean {
  if (sameId(a.id, b.id)) return true;
  if (a.upn !== undefined && b.upn !== undefined && sameId(a.upn, b.upn)) return true;
  // An id may itself be a UPN (a person listed by UPN only).
  return (a.upn !== undefined && sameId(a.upn, b.id)) || (b.upn !== undefined && sameId(b.upn, a.id));
}

function sameId(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}
