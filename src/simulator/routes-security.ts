/** Microsoft.Security jitNetworkAccessPolicies, api-version 2020-01-01 (the paths @azure/arm-security 5.x calls). */
import { ArmError } from "./arm-error.ts";
import { ok, page, type Route, type RouteContext, route } from "./router.ts";

export const SECURITY_API_VERSION = "2020-01-01";
const RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Security";
const POLICY = `${RG}/locations/{location}/jitNetworkAccessPolicies/{name}`;

function p(ctx: RouteContext, key: string): string {
  return ctx.params[key] ?? "";
}

/** List routes on a missing resource group answer 404 like ARM; policy routes answer PolicyNotFound. */
function rg(ctx: RouteContext): string {
  return ctx.state.requireResourceGroup(p(ctx, "resourceGroup"));
}

export const securityRoutes: readonly Route[] = [
  route(
    "GET",
    "/subscriptions/{subscriptionId}/providers/Microsoft.Security/jitNetworkAccessPolicies",
    (ctx) => page(ctx, ctx.state.listPolicies({})),
  ),
  route(
    "GET",
    "/subscriptions/{subscriptionId}/providers/Microsoft.Security/locations/{location}/jitNetworkAccessPolicies",
    (ctx) => page(ctx, ctx.state.listPolicies({ location: p(ctx, "location") })),
  ),
  route("GET", `${RG}/jitNetworkAccessPolicies`, (ctx) =>
    page(ctx, ctx.state.listPolicies({ resourceGroup: rg(ctx) })),
  ),
  route("GET", `${RG}/locations/{location}/jitNetworkAccessPolicies`, (ctx) =>
    page(ctx, ctx.state.listPolicies({ resourceGroup: rg(ctx), location: p(ctx, "location") })),
  ),
  route("GET", POLICY, (ctx) =>
    ok(ctx.state.getPolicy(p(ctx, "resourceGroup"), p(ctx, "location"), p(ctx, "name"))),
  ),
  route("PUT", POLICY, (ctx) =>
    ok(ctx.state.putPolicy(p(ctx, "resourceGroup"), p(ctx, "location"), p(ctx, "name"), ctx.body)),
  ),
  route("DELETE", POLICY, (ctx) => ({
    status: ctx.state.deletePolicy(p(ctx, "resourceGroup"), p(ctx, "location"), p(ctx, "name")) ? 200 : 204,
  })),
  route("POST", `${POLICY}/{action}`, (ctx) => {
    if (p(ctx, "action").toLowerCase() !== "initiate") {
      throw new ArmError(404, "InvalidResourceType", `Action '${p(ctx, "action")}' is not supported.`);
    }
    const body = ctx.state.initiate(
      p(ctx, "resourceGroup"),
      p(ctx, "location"),
      p(ctx, "name"),
      ctx.body,
      ctx.requestor,
    );
    return { status: 202, body };
  }),
];
