/**
 * The chat grammar: text in, a typed command or a specific complaint out. Pure; never throws.
 * Every channel (Teams now, Slack later) goes through `parseCommand`.
 */

export type Command =
  | { readonly kind: "help"; readonly topic?: string }
  | { readonly kind: "vms" }
  | { readonly kind: "policy"; readonly vm: string };

export type ParseResult =
  | { readonly ok: true; readonly command: Command }
  | { readonly ok: false; readonly message: string };

/** Verbs users can type, with one example each; `help` prints them in this order. */
export const COMMAND_HELP: readonly {
  readonly verb: string;
  readonly usage: string;
  readonly example: string;
  readonly summary: string;
}[] = [
  {
    verb: "vms",
    usage: "vms",
    example: "vms",
    summary: "every VM I can see, its JIT state and protected ports",
  },
  {
    verb: "policy",
    usage: "policy <vm>",
    example: "policy web-01",
    summary: "a VM's JIT rules (port, protocol, allowed sources, max duration) and open requests",
  },
  { verb: "help", usage: "help", example: "help", summary: "this list" },
];

/** Verbs of the grammar that this release does not serve yet; answered honestly rather than guessed at. */
const PLANNED_VERBS = new Set([
  "ssh",
  "rdp",
  "access",
  "status",
  "done",
  "extend",
  "break-glass",
  "bg",
  "audit",
  "doctor",
]);

const KNOWN_VERBS = COMMAND_HELP.map((entry) => entry.verb);

export function parseCommand(text: string): ParseResult {
  const words = text
    .trim()
    .split(/\s+/)
    .filter((word) => word !== "");
  const [first, ...rest] = words;
  if (first === undefined) return { ok: false, message: `I didn't get a command. ${tryHelp()}` };
  const verb = first.toLowerCase().replace(/^\//, "");

  switch (verb) {
    case "help":
    case "?":
      return rest[0] === undefined
        ? ok({ kind: "help" })
        : ok({ kind: "help", topic: rest[0].toLowerCase() });
    case "vms":
    case "list":
      return rest.length === 0
        ? ok({ kind: "vms" })
        : {
            ok: false,
            message: "`vms` takes no arguments; for one VM's rules type `policy <vm>`, e.g. `policy web-01`.",
          };
    case "policy": {
      const [vm, ...extra] = rest;
      if (vm === undefined)
        return {
          ok: false,
          message: "Which VM? Type `policy <vm>`, e.g. `policy web-01`; `vms` lists them.",
        };
      if (extra.length > 0)
        return {
          ok: false,
          message: `\`policy\` takes one VM name; I read "${rest.join(" ")}". Try \`policy ${vm}\`.`,
        };
      if (!isVmName(vm))
        return {
          ok: false,
          message: `"${vm}" is not a VM name I can look up (letters, digits, - _ . only, optionally as <resource-group>/<vm>).`,
        };
      return ok({ kind: "policy", vm });
    }
    default:
      break;
  }
  if (PLANNED_VERBS.has(verb)) {
    return {
      ok: false,
      message: `\`${verb}\` is part of Portcullis's grammar but this release does not serve it yet. ${tryHelp()}`,
    };
  }
  const closest = closestVerb(verb, [...KNOWN_VERBS, ...PLANNED_VERBS]);
  const hint = closest && KNOWN_VERBS.includes(closest) ? `Did you mean \`${closest}\`? ` : "";
  return { ok: false, message: `I don't know "${truncate(first)}". ${hint}${tryHelp()}` };
}

/** Azure VM names (1–64 of letters, digits, '-', '_', '.'), optionally qualified as `<resource-group>/<vm>`. */
export function isVmName(name: string): boolean {
  return /^([A-Za-z0-9._()-]{1,90}\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name);
}

/**
 * The nearest verb within edit distance 2. Hand-written (a dozen lines of Levenshtein) rather
 * than a dependency, since it runs over a handful of short words.
 */
export function closestVerb(word: string, verbs: readonly string[]): string | undefined {
  let best: { verb: string; distance: number } | undefined;
  for (const verb of verbs) {
    const distance = editDistance(word, verb);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { verb, distance };
  }
  return best?.verb;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function ok(command: Command): ParseResult {
  return { ok: true, command };
}

function tryHelp(): string {
  return "Type `help` for what I understand.";
}

function truncate(word: string): string {
  return word.length > 40 ? `${word.slice(0, 40)}…` : word;
}
