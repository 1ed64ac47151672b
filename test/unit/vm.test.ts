import { describe, expect, it } from "vitest";
import { parseVmId, vmIdEquals } from "../../src/domain/vm.ts";

describe("VM ids", () => {
  it("parse into subscription, resource group and name", () => {
    const ref = parseVmId(
      "/subscriptions/s-1/resourceGroups/rg-Web/providers/Microsoft.Compute/virtualMachines/web-01",
    );
    expect(ref).toEqual({
      subscriptionId: "s-1",
      resourceGroup: "rg-Web",
      name: "web-01",
      id: "/subscriptions/s-1/resourceGroups/rg-Web/providers/Microsoft.Compute/virtualMachines/web-01",
    });
  });
  it("other resource types → undefined", () => {
    expect(
      parseVmId("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n"),
    ).toBeUndefined();
  });
  it("compare case-insensitively, as ARM does", () => {
    expect(vmIdEquals("/subscriptions/A/resourceGroups/RG/x", "/subscriptions/a/resourcegroups/rg/X")).toBe(
      true,
    );
    expect(vmIdEquals("/subscriptions/a/x", "/subscriptions/b/x")).toBe(false);
  });
});
