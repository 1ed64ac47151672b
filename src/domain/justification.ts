/**
 * What Azure is told: the initiate calls for an approved request and the justification text
 * that ties Azure's request history back to ours. The request id leads the justification so a
 * retried initiate can be recognised in the policy's `requests` (and is never the part cut off).
 */
import { type AccessRequest, approvals, deciderOf } from "./access-request.ts";
import { personName } from "./person.ts";

/**
 * The REST spec (Microsoft.Security 2020-01-01, JitNetworkAccessPolicyInitiateRequest) sets no
 * maxLength on `justification`; the portal shows it in one line of the activity log. We keep it
 * well under any plausible limit.
 */
export const MAX_JUSTIFICATION_LENGTH = 1000;

const PREFIX = "Portcullis";

/** "Portcullis R-17 | requested by Sam Engineer (sam@contoso.com) | approved by Alice Owner (alice@contoso.com) | reason: INC-4211". */
export function justificationFor(request: AccessRequest): string {
  const requester = personName(request.requester);
  const approvers = approvals(request).map((decision) => personName(deciderOf(decision)));
  const head = [
    `${PREFIX} ${request.id}`,
    `requested by ${requester}`,
    approvers.length > 0 ? `approved by ${approvers.join(", ")}` : "not approved",
  ].join(" | ");
  const reason = request.reason ?? "no reason given";
  const room = MAX_JUSTIFICATION_LENGTH - head.length - " | reason: ".length;
  if (room < 1) return head.slice(0, MAX_JUSTIFICATION_LENGTH);
  const clipped = reason.length > room ? `${reason.slice(0, room - 1)}…` : reason;
  return `${head} | reason: ${clipped}`;
}

/** The Portcullis request id a justification names, if it is one of ours. */
export function requestIdFromJustification(justification: string | undefined): string | undefined {
  return /^Portcullis (R-\d+)(?:\s|$)/.exec(justification ?? "")?.[1];
}

export interface InitiateCall {
  readonly policy: { readonly resourceGroup: string; readonly location: string; readonly name: string };
  readonly virtualMachines: readonly {
    readonly vmId: string;
    readonly ports: readonly {
      readonly number: number;
      readonly endTimeUtc: Date;
      readonly allowedSourceAddressPrefix: string;
    }[];
  }[];
  readonly justification: string;
}

/**
 * One initiate per JIT policy (resource group + location + name) among the targets: one call
 * carries several VMs only when they share a policy. Shaped like app/ports InitiateInput.
 * Undefined when the request has no source yet (nothing may be opened without one).
 */
export function initiatePlan(request: AccessRequest, decidedAt: Date): readonly InitiateCall[] | undefined {
  const source = request.source;
  if (source === undefined) return undefined;
  const endTimeUtc = new Date(decidedAt.getTime() + request.durationMs);
  const justification = justificationFor(request);
  const calls = new Map<
    string,
    { policy: InitiateCall["policy"]; virtualMachines: InitiateCall["virtualMachines"][number][] }
  >();
  for (const target of request.targets) {
    const key = [target.resourceGroup, target.location, target.policyName].join("\u0000").toLowerCase();
    const call = calls.get(key) ?? {
      policy: { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
      virtualMachines: [],
    };
    call.virtualMachines.push({
      vmId: target.vmId,
      ports: target.ports.map((number) => ({
        number,
        endTimeUtc,
        allowedSourceAddressPrefix: source.prefix,
      })),
    });
    calls.set(key, call);
  }
  return [...calls.values()].map((call) => ({ ...call, justification }));
}
