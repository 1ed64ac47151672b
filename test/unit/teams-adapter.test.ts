/** The adapter botbuilder builds for each way the bot can sign in (construction checks the settings). */
import { describe, expect, it } from "vitest";
import { createTeamsAdapter } from "../../src/chat/teams/teams-adapter.ts";
import { parseConfig } from "../../src/config.ts";

const APP_ID = "6f1c2a7e-3b54-4d8e-9a1f-0c2b3d4e5f60";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";

describe("createTeamsAdapter", () => {
  it.each([
    ["local mode", {}],
    ["single tenant with a secret", { BOT_ID: APP_ID, BOT_PASSWORD: "x", BOT_TENANT_ID: TENANT }],
    ["multi-tenant with a secret", { BOT_ID: APP_ID, BOT_PASSWORD: "x" }],
    [
      "user-assigned managed identity",
      { BOT_ID: APP_ID, BOT_TENANT_ID: TENANT, BOT_TYPE: "UserAssignedMSI" },
    ],
    [
      "another source of signing keys",
      {
        BOT_ID: APP_ID,
        BOT_PASSWORD: "x",
        BOT_TENANT_ID: TENANT,
        BOT_OPENID_METADATA_URL: "https://keys.example.com/x",
      },
    ],
  ])("accepts %s", (_, env) => {
    expect(() => createTeamsAdapter(parseConfig(env))).not.toThrow();
  });
});
