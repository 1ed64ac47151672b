/** Read-only use cases: what VMs exist, and what a VM's JIT policy and approval rules say right now. */
import { ErrorCode, PortcullisError } from "../domain/errors.ts";
import { requestIdFromJustification } from "../domain/justification.ts";
import { type PersonRef, personName } from "../domain/person.ts";
import { type ApprovalFacts, approvalFacts } from "../domain/rules.ts";
import { maySeeDetails } from "../domain/visibility.ts";
import type { JitRequestPort, PortRule, VmWithJit } from "../domain/vm.ts";
import type { AppContext } from "./context.ts";
import type { Clock, JitGateway } from "./ports.ts";
import type { RequestRecord } from "./request-record.ts";

export async function listVms(gateway: JitGateway): Promise<readonly VmWithJit[]> {
  const vms = await gateway.listVms();
  return [...vms].sort(
    (a, b) => a.ref.name.localeCompare(b.ref.name) || a.ref.resourceGroup.localeCompare(b.ref.resourceGroup),
  );
}

export interface OpenGrant extends JitRequestPort {
  readonly requestor: string;
  readonly startTimeUtc: Date;
  readonly justification?: string;
}

/** An open grant as someone who may not see its details sees it (visibility.ts): the port and until when. */
export interface WithheldGrant {
  readonly withheld: true;
  readonly number: number;
  readonly endTimeUtc: Date;
}

export interface PolicyView {
  readonly vm: VmWithJit;
  readonly rules: readonly PortRule[];
  readonly openGrants: readonly (OpenGrant | WithheldGrant)[];
  readonly policyName: string;
  readonly location: string;
}

/** One VM by name, unambiguous, or a PortcullisError whose sentence says what to type instead. */
export async function findOneVm(gateway: JitGateway, typed: string): Promise<VmWithJit> {
  const name = typed.includes("/") ? (typed.split("/", 2)[1] ?? typed) : typed;
  const picked = pickVm(await gateway.findVms(name), typed);
  if (!picked.ok) throw new PortcullisError(ErrorCode.VmNotFound, picked.message);
  return picked.vm;
}

/** `web-01` or `rg-web/web-01` among the VMs given, case-insensitively; ambiguity is an answer, not a guess. */
export function pickVm(
  vms: readonly VmWithJit[],
  typed: string,
): { readonly ok: true; readonly vm: VmWithJit } | { readonly ok: false; readonly message: string } {
  const [group, name] = typed.includes("/") ? typed.split("/", 2) : [undefined, typed];
  const matches = vms.filter(
    (vm) =>
      vm.ref.name.toLowerCase() === (name ?? "").toLowerCase() &&
      (group === undefined || vm.ref.resourceGroup.toLowerCase() === group.toLowerCase()),
  );
  const [only] = matches;
  if (only === undefined) {
    return { ok: false, message: `I can't see a VM called "${typed}". Type \`vms\` for the ones I can see.` };
  }
  if (matches.length > 1) {
    const groups = matches.map((vm) => vm.ref.resourceGroup).join(", ");
    return {
      ok: false,
      message: `"${name}" exists in more than one resource group (${groups}). Name it as RESOURCE-GROUP/${name}.`,
    };
  }
  return { ok: true, vm: only };
}

/** The chat twin of `az security jit-policy show`: rules, plus the grants open now (fresh from Azure). */
export async function showPolicy(gateway: JitGateway, clock: Clock, name: string): Promise<PolicyView> {
  const vm = await findOneVm(gateway, name);
  if (vm.jit.kind !== "configured") {
    const state =
      vm.jit.kind === "not_configured" ? "JIT is not configured on it" : "JIT does not support it";
    throw new PortcullisError(
      ErrorCode.PolicyNotFound,
      `${vm.ref.name} has no JIT policy: ${state} (${vm.jit.reason}).`,
    );
  }
  const { policy } = vm.jit;
  const fresh = await gateway.getVmPolicy(
    { resourceGroup: policy.resourceGroup, location: policy.location, name: policy.policyName },
    vm.ref.id,
  );
  const now = clock.now().getTime();
  const openGrants = fresh.requests.flatMap((request) =>
    request.ports
      .filter((port) => port.status === "Initiated" && port.endTimeUtc.getTime() > now)
      .map((port) => ({
        ...port,
        requestor: request.requestor,
        startTimeUtc: request.startTimeUtc,
        ...(request.justification === undefined ? {} : { justification: request.justification }),
      })),
  );
  return { vm, rules: fresh.rules, openGrants, policyName: fresh.policyName, location: fresh.location };
}

/**
 * `policy <vm>` as `viewer` may see it: the open grants' requester, address and reason only for the
 * requester of each, the VM's approvers and the auditors (visibility.ts).
 */
export async function policyFor(
  ctx: AppContext,
  viewer: PersonRef,
  name: string,
): Promise<{ readonly view: PolicyView; readonly approval: PolicyApproval }> {
  const view = await showPolicy(ctx.gateway, ctx.clock, name);
  const approval = await approvalForPolicy(ctx, view.vm);
  const approvers = approval.facts.approvers.map((approver) => approver.principal);
  const openGrants = await Promise.all(
    view.openGrants.map(async (grant) => {
      if ("withheld" in grant) return grant;
      const requestId = requestIdFromJustification(grant.justification);
      const requester = requestId
        ? (await ctx.store.requests.get<RequestRecord>(requestId))?.data.request.requester
        : undefined;
      if (maySeeDetails(viewer, { approvers, requester }, ctx.settings.auditors)) return grant;
      const withheld: WithheldGrant = { withheld: true, number: grant.number, endTimeUtc: grant.endTimeUtc };
      return withheld;
    }),
  );
  return { view: { ...view, openGrants }, approval };
}

/** `policy <vm>`'s approval part: the rules' facts, with each approver named as people read them. */
export interface PolicyApproval {
  readonly facts: ApprovalFacts;
  /** In the facts' order: the UPN, or for an object id the UPN it signed in with here, when known. */
  readonly approvers: readonly { readonly name: string; readonly from: readonly string[] }[];
}

export async function approvalForPolicy(ctx: AppContext, vm: VmWithJit): Promise<PolicyApproval> {
  const facts = approvalFacts(
    {
      vmName: vm.ref.name,
      subscriptionId: vm.ref.subscriptionId,
      resourceGroup: vm.ref.resourceGroup,
      tags: vm.tags,
    },
    ctx.settings.rules,
  );
  const approvers = await Promise.all(
    facts.approvers.map(async ({ principal, from }) => {
      if (principal.includes("@")) return { name: personName({ upn: principal }), from };
      // An object id: the UPN the conversation store learnt when that person last talked to the bot.
      const known = await ctx.store.conversations.get(`user:${principal}`);
      return { name: personName({ id: principal, upn: known?.userPrincipalName }), from };
    }),
  );
  return { facts, approvers };
}
