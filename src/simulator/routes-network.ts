/**
 * Microsoft.Network reads, served generically from the resource model: any resource or child resource by
 * id (NIC, NSG with live JIT rules, securityRules, defaultSecurityRules, virtualNetworks/subnets,
 * publicIPAddresses, routeTables, azureFirewalls, firewallPolicies) and their collections.
 * Also the subscription, its resource groups, and the generic `/resources` listing.
 */
import { ArmError, resourceNotFound } from "./arm-error.ts";
import type { Json } from "./arm-resources.ts";
import { ok, page, type Route, route } from "./router.ts";

const SUB = "/subscriptions/{subscriptionId}";

export const networkRoutes: readonly Route[] = [
  route("GET", `${SUB}/providers/Microsoft.Network/{type}`, (ctx) =>
    page(ctx, ctx.state.resourcesOfType(`Microsoft.Network/${ctx.params.type ?? ""}`)),
  ),
  route("GET", `${SUB}/resourceGroups/{resourceGroup}/providers/Microsoft.Network/{*rest}`, (ctx) => {
    const rg = ctx.state.requireResourceGroup(ctx.params.resourceGroup ?? "");
    const rest = ctx.params.rest ?? "";
    const path = `/subscriptions/${ctx.state.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/${rest}`;
    const segments = rest.split("/").filter((s) => s.length > 0);
    // type/name, type/name/child/name … are single resources; type, type/name/child are collections.
    if (segments.length % 2 === 0) {
      const resource = ctx.state.getResource(path);
      if (!resource) {
        const typePath = segments.filter((_, i) => i % 2 === 0).join("/");
        throw resourceNotFound(
          `Microsoft.Network/${typePath}`,
          segments.filter((_, i) => i % 2 === 1).join("/"),
          rg,
        );
      }
      return ok(resource);
    }
    const list = ctx.state.listResources(path);
    if (!list) throw resourceNotFound(`Microsoft.Network/${segments[0] ?? ""}`, segments[1] ?? "", rg);
    return page(ctx, list);
  }),
  route("GET", SUB, (ctx) => ok(subscriptionJson(ctx.state.subscriptionId, ctx.state.fleet))),
  route("GET", `${SUB}/resourcegroups`, (ctx) => page(ctx, ctx.state.resourceGroupJson())),
  route("GET", `${SUB}/resourcegroups/{resourceGroup}`, (ctx) => {
    const name = ctx.state.requireResourceGroup(ctx.params.resourceGroup ?? "");
    return ok(ctx.state.resourceGroupJson().find((r) => r.name === name));
  }),
  route("GET", `${SUB}/resources`, (ctx) => {
    // Supports the one filter clients use here: $filter=resourceType eq '<type>'.
    const filter = ctx.url.searchParams.get("$filter");
    let type: string | undefined;
    if (filter) {
      const m = /^\s*resourceType\s+eq\s+'([^']+)'\s*$/i.exec(filter);
      if (!m?.[1]) throw new ArmError(400, "InvalidFilterInQueryString", `Unsupported $filter '${filter}'.`);
      type = m[1].toLowerCase();
    }
    const all = ctx.state
      .allResources()
      .filter((r) => type === undefined || String(r.type).toLowerCase() === type)
      .map((r) => genericResource(r));
    return page(ctx, all);
  }),
  route("GET", "/subscriptions", (ctx) =>
    page(ctx, [subscriptionJson(ctx.state.subscriptionId, ctx.state.fleet)]),
  ),
];

function genericResource(r: Json): Json {
  const out: Json = { id: r.id, name: r.name, type: r.type, location: r.location };
  if (r.tags !== undefined) out.tags = r.tags;
  return out;
}

function subscriptionJson(
  subscriptionId: string,
  fleet: { subscriptionName: string; tenantId?: string | undefined },
): Json {
  return {
    id: `/subscriptions/${subscriptionId}`,
    subscriptionId,
    displayName: fleet.subscriptionName,
    state: "Enabled",
    ...(fleet.tenantId ? { tenantId: fleet.tenantId } : {}),
  };
}
