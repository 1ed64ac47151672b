/**
 * The Bicep templates, checked offline. `az bicep build` needs the Bicep CLI, which no npm package
 * ships; tree-sitter-bicep (a community grammar, run as WebAssembly by web-tree-sitter) does parse
 * Bicep. What this proves: every file parses without a syntax error, the resources and parameters
 * are the ones the README describes, the role comes from infra/portcullis-role.json, and the app
 * settings are a configuration the bot accepts. What it does not prove: that Azure accepts the
 * property names and values (only the Bicep compiler and a what-if deployment can say that).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Language, type Node, Parser } from "web-tree-sitter";
import { parseConfig } from "../../src/config.ts";
import { repoRoot } from "../support/bot-process.ts";

const infra = resolve(repoRoot, "infra");
const bicepFiles = readdirSync(infra).filter((file) => file.endsWith(".bicep"));
let parser: Parser;

beforeAll(async () => {
  await Parser.init();
  const language = await Language.load(
    resolve(repoRoot, "node_modules/tree-sitter-bicep/tree-sitter-bicep.wasm"),
  );
  parser = new Parser();
  parser.setLanguage(language);
});

function parse(file: string): Node {
  const tree = parser.parse(readFileSync(resolve(infra, file), "utf8"));
  if (!tree) throw new Error(`tree-sitter returned no tree for ${file}`);
  return tree.rootNode;
}

function problems(node: Node): string[] {
  const found: string[] = [];
  const visit = (current: Node) => {
    if (current.isError || current.isMissing)
      found.push(
        `${current.isMissing ? "missing" : "unexpected"} ${current.type} at line ${current.startPosition.row + 1}`,
      );
    for (const child of current.children) if (child) visit(child);
  };
  visit(node);
  return found;
}

/** `resource x 'Type@version'` declarations of a file, as [type, apiVersion]. */
function resourceTypes(root: Node): [string, string][] {
  return root.descendantsOfType("resource_declaration").map((declaration) => {
    const text = declaration?.children.find((child) => child?.type === "string")?.text ?? "";
    const [type = "", version = ""] = text.replace(/'/g, "").split("@");
    return [type, version];
  });
}

function params(root: Node): { name: string; hasDefault: boolean }[] {
  return root.descendantsOfType("parameter_declaration").map((declaration) => ({
    name: declaration?.children.find((child) => child?.type === "identifier")?.text ?? "",
    hasDefault: declaration?.text.includes("=") ?? false,
  }));
}

describe("infra/*.bicep", () => {
  it("has the templates the README names", () => {
    expect(bicepFiles.sort()).toEqual(["azure.bicep", "role-assignment.bicep", "role.bicep"]);
  });

  it.each(bicepFiles)("%s parses without a syntax error", (file) => {
    const root = parse(file);
    expect(problems(root)).toEqual([]);
    expect(root.hasError).toBe(false);
  });

  it("the grammar does catch mistakes (a broken copy fails)", () => {
    const broken = readFileSync(resolve(infra, "role.bicep"), "utf8").replace(
      "properties: {",
      "properties: {{",
    );
    expect(parser.parse(broken)?.rootNode.hasError).toBe(true);
  });

  it("declares the deployment the README describes, each with a dated API version", () => {
    const types = bicepFiles.flatMap((file) => resourceTypes(parse(file)));
    for (const [, version] of types) expect(version).toMatch(/^\d{4}-\d{2}-\d{2}(-preview)?$/);
    expect(new Set(types.map(([type]) => type))).toEqual(
      new Set([
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.KeyVault/vaults",
        "Microsoft.KeyVault/vaults/secrets",
        "Microsoft.Authorization/roleAssignments",
        "Microsoft.Authorization/roleDefinitions",
        "Microsoft.DBforPostgreSQL/flexibleServers",
        "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules",
        "Microsoft.Web/serverfarms",
        "Microsoft.Web/sites",
        "Microsoft.BotService/botServices",
        "Microsoft.BotService/botServices/channels",
      ]),
    );
  });

  it("runs on Linux App Service with Node 22 or later, and the Bot uses the managed identity", () => {
    const text = readFileSync(resolve(infra, "azure.bicep"), "utf8");
    const node = /linuxFxVersion string = 'NODE\|(\d+)-lts'/.exec(text);
    expect(Number(node?.[1])).toBeGreaterThanOrEqual(22);
    expect(text).toContain("kind: 'app,linux'");
    expect(text).toContain("msaAppType: 'UserAssignedMSI'");
    expect(text).toContain("channelName: 'MsTeamsChannel'");
  });

  it("takes the role's actions from infra/portcullis-role.json, not from a copy", () => {
    const text = readFileSync(resolve(infra, "role.bicep"), "utf8");
    expect(text).toContain("loadJsonContent('portcullis-role.json')");
    expect(text).toContain("actions: role.Actions");
    expect(text).not.toMatch(/'Microsoft\.(Security|Compute|Network)\//);
  });

  it("azure.parameters.json gives every parameter without a default, and only real parameters", () => {
    const declared = params(parse("azure.bicep"));
    const file = JSON.parse(readFileSync(resolve(infra, "azure.parameters.json"), "utf8")) as {
      parameters: Record<string, unknown>;
    };
    const given = Object.keys(file.parameters);
    for (const name of given) expect(declared.map((param) => param.name)).toContain(name);
    for (const param of declared.filter((p) => !p.hasDefault)) expect(given).toContain(param.name);
  });

  it("the App Service settings are a configuration the bot starts with (production mode, managed identity)", () => {
    const text = readFileSync(resolve(infra, "azure.bicep"), "utf8");
    const settings = [...text.matchAll(/\{ name: '([A-Z_]+)', value: (.+) \}$/gm)].map(
      ([, name = "", value = ""]) => [name, value.trim()] as const,
    );
    const samples: Record<string, string> = {
      BOT_ID: "6f1c2a7e-3b54-4d8e-9a1f-0c2b3d4e5f60",
      AZURE_CLIENT_ID: "6f1c2a7e-3b54-4d8e-9a1f-0c2b3d4e5f60",
      BOT_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      AZURE_SUBSCRIPTION_ID: "0b1f6471-1bf0-4dda-aec3-111122223333",
      DATABASE_URL: "postgres://portcullis:pw@pg.postgres.database.azure.com:5432/portcullis?sslmode=require",
      PUBLIC_BASE_URL: "https://portcullis-abc.azurewebsites.net",
      TRUSTED_PROXIES: "169.254.0.0/16",
      BREAK_GLASS_USERS: "",
    };
    const env: Record<string, string> = {};
    for (const [name, value] of settings) {
      const literal = /^'([^'$]*)'$/.exec(value);
      env[name] = literal ? (literal[1] ?? "") : (samples[name] ?? "");
    }
    expect(Object.keys(env)).toEqual(expect.arrayContaining(Object.keys(samples)));
    const config = parseConfig(env);
    expect(config.bot).toMatchObject({ mode: "authenticated", type: "UserAssignedMSI" });
    expect(config.host).toBe("0.0.0.0");
    expect(config.azure).toMatchObject({ mode: "endpoint", endpoint: "https://management.azure.com" });
    expect(config.store.databaseUrl).toMatch(/^postgres:/);
  });
});

