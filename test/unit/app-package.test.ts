/**
 * The Teams app package: the manifest against the JSON schema bundled in @microsoft/app-manifest
 * (offline), its command lists against the chat grammar, the icons decoded by pngjs (not by the
 * encoder that wrote them), and the zip that `npm run package` writes.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { unzipSync } from "fflate";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { colorIcon, encodePng, outlineIcon } from "../../scripts/draw-icons.ts";
import {
  appPackageDir,
  buildAppPackage,
  fillPlaceholders,
  PACKAGE_FILES,
  PackageError,
  packageFile,
  placeholders,
  repoRoot,
  validateManifest,
} from "../../scripts/package.ts";
import { COMMAND_HELP } from "../../src/domain/commands.ts";

const vars = {
  BOT_ID: "6f1c2a7e-3b54-4d8e-9a1f-0c2b3d4e5f60",
  TEAMS_APP_ID: "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
  APP_DEVELOPER_NAME: "Contoso IT",
  APP_WEBSITE_URL: "https://portcullis.contoso.com",
  APP_PRIVACY_URL: "https://intranet.contoso.com/privacy",
  APP_TERMS_URL: "https://intranet.contoso.com/terms",
};

/** Verbs the manifest may list before the grammar has them. */
const PLANNED = new Set<string>([]);
/**
 * Teams shows at most 10 commands a list, and the grammar has more: the personal list carries what
 * engineers and on-call type; `cancel`, `audit` and admin verbs are in `help` only.
 */
const PERSONAL = ["ssh", "rdp", "access", "status", "done", "extend", "vms", "policy", "break-glass", "help"];

interface CommandList {
  readonly scopes: readonly string[];
  readonly commands: readonly { readonly title: string; readonly description: string }[];
}

const template = readFileSync(resolve(appPackageDir, "manifest.json"), "utf8");

function filled(): Record<string, unknown> {
  return JSON.parse(fillPlaceholders(template, vars)) as Record<string, unknown>;
}

function commandLists(manifest: Record<string, unknown>): CommandList[] {
  const bots = manifest.bots as { commandLists: CommandList[] }[];
  return bots.flatMap((bot) => bot.commandLists);
}

function decode(file: string): PNG {
  return PNG.sync.read(readFileSync(resolve(appPackageDir, file)));
}

describe("the Teams manifest", () => {
  it("uses a schema version of 1.19 or later that @microsoft/app-manifest bundles", () => {
    const manifest = filled();
    const version = String(manifest.manifestVersion);
    const [major, minor] = version.split(".").map(Number);
    expect(major).toBe(1);
    expect(minor).toBeGreaterThanOrEqual(19);
    expect(manifest.$schema).toBe(
      `https://developer.microsoft.com/json-schemas/teams/v${version}/MicrosoftTeams.schema.json`,
    );
  });

  it("validates offline against the bundled JSON schema once its placeholders are filled", async () => {
    expect(await validateManifest(filled())).toEqual([]);
  });

  it("the validator is not a rubber stamp: a bad bot id, an unknown field, a bad scope are errors", async () => {
    const manifest = filled();
    const bots = manifest.bots as Record<string, unknown>[];
    const broken = {
      ...manifest,
      surprise: true,
      bots: [{ ...bots[0], botId: "not-a-guid", scopes: ["personal", "everywhere"] }],
    };
    const errors = await validateManifest(broken);
    expect(errors.join("\n")).toMatch(/surprise/);
    expect(errors.join("\n")).toMatch(/botId/);
    expect(errors.join("\n")).toMatch(/scopes/);
  });

  it("has exactly the placeholders the package step fills, and says which are missing", () => {
    expect(placeholders(template).sort()).toEqual(Object.keys(vars).sort());
    expect(() => fillPlaceholders(template, { ...vars, BOT_ID: "", TEAMS_APP_ID: undefined })).toThrow(
      PackageError,
    );
    expect(() => fillPlaceholders(template, { ...vars, BOT_ID: " " })).toThrow(/BOT_ID/);
  });

  it("puts the bot in personal, team and group chat scopes, one command list per scope", () => {
    const manifest = filled();
    const [bot] = manifest.bots as { botId: string; scopes: string[] }[];
    expect(bot?.botId).toBe(vars.BOT_ID);
    expect(manifest.id).toBe(vars.TEAMS_APP_ID);
    expect(bot?.scopes.sort()).toEqual(["groupChat", "personal", "team"]);
    expect(
      commandLists(manifest)
        .flatMap((list) => list.scopes)
        .sort(),
    ).toEqual(["groupChat", "personal", "team"]);
  });

  it("lists the everyday verbs in the personal scope, and nothing the grammar does not know", () => {
    const lists = commandLists(filled());
    const personal = lists.find((list) => list.scopes.includes("personal"));
    const titles = personal?.commands.map((command) => command.title) ?? [];
    expect([...titles].sort()).toEqual([...PERSONAL].sort());
    const known = new Set(COMMAND_HELP.map((entry) => entry.verb));
    for (const list of lists) {
      for (const command of list.commands) {
        expect(known.has(command.title) || PLANNED.has(command.title), command.title).toBe(true);
        // Teams shows titles up to 32 and descriptions up to 128 characters.
        expect(command.title.length).toBeLessThanOrEqual(32);
        expect(command.description.length).toBeLessThanOrEqual(128);
        // The hint starts with the grammar's own example, so what Teams suggests is what parses.
        const help = COMMAND_HELP.find((entry) => entry.verb === command.title);
        if (help) expect(command.description.startsWith(help.example), command.title).toBe(true);
      }
    }
  });
});

