import { describe, expect, it } from "vitest";
import { personName, SYSTEM_ACTOR, samePerson } from "../../src/domain/person.ts";

describe("naming a person", () => {
  it("name and UPN → “Name (upn)”", () => {
    expect(personName({ id: "oid-1", upn: "alice@contoso.com", name: "Alice Owner" })).toBe(
      "Alice Owner (alice@contoso.com)",
    );
  });
  it("only one of them → that one; a name that is the UPN is said once", () => {
    expect(personName({ id: "oid-1", upn: "alice@contoso.com" })).toBe("alice@contoso.com");
    expect(personName({ id: "oid-1", name: "Alice Owner" })).toBe("Alice Owner");
    expect(personName({ upn: "alice@contoso.com", name: "alice@contoso.com" })).toBe("alice@contoso.com");
  });
  it("the bot's own actor id → Portcullis", () => {
    expect(personName({ id: SYSTEM_ACTOR })).toBe("Portcullis");
  });
  it("only an object id → said as an Entra object id; nothing known → the caller's word", () => {
    expect(personName({ id: "00000000-0000-4000-8000-000000000106" })).toBe(
      "Entra object id 00000000-0000-4000-8000-000000000106",
    );
    expect(personName(undefined, "an approver")).toBe("an approver");
    expect(personName({ name: " " })).toBe("someone");
  });
  it("same person by object id or UPN, case-insensitively", () => {
    expect(samePerson({ id: "OID-1" }, { id: "oid-1", upn: "x@contoso.com" })).toBe(true);
    expect(samePerson({ upn: "Alice@Contoso.com" }, { id: "oid-2", upn: "alice@contoso.com" })).toBe(true);
    expect(samePerson({ id: "oid-1" }, { upn: "oid-1@contoso.com" })).toBe(false);
  });
});
