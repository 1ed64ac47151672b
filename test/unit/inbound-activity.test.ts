/** The edge's view of an activity and of where its replies may go (issue 10, item 10). */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.ts";
import { checkInboundActivity, replyAllowed } from "../../src/http/inbound-activity.ts";

const APP_ID = "6f1c2a7e-3b54-4d8e-9a1f-0c2b3d4e5f60";

const base = {
  type: "message",
  channelId: "msteams",
  serviceUrl: "http://127.0.0.1:56150/",
  from: { id: "29:a" },
  recipient: { id: "28:bot" },
  conversation: { id: "a:1" },
};

describe("checkInboundActivity", () => {
  it("a minimal activity passes, unknown fields pass through untouched", () => {
    const checked = checkInboundActivity({ ...base, futureField: { x: 1 } });
    expect(checked).toMatchObject({ ok: true, activity: { type: "message", futureField: { x: 1 } } });
  });

  it("names the field and what is wrong, never the value", () => {
    expect(checkInboundActivity({ ...base, type: 42 })).toEqual({
      ok: false,
      reason: "type: Expected string, received number",
    });
    const secret = "https://evil.example/?token=SECRET";
    const checked = checkInboundActivity({ ...base, serviceUrl: `ftp${secret.slice(5)}` });
    expect(checked).toEqual({ ok: false, reason: "serviceUrl: is not an http(s) URL" });
  });
});

describe("replyAllowed", () => {
  const local = { kind: "loopback", alsoAllowed: ["http://playground.internal:56150"] } as const;
  it.each([
    ["http://127.0.0.1:56150/", true],
    ["http://127.9.9.9/", true],
    ["http://localhost:3978/x", true],
    ["http://[::1]:1/", true],
    ["http://playground.internal:56150/_connector", true],
    ["http://playground.internal:56151/", false],
    ["https://smba.trafficmanager.net/emea/", false],
    ["http://localhost.evil.example/", false],
    ["http://10.0.0.5/", false],
  ])("local mode: %s → %s", (url, allowed) => {
    expect(replyAllowed(local, url)).toBe(allowed);
  });

  it("with Bot Framework auth the token decides", () => {
    expect(replyAllowed({ kind: "checked-by-token" }, "https://smba.trafficmanager.net/emea/")).toBe(true);
  });
});

describe("LOCAL_SERVICE_URLS", () => {
  it("is kept as origins", () => {
    expect(
      parseConfig({ LOCAL_SERVICE_URLS: "http://playground.internal:56150/_c, https://x.example" })
        .localServiceUrls,
    ).toEqual(["http://playground.internal:56150", "https://x.example"]);
  });

  it("refuses a non-URL, and refuses to be set beside BOT_ID", () => {
    expect(() => parseConfig({ LOCAL_SERVICE_URLS: "playground:56150" })).toThrow(/LOCAL_SERVICE_URLS/);
    expect(() =>
      parseConfig({ BOT_ID: APP_ID, BOT_PASSWORD: "x", LOCAL_SERVICE_URLS: "http://a.example" }),
    ).toThrow(ConfigError);
  });
});