describe("the icons", () => {
  it("color.png is 192×192 and shows a white symbol on the accent colour", () => {
    const png = decode("color.png");
    expect([png.width, png.height]).toEqual([192, 192]);
    let white = 0;
    let opaque = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      if (png.data[i + 3] === 255) opaque++;
      if (png.data[i] === 255 && png.data[i + 1] === 255 && png.data[i + 2] === 255) white++;
    }
    expect(opaque).toBe(192 * 192);
    expect(white / (192 * 192)).toBeGreaterThan(0.05);
    expect(white / (192 * 192)).toBeLessThan(0.5);
  });

  it("outline.png is 32×32, white on a transparent background, nothing else", () => {
    const png = decode("outline.png");
    expect([png.width, png.height]).toEqual([32, 32]);
    let white = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      const [r, g, b, a] = [png.data[i], png.data[i + 1], png.data[i + 2], png.data[i + 3]];
      expect(a === 0 || a === 255, `alpha ${a} at pixel ${i / 4}`).toBe(true);
      if (a === 255) {
        expect([r, g, b]).toEqual([255, 255, 255]);
        white++;
      }
    }
    // The background is transparent: every corner and the border rows and columns.
    for (let n = 0; n < 32; n++) {
      for (const [x, y] of [
        [n, 0],
        [n, 31],
        [0, n],
        [31, n],
      ] as const) {
        expect(png.data[(y * 32 + x) * 4 + 3], `border pixel ${x},${y}`).toBe(0);
      }
    }
    expect(white / 1024).toBeGreaterThan(0.2);
    expect(white / 1024).toBeLessThan(0.7);
  });

  it("are what scripts/draw-icons.ts draws (regenerate them with `node scripts/draw-icons.ts`)", () => {
    expect(readFileSync(resolve(appPackageDir, "color.png")).equals(encodePng(colorIcon()))).toBe(true);
    expect(readFileSync(resolve(appPackageDir, "outline.png")).equals(encodePng(outlineIcon()))).toBe(true);
  });
});

describe("npm run package", () => {
  it("writes a zip with the filled manifest and both icons at its root, nothing else", () => {
    const run = spawnSync(process.execPath, ["scripts/package.ts", "app-package-test"], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "", ...vars },
      encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const entries = unzipSync(readFileSync(packageFile));
    expect(Object.keys(entries).sort()).toEqual([...PACKAGE_FILES].sort());
    const manifestText = new TextDecoder().decode(entries["manifest.json"]);
    expect(manifestText).not.toContain("${{");
    const manifest = JSON.parse(manifestText) as Record<string, unknown>;
    expect(manifest.id).toBe(vars.TEAMS_APP_ID);
    expect(JSON.stringify(manifest.bots)).toContain(vars.BOT_ID);
    for (const icon of ["color.png", "outline.png"]) {
      expect(Buffer.from(entries[icon] ?? []).equals(readFileSync(resolve(appPackageDir, icon)))).toBe(true);
    }
  });

  it("refuses to build a package whose manifest does not validate", async () => {
    await expect(buildAppPackage({ ...vars, BOT_ID: "not-a-guid" })).rejects.toThrow(/botId/);
  });

  it("says what to do when neither env/.env.<env> nor the environment has the values", () => {
    const run = spawnSync(process.execPath, ["scripts/package.ts", "no-such-env"], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "" },
      encoding: "utf8",
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("copy env/.env.dev.sample to env/.env.no-such-env");
  });
});
