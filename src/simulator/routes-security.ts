/** Microsoft.Security jitNetworkAccessPolicies, api-version 2020-01-01 (the paths @azure/arm-security 5.x calls). */
import { ArmError } from "./arm-error.ts";
import { ok, page, type Route, type RouteContext, route } from "./router.ts";

export const SECURITY_API_VERSION = "2020-01-01";
const RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Security";
const POLICY = `${RG}/locations/{location}/jitNetworkAccessPolicies/{name}`;

/**
 * Defender's own checks beyond ARM's one action per request (Learn: "When a user requests access to
 * a VM, Defender for Cloud checks that the user has Azure RBAC permissions for that VM"; its JIT
 * permission table lists Microsoft.Security/policies/read for reading JIT policies). Which actions
 * the service really checks is unverified: ASSUMPTIONS.md names the live call that settles it.
 */
function serviceReadCheck(ctx: RouteContext): void {
  ctx.rbac.demand(
    ctx.requestor,
    "Microsoft.Security/policies/read",
    `/subscriptions/${ctx.state.subscriptionId}`,
  );
}

function serviceInitiateCheck(ctx: RouteContext): void {
  const vms = (ctx.body as { virtualMachines?: unknown } | undefined)?.virtualMachines;
  if (!Array.isArray(vms)) return; // the body check answers this one
  for (const vm of vms) {
    const id = (vm as { id?: unknown } | null)?.id;
    if (typeof id === "string" && id.length > 0) {
      ctx.rbac.demand(ctx.requestor, "Microsoft.Compute/virtualMachines/read", id);
    }
  }
}

/** A JIT read: Defender's service-side check, then the handler. */
function read(handler: (ctx: RouteContext) => ReturnType<Route["handler"]>): Route["handler"] {
  return (ctx) => {
    serviceReadCheck(ctx);
    return handler(ctx);
  };
}

/** The initiating client's address as the service sees it (IPv4-mapped IPv6 written as IPv4). */
function callerAddress(ctx: RouteContext): string {
  const address = ctx.req.socket.remoteAddress ?? "127.0.0.1";
  return address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
}

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
    read((ctx) => page(ctx, ctx.state.listPolicies({}))),
  ),
  route(
    "GET",
    "/subscriptions/{subscriptionId}/providers/Microsoft.Security/locations/{location}/jitNetworkAccessPolicies",
    read((ctx) => page(ctx, ctx.state.listPolicies({ location: p(ctx, "location") }))),
  ),
  route(
    "GET",
    `${RG}/jitNetworkAccessPolicies`,
    read((ctx) => page(ctx, ctx.state.listPolicies({ resourceGroup: rg(ctx) }))),
  ),
  route(
    "GET",
    `${RG}/locations/{location}/jitNetworkAccessPolicies`,
    read((ctx) =>
      page(ctx, ctx.state.listPolicies({ resourceGroup: rg(ctx), location: p(ctx, "location") })),
    ),
  ),
  route(
    "GET",
    POLICY,
    read((ctx) => ok(ctx.state.getPolicy(p(ctx, "resourceGroup"), p(ctx, "location"), p(ctx, "name")))),
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
    serviceInitiateCheck(ctx);
    const body = ctx.state.initiate(p(ctx, "resourceGroup"), p(ctx, "location"), p(ctx, "name"), ctx.body, {
      requestor: ctx.requestor,
      address: callerAddress(ctx),
    });
    return { status: 202, body };
  }),
];
