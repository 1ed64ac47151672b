/**
 * Who may see who asked for access, from which address and why: the requester, the VM's approvers
 * (as listed: UPN or Entra object id) and the auditors. Everyone else may see that a port is open
 * and until when — enough to know not to ask for it now — but not by whom or from where. One rule
 * for `audit` and `policy`.
 */
import { type PersonRef, samePerson } from "./person.ts";

export function maySeeDetails(
  viewer: PersonRef,
  subject: { readonly approvers: readonly string[]; readonly requester?: PersonRef | undefined },
  auditors: readonly string[],
): boolean {
  const listed = (entries: readonly string[]) =>
    entries.some((entry) => samePerson({ id: entry, upn: entry }, viewer));
  return (
    listed(auditors) ||
    listed(subject.approvers) ||
    (subject.requester !== undefined && samePerson(subject.requester, viewer))
  );
}