describe("m365agents.yml and env/.env.dev.sample", () => {
  const yml = readFileSync(resolve(repoRoot, "m365agents.yml"), "utf8");
  const sample = readFileSync(resolve(repoRoot, "env/.env.dev.sample"), "utf8");
  const sampleKeys = new Set([...sample.matchAll(/^([A-Z0-9_]+)=/gm)].map((match) => match[1]));
  const placeholdersIn = (text: string) =>
    [...text.matchAll(/\$\{\{([A-Z0-9_]+)\}\}/g)].map((m) => m[1] ?? "");

  it("has provision, deploy and publish, and every file it names exists", () => {
    for (const stage of ["provision:", "deploy:", "publish:"])
      expect(yml).toMatch(new RegExp(`^${stage}`, "m"));
    const paths = [...yml.matchAll(/(?:path|parameters|manifestPath|ignoreFile): (\.\/?[\w./-]+)/g)].map(
      (match) => match[1] ?? "",
    );
    expect(paths.length).toBeGreaterThanOrEqual(4);
    for (const path of paths) expect(existsSync(resolve(repoRoot, path)), path).toBe(true);
  });

  it("every placeholder of the toolkit files and the manifest has a line in the sample (secrets in a comment)", () => {
    const files = [
      yml,
      readFileSync(resolve(infra, "azure.parameters.json"), "utf8"),
      readFileSync(resolve(repoRoot, "appPackage/manifest.json"), "utf8"),
    ];
    for (const name of files.flatMap(placeholdersIn)) {
      if (name.startsWith("SECRET_")) expect(sample, name).toContain(`${name}=`);
      else expect(sampleKeys.has(name), name).toBe(true);
    }
  });

  it("env/.env.*.user and secrets stay out of git", () => {
    const ignore = readFileSync(resolve(repoRoot, ".gitignore"), "utf8").split("\n");
    expect(ignore).toContain("env/.env.*.user");
    expect(ignore).toContain("env/.env.*.secret");
    expect(sample).not.toMatch(/^(BOT_PASSWORD|SECRET_[A-Z_]+)=\S/m);
  });
});

describe("the README's role definition", () => {
  it("is infra/portcullis-role.json, verbatim", () => {
    const readme = readFileSync(resolve(repoRoot, "README.md"), "utf8");
    const role = readFileSync(resolve(infra, "portcullis-role.json"), "utf8").trim();
    expect(readme).toContain(`\`\`\`json\n${role}\n\`\`\``);
  });
});
