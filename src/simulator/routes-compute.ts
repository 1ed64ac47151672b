/** Microsoft.Compute virtualMachines (read-only) and the Microsoft.ClassicCompute listing used to spot classic VMs. */
import { resourceNotFound } from "./arm-error.ts";
import type { Json } from "./arm-resources.ts";
import { ok, page, type Route, type RouteContext, route } from "./router.ts";

const VM_TYPE = "Microsoft.Compute/virtualMachines";
const CLASSIC_TYPE = "Microsoft.ClassicCompute/virtualMachines";

function wantsInstanceView(ctx: RouteContext): boolean {
  return (
    ctx.url.searchParams.get("$expand")?.toLowerCase() === "instanceview" ||
    ctx.url.searchParams.get("statusOnly")?.toLowerCase() === "true"
  );
}

function withInstanceView(ctx: RouteContext, vm: Json): Json {
  if (!wantsInstanceView(ctx)) return vm;
  const fleetVm = ctx.state.fleetVmById(String(vm.id));
  if (!fleetVm) return vm;
  return { ...vm, properties: { ...(vm.properties as Json), instanceView: ctx.state.instanceView(fleetVm) } };
}

function vmsIn(ctx: RouteContext, type: string, resourceGroup?: string): Json[] {
  const prefix =
    resourceGroup === undefined
      ? undefined
      : `/subscriptions/${ctx.state.subscriptionId}/resourceGroups/${resourceGroup}/`.toLowerCase();
  return ctx.state
    .resourcesOfType(type)
    .filter((vm) => prefix === undefined || String(vm.id).toLowerCase().startsWith(prefix));
}

function getVm(ctx: RouteContext, type: string): Json {
  const rg = ctx.state.requireResourceGroup(ctx.params.resourceGroup ?? "");
  const name = ctx.params.name ?? "";
  const vm = ctx.state.getResource(
    `/subscriptions/${ctx.state.subscriptionId}/resourceGroups/${rg}/providers/${type}/${name}`,
  );
  if (!vm) throw resourceNotFound(type, name, rg);
  return vm;
}

const SUB = "/subscriptions/{subscriptionId}";
const RG = `${SUB}/resourceGroups/{resourceGroup}`;

export const computeRoutes: readonly Route[] = [
  route("GET", `${SUB}/providers/Microsoft.Compute/virtualMachines`, (ctx) =>
    page(
      ctx,
      vmsIn(ctx, VM_TYPE).map((vm) => withInstanceView(ctx, vm)),
    ),
  ),
  route("GET", `${RG}/providers/Microsoft.Compute/virtualMachines`, (ctx) => {
    const rg = ctx.state.requireResourceGroup(ctx.params.resourceGroup ?? "");
    return page(
      ctx,
      vmsIn(ctx, VM_TYPE, rg).map((vm) => withInstanceView(ctx, vm)),
    );
  }),
  route("GET", `${RG}/providers/Microsoft.Compute/virtualMachines/{name}`, (ctx) =>
    ok(withInstanceView(ctx, getVm(ctx, VM_TYPE))),
  ),
  route("GET", `${RG}/providers/Microsoft.Compute/virtualMachines/{name}/instanceView`, (ctx) => {
    const vm = getVm(ctx, VM_TYPE);
    const fleetVm = ctx.state.fleetVmById(String(vm.id));
    return ok(fleetVm ? ctx.state.instanceView(fleetVm) : {});
  }),
  route("GET", `${SUB}/providers/Microsoft.ClassicCompute/virtualMachines`, (ctx) =>
    page(ctx, vmsIn(ctx, CLASSIC_TYPE)),
  ),
  route("GET", `${RG}/providers/Microsoft.ClassicCompute/virtualMachines`, (ctx) => {
    const rg = ctx.state.requireResourceGroup(ctx.params.resourceGroup ?? "");
    return page(ctx, vmsIn(ctx, CLASSIC_TYPE, rg));
  }),
  route("GET", `${RG}/providers/Microsoft.ClassicCompute/virtualMachines/{name}`, (ctx) =>
    ok(getVm(ctx, CLASSIC_TYPE)),
  ),
];
