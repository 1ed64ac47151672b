/**
 * The connect line of a firewall-fronted VM needs the firewall port Azure's DNAT uses. The spec has
 * it only on request ports (`mappedPort`): read it from the initiate response, else from the
 * policy's history entry of the same initiate, and keep it with the grant.
 */
import type { AccessRequest, MappedPort } from "../domain/access-request.ts";
import type { JitRequestRecord } from "../domain/vm.ts";
import type { AppContext } from "./context.ts";

const sameId = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

function fromRecords(records: readonly JitRequestRecord[], vmId: string, port: number): number | undefined {
  for (const record of records) {
    if (!sameId(record.vmId, vmId)) continue;
    const found = record.ports.find(
      (candidate) => candidate.number === port && candidate.mappedPort !== undefined,
    );
    if (found?.mappedPort !== undefined) return found.mappedPort;
  }
  return undefined;
}

/**
 * Each firewall-fronted target port's firewall port, from `records` (the initiate's answer) or the
 * history entry carrying `justification`. A port Azure reports nowhere is left out: the notice then
 * names the firewall without a port rather than guess one.
 */
export async function mappedPortsFor(
  ctx: AppContext,
  request: AccessRequest,
  records: readonly JitRequestRecord[],
  justification: string,
): Promise<MappedPort[]> {
  const out: MappedPort[] = [];
  for (const target of request.targets) {
    if (!target.viaFirewall) continue;
    let history: readonly JitRequestRecord[] | undefined;
    for (const port of target.ports) {
      let mapped = fromRecords(records, target.vmId, port);
      if (mapped === undefined) {
        history ??= await historyOf(ctx, target, justification);
        mapped = fromRecords(history, target.vmId, port);
      }
      if (mapped !== undefined) out.push({ vmId: target.vmId, port, mappedPort: mapped });
      else
        ctx.logger.warn(
          { requestId: request.id, vm: target.vmName, port },
          "Azure reported no firewall port for a firewall-fronted grant",
        );
    }
  }
  return out;
}

/** The history entries of this initiate (same justification), newest first; empty when the read fails. */
async function historyOf(
  ctx: AppContext,
  target: AccessRequest["targets"][number],
  justification: string,
): Promise<readonly JitRequestRecord[]> {
  try {
    const policy = await ctx.gateway.getVmPolicy(
      { resourceGroup: target.resourceGroup, location: target.location, name: target.policyName },
      target.vmId,
    );
    return policy.requests
      .filter((entry) => entry.justification === justification)
      .map((entry) => ({ ...entry, vmId: target.vmId }));
  } catch (error) {
    ctx.logger.warn(
      { err: error, vm: target.vmName },
      "could not read the JIT history for the firewall port",
    );
    return [];
  }
}
