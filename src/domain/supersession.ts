/**
 * JIT keeps one window per VM and port: a newer initiate for the same VM+port supersedes the older
 * one, whoever made it (Azure marks the older port Revoked, NewerRequestInitiated). Portcullis never
 * makes such an initiate over someone else's window (admission.ts), but the portal or another tool
 * can. This reads Azure's request history to tell when that happened to one of our windows.
 */
import type { AccessRequest } from "./access-request.ts";
import { samePrefix } from "./history-match.ts";
import { carriesTag, type InitiateTag } from "./justification.ts";
import type { JitRequestRecord } from "./vm.ts";

export interface Supersession {
  readonly vmName: string;
  readonly port: number;
  /** The newer initiate that replaced the window. */
  readonly by: JitRequestRecord;
}

/**
 * The first VM+port of `request` whose newest initiate in `history` is not one of `own` (the
 * request itself and the extensions that continue it, by nonce — by id for records from before
 * nonces — and from the request's source) and is newer than the request's own latest initiate.
 * Undefined when every port is still the request's own, or when the history does not show the
 * request at all (nothing to compare with: Azure's history is not complete for ever).
 * The end is not compared: `extend` and `done` move it, and a 128-bit nonce needs no help.
 */
export function supersededIn(
  request: AccessRequest,
  history: readonly JitRequestRecord[],
  own: readonly InitiateTag[],
): Supersession | undefined {
  for (const target of request.targets) {
    for (const port of target.ports) {
      const entries = history
        .filter(
          (entry) =>
            entry.vmId.toLowerCase() === target.vmId.toLowerCase() &&
            entry.ports.some((candidate) => candidate.number === port),
        )
        .sort((a, b) => b.startTimeUtc.getTime() - a.startTimeUtc.getTime());
      const isOwn = (entry: JitRequestRecord) =>
        own.some((tag) => carriesTag(entry.justification, tag)) &&
        entry.ports.some(
          (candidate) =>
            candidate.number === port &&
            request.source !== undefined &&
            samePrefix(candidate.allowedSourceAddressPrefix, request.source.prefix),
        );
      const newestOwn = entries.find(isOwn);
      const newest = entries[0];
      if (newestOwn === undefined || newest === undefined || isOwn(newest)) continue;
      if (newest.startTimeUtc.getTime() > newestOwn.startTimeUtc.getTime()) {
        return { vmName: target.vmName, port, by: newest };
      }
    }
  }
  return undefined;
}
