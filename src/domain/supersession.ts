/**
 * JIT keeps one window per VM and port: a newer initiate for the same VM+port supersedes the older
 * one, whoever made it (Azure marks the older port Revoked, NewerRequestInitiated). Portcullis never
 * makes such an initiate over someone else's window (admission.ts), but the portal or another tool
 * can. This reads Azure's request history to tell when that happened to one of our windows.
 */
import type { AccessRequest } from "./access-request.ts";
import { requestIdFromJustification } from "./justification.ts";
import type { JitRequestRecord } from "./vm.ts";

export interface Supersession {
  readonly vmName: string;
  readonly port: number;
  /** The newer initiate that replaced the window. */
  readonly by: JitRequestRecord;
}

/**
 * The first VM+port of `request` whose newest initiate in `history` is not one of `ownIds` (the
 * request itself and the extensions that continue it) and is newer than the request's own latest
 * initiate. Undefined when every port is still the request's own, or when the history does not
 * show the request at all (nothing to compare with: Azure's history is not complete for ever).
 */
export function supersededIn(
  request: AccessRequest,
  history: readonly JitRequestRecord[],
  ownIds: ReadonlySet<string>,
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
      const isOwn = (entry: JitRequestRecord) => {
        const id = requestIdFromJustification(entry.justification);
        return id !== undefined && ownIds.has(id);
      };
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
