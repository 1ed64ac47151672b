/**
 * `npm run package [-- <env>]`: the Teams app package, appPackage/build/portcullis.zip.
 *
 * Fills the `${{NAME}}` placeholders of appPackage/manifest.json the way the Agents Toolkit does:
 * from env/.env.<env> (default `dev`), then env/.env.<env>.user, then the process environment
 * (which wins). Validates the result offline against the Teams JSON schema bundled in
 * @microsoft/app-manifest before zipping it with the two icons.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";
import { ManifestUtil } from "@microsoft/app-manifest";
import { zipSync } from "fflate";

export const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
export const appPackageDir = resolve(repoRoot, "appPackage");
export const packageFile = resolve(appPackageDir, "build/portcullis.zip");
/** What goes into the zip, at its root, as Teams expects. */
export const PACKAGE_FILES = ["manifest.json", "color.png", "outline.png"] as const;

export class PackageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PackageError";
  }
}

const PLACEHOLDER = /\$\{\{\s*([A-Z0-9_]+)\s*\}\}/g;

/** Every placeholder name in a template, in order of first appearance. */
export function placeholders(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((match) => match[1] ?? ""))];
}

/** Replaces `${{NAME}}` with the variable's value, JSON-escaped; names every missing variable at once. */
export function fillPlaceholders(
  template: string,
  vars: Readonly<Record<string, string | undefined>>,
): string {
  const missing = placeholders(template).filter((name) => !vars[name]?.trim());
  if (missing.length > 0) {
    throw new PackageError(
      `The app manifest needs ${missing.join(", ")}: set ${missing.length === 1 ? "it" : "them"} in env/.env.<env> (copy env/.env.dev.sample to env/.env.dev) or in the environment.`,
    );
  }
  // JSON.stringify(...).slice(1, -1) escapes quotes and backslashes inside the string literal.
  return template.replace(PLACEHOLDER, (_, name: string) =>
    JSON.stringify((vars[name] ?? "").trim()).slice(1, -1),
  );
}

export function schemaPath(manifestVersion: string): string {
  return resolve(
    repoRoot,
    `node_modules/@microsoft/app-manifest/build/json-schemas/teams/v${manifestVersion}/MicrosoftTeams.schema.json`,
  );
}

/** Schema errors as sentences (empty when valid), against the bundled schema the manifest names. */
export async function validateManifest(manifest: Record<string, unknown>): Promise<string[]> {
  const version = manifest.manifestVersion;
  if (typeof version !== "string" || !existsSync(schemaPath(version))) {
    return [`manifestVersion ${String(version)} has no schema bundled in @microsoft/app-manifest`];
  }
  const schema = JSON.parse(readFileSync(schemaPath(version), "utf8")) as Record<string, unknown>;
  // The library's types tie the schema to its own manifest type; this manifest is plain JSON.
  const validate = ManifestUtil.validateManifestAgainstSchema as unknown as (
    manifest: unknown,
    schema: unknown,
  ) => Promise<string[]>;
  return validate(manifest, schema);
}

/** The filled, validated manifest and the zip bytes. */
export async function buildAppPackage(
  vars: Readonly<Record<string, string | undefined>>,
): Promise<{ readonly manifest: Record<string, unknown>; readonly zip: Uint8Array }> {
  const template = readFileSync(resolve(appPackageDir, "manifest.json"), "utf8");
  const text = fillPlaceholders(template, vars);
  const manifest = JSON.parse(text) as Record<string, unknown>;
  const errors = await validateManifest(manifest);
  if (errors.length > 0) {
    throw new PackageError(`The app manifest does not match its schema:\n  ${errors.join("\n  ")}`);
  }
  const zip = zipSync({
    "manifest.json": new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`),
    "color.png": readFileSync(resolve(appPackageDir, "color.png")),
    "outline.png": readFileSync(resolve(appPackageDir, "outline.png")),
  });
  return { manifest, zip };
}

/** env/.env.<env>, then env/.env.<env>.user, then the process environment; later wins. */
export function packageVariables(
  envName: string,
  processEnv: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string | undefined> {
  const read = (file: string) =>
    existsSync(file) ? (parseEnv(readFileSync(file, "utf8")) as Record<string, string | undefined>) : {};
  const base = resolve(repoRoot, `env/.env.${envName}`);
  if (!existsSync(base) && !processEnv.BOT_ID) {
    throw new PackageError(
      `env/.env.${envName} does not exist: copy env/.env.dev.sample to env/.env.${envName} and fill it in (or set the variables in the environment).`,
    );
  }
  return { ...read(base), ...read(`${base}.user`), ...processEnv };
}

async function main(): Promise<void> {
  const envName = process.argv[2] ?? "dev";
  const { manifest, zip } = await buildAppPackage(packageVariables(envName));
  mkdirSync(resolve(appPackageDir, "build"), { recursive: true });
  writeFileSync(packageFile, zip);
  writeFileSync(
    resolve(appPackageDir, `build/manifest.${envName}.json`),
    `${JSON.stringify(manifest, null, 2)}\n`,
  );
  console.log(
    `wrote ${packageFile} (manifest ${String(manifest.manifestVersion)}, app id ${String(manifest.id)})`,
  );
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(error instanceof PackageError ? error.message : error);
    process.exit(1);
  });
}
