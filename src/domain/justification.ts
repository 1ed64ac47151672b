/**
 * What Azure is told: the initiate calls for an approved request and the justification text
 * that ties Azure's request history back to ours. The request id and a random nonce lead the
 * justification, so a retried initiate can be recognised in the policy's `requests` (and they are
 * never the part cut off). The id alone is a per-database counter: two deployments, a database
 * reset or a person typing "Portcullis R-17" in the portal make the same one. The nonce cannot
 * collide; history is matched on it, with the VM, port, source and end (history-match.ts).
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

/** A nonce as it may appear in a justification: base64url, 16 to 64 characters. */
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;

export function isNonce(text: string): boolean {
  return NONCE.test(text);
}

/**
 * "Portcullis R-17 #Xq3…(nonce) | requested by Sam Engineer (sam@contoso.com) | approved by Alice
 * Owner (alice@contoso.com) | reason: INC-4211". Without a nonce (records from before nonces): the
 * old form, so a retry of an old initiate sends the identical text.
 */
export function justificationFor(request: AccessRequest, nonce?: string): string {
  if (nonce !== undefined && !isNonce(nonce)) throw new Error("a nonce is 16-64 base64url characters");
  const requester = personName(request.requester);
  const approvers = approvals(request).map((decision) => personName(deciderOf(decision)));
  const head = [
    nonce === undefined ? `${PREFIX} ${request.id}` : `${PREFIX} ${request.id} #${nonce}`,
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

/** The nonce a justification carries right after the request id, if any. */
export function nonceFromJustification(justification: string | undefined): string | undefined {
  return /^Portcullis R-\d+ #([A-Za-z0-9_-]{16,64})(?:\s|$)/.exec(justification ?? "")?.[1];
}

/** What ties a history entry to one of our initiates. */
export interface InitiateTag {
  readonly requestId: string;
  /** Absent for records from before nonces. */
  readonly nonce?: string;
  /** Without a nonce: the exact justification sent, when known (stricter than the id alone). */
  readonly justification?: string;
}

/**
 * Does a history entry's justification carry this tag? With a nonce, the nonce decides (the id is
 * a counter others can repeat; the rest of the text may be cut). Without one, the exact text when
 * known, else the id: how records made before nonces were matched, kept so they still work.
 */
export function carriesTag(justification: string | undefined, tag: InitiateTag): boolean {
  if (requestIdFromJustification(justification) !== tag.requestId) return false;
  if (tag.nonce !== undefined) return nonceFromJustification(justification) === tag.nonce;
  if (tag.justification !== undefined) return justification === tag.justification;
  return true;
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
export function initiatePlan(
  request: AccessRequest,
  decidedAt: Date,
  nonce?: string,
): readonly InitiateCall[] | undefined {
  const source = request.source;
  if (source === undefined) return undefined;
  const endTimeUtc = new Date(decidedAt.getTime() + request.durationMs);
  const justification = justificationFor(request, nonce);
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
