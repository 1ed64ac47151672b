/** How the bot authenticates and where it listens, as config.ts decides from the environment. */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.ts";

const APP_ID = "6f1c2a7e-3b54-4d8e-9a1f-0c2b3d4e5f60";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";

describe("bot authentication settings", () => {
  it("no BOT_ID → local mode on 127.0.0.1 only", () => {
    const config = parseConfig({});
    expect(config.bot.mode).toBe("local");
    expect(config.host).toBe("127.0.0.1");
  });

  it("BOT_ID + BOT_PASSWORD + BOT_TENANT_ID → single-tenant, every interface", () => {
    const config = parseConfig({ BOT_ID: APP_ID, BOT_PASSWORD: "secret", BOT_TENANT_ID: TENANT });
    expect(config.host).toBe("0.0.0.0");
    expect(config.bot).toEqual({
      mode: "authenticated",
      appId: APP_ID,
      password: "secret",
      tenantId: TENANT,
      type: "SingleTenant",
      openIdMetadataUrl: undefined,
    });
  });

  it("BOT_TYPE=UserAssignedMSI: the identity's client id as BOT_ID, a tenant, and no password", () => {
    const config = parseConfig({ BOT_ID: APP_ID, BOT_TENANT_ID: TENANT, BOT_TYPE: "UserAssignedMSI" });
    expect(config.bot).toMatchObject({ mode: "authenticated", type: "UserAssignedMSI", password: undefined });
    expect(() =>
      parseConfig({ BOT_ID: APP_ID, BOT_TENANT_ID: TENANT, BOT_TYPE: "UserAssignedMSI", BOT_PASSWORD: "x" }),
    ).toThrow(/unset BOT_PASSWORD/);
    expect(() => parseConfig({ BOT_ID: APP_ID, BOT_TYPE: "UserAssignedMSI" })).toThrow(/BOT_TENANT_ID/);
  });

  it("BOT_ID without a password or managed identity stops the bot with the fix", () => {
    expect(() => parseConfig({ BOT_ID: APP_ID })).toThrow(ConfigError);
    expect(() => parseConfig({ BOT_ID: APP_ID })).toThrow(/BOT_PASSWORD/);
  });

  it("tenant or bot type without BOT_ID is refused rather than silently ignored", () => {
    expect(() => parseConfig({ BOT_TENANT_ID: TENANT })).toThrow(/BOT_ID/);
    expect(() => parseConfig({ BOT_TYPE: "SingleTenant" })).toThrow(/BOT_ID/);
  });

  it("an unknown BOT_TYPE names the variable and the choices", () => {
    expect(() => parseConfig({ BOT_ID: APP_ID, BOT_PASSWORD: "x", BOT_TYPE: "Anonymous" })).toThrow(
      /BOT_TYPE.*UserAssignedMSI/s,
    );
  });

  it("BOT_OPENID_METADATA_URL: https anywhere, plain http only on loopback", () => {
    const base = { BOT_ID: APP_ID, BOT_PASSWORD: "x", BOT_TENANT_ID: TENANT };
    expect(parseConfig({ ...base, BOT_OPENID_METADATA_URL: "http://127.0.0.1:9/openid" }).bot).toMatchObject({
      openIdMetadataUrl: "http://127.0.0.1:9/openid",
    });
    expect(() => parseConfig({ ...base, BOT_OPENID_METADATA_URL: "http://keys.example.com/openid" })).toThrow(
      /must be https/,
    );
  });
});

describe("the local demo (`npm start`)", () => {
  it("is local mode on the embedded simulator, and nothing else", () => {
    expect(parseConfig({}).localDemo).toBe(true);
    expect(parseConfig({ AZURE_ARM_ENDPOINT: "http://127.0.0.1:3979" }).localDemo).toBe(false);
    expect(parseConfig({ BOT_ID: APP_ID, BOT_PASSWORD: "secret" }).localDemo).toBe(false);
    expect(parseConfig({ AZURE_SUBSCRIPTION_ID: "00000000-0000-4000-8000-00000000c0de" }).localDemo).toBe(
      false,
    );
  });
});
