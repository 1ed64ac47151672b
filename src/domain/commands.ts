/**
 * The chat grammar: text in, a typed command or a specific complaint out. Pure; never throws.
 * Every channel (Teams now, Slack later) goes through `parseCommand`.
 *
 * Bounded and linear (issue 10, item 4): the length is checked before anything else, every later
 * step reads each character a small constant number of times, and per-name or per-port work starts
 * only after the count is known to be within its cap. Text the database cannot store is cleaned
 * here, where typed text enters (free-text.ts).
 */

import { parseSourcePrefix } from "./address.ts";
import { parseAccessDuration, parseUserDuration } from "./duration.ts";
import { MAX_FREE_TEXT_LENGTH, storableText } from "./free-text.ts";
import { parseStart, type StartSpec } from "./start-time.ts";

export type RequestVerb = "ssh" | "rdp" | "access";

/** An access request as typed: names, not yet resolved against Azure (that is checkRequest's job). */
export interface RequestCommand {
  readonly kind: "request";
  readonly verb: RequestVerb;
  /** As typed (optionally `<resource-group>/<vm>`), de-duplicated case-insensitively, in order. */
  readonly vms: readonly string[];
  /** 22 for ssh, 3389 for rdp, the `port` list for access; ascending, no duplicates. */
  readonly ports: readonly number[];
  readonly durationMs?: number;
  /** Syntactically an address or CIDR; checked against the policy later. */
  readonly source?: { readonly text: string };
  readonly reason?: string;
  /** `at 02:00`: a future window, approved ahead of time; resolved against the user's zone later. */
  readonly start?: StartSpec;
}

export type Command =
  | { readonly kind: "help"; readonly topic?: string }
  | { readonly kind: "vms" }
  | { readonly kind: "policy"; readonly vm: string }
  | RequestCommand
  | { readonly kind: "status" }
  | { readonly kind: "done"; readonly requestId?: string }
  | { readonly kind: "cancel"; readonly requestId: string }
  | BreakGlassCommand
  | { readonly kind: "extend"; readonly requestId?: string; readonly durationMs: number }
  | { readonly kind: "audit"; readonly vm?: string; readonly sinceMs: number }
  | { readonly kind: "doctor" };

/** `break-glass web-01 INC-9 [from <ip>] [for <duration>] <reason…>`: on-call access now. */
export interface BreakGlassCommand {
  readonly kind: "break_glass";
  readonly vm: string;
  readonly incident: string;
  readonly reason: string;
  readonly durationMs?: number;
  readonly source?: { readonly text: string };
}

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
    verb: "ssh",
    usage: "ssh <vm> [<vm>…] [for <duration>] [from <ip or cidr>] [at <time>] [because <reason>]",
    example: "ssh web-01 for 2h because INC-4211",
    summary: "ask to open port 22 for your address; several VMs make one request",
  },
  {
    verb: "rdp",
    usage: "rdp <vm> [<vm>…] [for <duration>] [from <ip or cidr>] [because <reason>]",
    example: "rdp app-01 for 30m",
    summary: "ask to open port 3389 (Remote Desktop) for your address",
  },
  {
    verb: "access",
    usage: "access <vm> [<vm>…] port <n>[,<n>…] [for <duration>] [from <ip or cidr>] [because <reason>]",
    example: "access db-01 port 5432 from 198.51.100.7 because migration",
    summary: "ask to open other ports that the VM's JIT policy covers",
  },
  {
    verb: "status",
    usage: "status",
    example: "status",
    summary: "your pending and active requests (and those waiting for your approval)",
  },
  {
    verb: "done",
    usage: "done [<request>]",
    example: "done R-17",
    summary: "close your access now instead of waiting for the end time",
  },
  {
    verb: "cancel",
    usage: "cancel <request>",
    example: "cancel R-17",
    summary: "withdraw a request nobody has decided yet",
  },
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
  {
    verb: "extend",
    usage: "extend [<request>] <duration>",
    example: "extend R-17 30m",
    summary: "keep your open access longer; beyond what was approved it goes to the approvers again",
  },
  {
    verb: "audit",
    usage: "audit [<vm>] [<period>]",
    example: "audit web-01 7d",
    summary:
      "evidence: who asked, who approved, what was open and whether it closed; flagged break-glass first",
  },
  {
    verb: "break-glass",
    usage: "break-glass <vm> <incident> [from <ip>] [for <duration>] <reason…>",
    example: "break-glass db-01 INC-9 database down, owner asleep",
    summary: "on-call only: access now without waiting; everyone is told and a review is owed (also `bg`)",
  },
  {
    verb: "doctor",
    usage: "doctor",
    example: "doctor",
    summary: "admins: check the deployment (config, Azure access, the bot's role)",
  },
  { verb: "help", usage: "help", example: "help", summary: "this list" },
];

const KNOWN_VERBS = COMMAND_HELP.map((entry) => entry.verb);

const VERB_PORT: Readonly<Record<"ssh" | "rdp", number>> = { ssh: 22, rdp: 3389 };

/**
 * The longest message the parser reads. The longest real command — ten `<resource-group>/<vm>`
 * names (155 characters each at most), ports, a duration, an address, a start and a 500-character
 * reason — is about 2,300 characters; anything longer is refused unread.
 */
export const MAX_COMMAND_LENGTH = 4000;

/**
 * Counts the parser's work for the property test in test/attack/parser-bounds.test.ts: every loop
 * and every call of a linear helper (an anchored regex without nested quantifiers, split, slice,
 * toLowerCase, a Set insert) adds what it reads. Production passes nothing and pays nothing.
 */
export interface WorkMeter {
  add(count: number): void;
}

const UNMETERED: WorkMeter = { add: () => undefined };

export function parseCommand(text: string, meter: WorkMeter = UNMETERED): ParseResult {
  meter.add(1);
  if (text.length > MAX_COMMAND_LENGTH) {
    return fail(
      `That message is ${text.length} characters; I read commands of up to ${MAX_COMMAND_LENGTH}. Put the details in a ticket and give its id with \`because\`.`,
    );
  }
  // Where typed text enters: NUL and other controls become spaces, lone surrogates U+FFFD.
  meter.add(text.length);
  const cleaned = storableText(text);
  const tokens = tokenize(cleaned, meter);
  const [firstToken, ...restTokens] = tokens;
  if (firstToken === undefined) return { ok: false, message: `I didn't get a command. ${tryHelp()}` };
  const first = firstToken.text;
  const rest = restTokens.map((token) => token.text);
  meter.add(tokens.length + first.length);
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
          message: `\`policy\` takes one VM name; I read "${clip(rest.join(" "))}". Try \`policy ${clip(vm)}\`.`,
        };
      meter.add(vm.length);
      if (!isVmName(vm)) return fail(notAVmName(vm));
      return ok({ kind: "policy", vm });
    }
    case "ssh":
    case "rdp":
    case "access":
      return parseRequest(verb, cleaned, restTokens, meter);
    case "status":
      return rest.length === 0
        ? ok({ kind: "status" })
        : fail("`status` takes no arguments; it lists your pending and active requests.");
    case "done": {
      if (rest.length === 0) return ok({ kind: "done" });
      meter.add(rest[0]?.length ?? 0);
      const id = rest.length === 1 ? parseRequestId(rest[0] ?? "") : undefined;
      return id === undefined
        ? fail(`\`done\` takes one request id, e.g. \`done R-17\`; I read "${clip(rest.join(" "))}".`)
        : ok({ kind: "done", requestId: id });
    }
    case "extend": {
      const [first, second, ...extra] = rest;
      meter.add(first?.length ?? 0);
      const id = first === undefined ? undefined : parseRequestId(first);
      const durationText = id === undefined ? first : second;
      if (durationText === undefined || extra.length > 0 || (id === undefined && second !== undefined)) {
        return fail(
          "Type `extend <request> <duration>`, e.g. `extend R-17 30m` (or `extend 30m` with one open request).",
        );
      }
      // The same finite range and floor as every access window: `extend R-1 99999999999h` is refused here.
      const parsed = parseAccessDuration(durationText, meter);
      if (!parsed.ok) return fail(parsed.message);
      return ok({ kind: "extend", ...(id === undefined ? {} : { requestId: id }), durationMs: parsed.ms });
    }
    case "doctor":
      return rest.length === 0 ? ok({ kind: "doctor" }) : fail("`doctor` takes no arguments.");
    case "audit": {
      let vm: string | undefined;
      let sinceMs = 7 * 24 * 60 * 60_000;
      for (const word of rest) {
        meter.add(word.length);
        const period = /^\d/.test(word) ? parseUserDuration(word, meter) : undefined;
        if (period?.ok) sinceMs = period.ms;
        else if (period) return fail(period.message);
        else if (vm === undefined && isVmName(word)) vm = word;
        else return fail("Type `audit [<vm>] [<period>]`, e.g. `audit web-01 7d` or `audit 30d`.");
      }
      return ok({ kind: "audit", ...(vm === undefined ? {} : { vm }), sinceMs });
    }
    case "break-glass":
    case "breakglass":
    case "bg":
      return parseBreakGlass(restTokens, cleaned, meter);
    case "cancel": {
      if (rest.length === 0)
        return fail("Which request? Type `cancel <request>`, e.g. `cancel R-17`; `status` lists yours.");
      meter.add(rest[0]?.length ?? 0);
      const id = rest.length === 1 ? parseRequestId(rest[0] ?? "") : undefined;
      return id === undefined
        ? fail(`\`cancel\` takes one request id, e.g. \`cancel R-17\`; I read "${clip(rest.join(" "))}".`)
        : ok({ kind: "cancel", requestId: id });
    }
    default:
      break;
  }
  meter.add(KNOWN_VERBS.length * 16);
  const closest = closestVerb(verb, KNOWN_VERBS);
  const hint = closest ? `Did you mean \`${closest}\`? ` : "";
  return { ok: false, message: `I don't know "${truncate(first)}". ${hint}${tryHelp()}` };
}

/** "R-17", "r-17", "17" → "R-17"; undefined for anything else. */
export function parseRequestId(text: string): string | undefined {
  const match = /^(?:R-?)?(\d{1,9})$/i.exec(text.trim());
  return match?.[1] === undefined ? undefined : `R-${Number(match[1])}`;
}

// ------------------------------------------------------------------ access requests

interface Token {
  readonly text: string;
  /** Offset in the original text, so `because` can keep the reason as typed. */
  readonly start: number;
}

const KEYWORDS = new Set(["for", "from", "because", "port", "ports", "at"]);

function isKeyword(token: Token | undefined): boolean {
  return token !== undefined && KEYWORDS.has(token.text.toLowerCase());
}

function parseRequest(
  verb: RequestVerb,
  text: string,
  tokens: readonly Token[],
  meter: WorkMeter,
): ParseResult {
  const example = verb === "access" ? "access db-01 port 5432" : `${verb} web-01`;
  let index = 0;
  // De-duplicated case-insensitively in one pass (first spelling kept, in order); the cap is
  // checked on the distinct count before any name is validated.
  const distinct = new Map<string, string>();
  for (; index < tokens.length && !isKeyword(tokens[index]); index++) {
    const token = tokens[index]?.text ?? "";
    meter.add(2 * token.length + 1);
    // "ssh web-01, web-02" and "ssh web-01,web-02" name two VMs as well.
    for (const name of token.split(",")) {
      if (name === "") continue;
      const key = name.toLowerCase();
      if (!distinct.has(key)) distinct.set(key, name);
    }
  }
  if (distinct.size === 0) {
    return fail(`Which VM? Type \`${verb} <vm>\`, e.g. \`${example} for 1h\`; \`vms\` lists them.`);
  }
  if (distinct.size > MAX_VMS) {
    return fail(`That is ${distinct.size} VMs; one request covers at most ${MAX_VMS}. Split it up.`);
  }
  const vms = [...distinct.values()];
  for (const name of vms) {
    meter.add(name.length);
    if (!isVmName(name)) return fail(notAVmName(name));
  }

  let ports: number[] | undefined;
  let durationMs: number | undefined;
  let source: string | undefined;
  let reason: string | undefined;
  let start: StartSpec | undefined;
  const seen = new Set<string>();

  while (index < tokens.length) {
    const keywordToken = tokens[index];
    if (keywordToken === undefined) break;
    meter.add(keywordToken.text.length);
    const keyword = keywordToken.text.toLowerCase();
    if (!KEYWORDS.has(keyword)) {
      return fail(
        `I didn't understand "${clip(keywordToken.text)}". After the VM names I expect \`for <duration>\`, \`from <address>\` or \`because <reason>\`${verb === "access" ? ", and `port <n>`" : ""} — e.g. \`${example} for 2h because INC-4211\`. VM names come right after \`${verb}\`.`,
      );
    }
    const clause = keyword === "ports" ? "port" : keyword;
    if (seen.has(clause))
      return fail(`You gave \`${clause}\` twice; say it once, e.g. \`${example} for 2h\`.`);
    seen.add(clause);
    index++;

    if (clause === "because") {
      // The reason is the rest of the line as typed, keywords included ("because for the deploy").
      const raw = keywordToken.start + keywordToken.text.length;
      meter.add(2 * (text.length - raw));
      const typed = text
        .slice(raw)
        .replace(/[\s\p{Cc}]+/gu, " ")
        .trim();
      if (typed === "")
        return fail("`because` needs a reason, e.g. `because INC-4211` or `because deploy hotfix`.");
      if (typed.length > MAX_FREE_TEXT_LENGTH) {
        return fail(
          `That reason is ${typed.length} characters; keep it under ${MAX_FREE_TEXT_LENGTH} (a ticket id and a line is plenty).`,
        );
      }
      reason = typed;
      index = tokens.length;
      continue;
    }

    const values: string[] = [];
    for (; index < tokens.length && !isKeyword(tokens[index]); index++) {
      meter.add((tokens[index]?.text.length ?? 0) + 1);
      values.push(tokens[index]?.text ?? "");
    }

    if (clause === "for") {
      if (values.length === 0)
        return fail("`for` needs a duration, e.g. `for 2h`, `for 30m` or `for 1h30m`.");
      const [durationWords, stray] = splitDuration(values, meter);
      if (stray !== undefined)
        return fail(strayWord(stray, `for ${clip(durationWords.join(" "))}`, verb, example));
      const duration = parseAccessDuration(durationWords.join(""), meter);
      if (!duration.ok) return fail(duration.message);
      durationMs = duration.ms;
    } else if (clause === "at") {
      const parsedStart = parseStart(values);
      meter.add(values.reduce((sum, value) => sum + value.length, 0));
      if (!parsedStart.ok) return fail(parsedStart.message);
      start = parsedStart.spec;
    } else if (clause === "from") {
      const [value, stray] = values;
      if (value === undefined) {
        return fail(
          "`from` needs an address, e.g. `from 198.51.100.7` or `from 198.51.100.0/28`; leave it out and I'll send you a link that finds your address.",
        );
      }
      if (stray !== undefined) return fail(strayWord(stray, `from ${clip(value)}`, verb, example));
      if (value.length > MAX_ADDRESS_TEXT) return fail(notAnAddress(value));
      meter.add(value.length);
      const parsed = parseSourcePrefix(value);
      if (!parsed.ok) return fail(parsed.message);
      source = value;
    } else {
      if (verb !== "access") {
        return fail(
          `\`${verb}\` always asks for port ${VERB_PORT[verb]}; for other ports type \`access ${vms[0] ?? "<vm>"} port <n>\`.`,
        );
      }
      const parsedPorts = parsePorts(values, meter);
      if (!parsedPorts.ok) return fail(parsedPorts.message);
      ports = parsedPorts.ports;
    }
  }

  if (verb !== "access") ports = [VERB_PORT[verb]];
  if (ports === undefined) {
    return fail(
      `\`access\` needs the port(s), e.g. \`access ${vms[0] ?? "db-01"} port 5432\` or \`port 80,443\`; for SSH or RDP type \`ssh\` / \`rdp\`.`,
    );
  }
  return ok({
    kind: "request",
    verb,
    vms,
    ports,
    ...(durationMs === undefined ? {} : { durationMs }),
    ...(source === undefined ? {} : { source: { text: source } }),
    ...(reason === undefined ? {} : { reason }),
    ...(start === undefined ? {} : { start }),
  });
}

/** One request names at most this many VMs: one card must still be readable. */
export const MAX_VMS = 10;

/** One request names at most this many ports; JIT policies list a handful. */
export const MAX_PORTS = 20;

/** The longest address text worth reading: a full IPv6 with an embedded IPv4 and a /128 is 49. */
const MAX_ADDRESS_TEXT = 64;

function notAnAddress(value: string): string {
  return `"${clip(value)}" is not an IP address or CIDR prefix I can read — e.g. \`from 198.51.100.7\` or \`from 198.51.100.0/28\`.`;
}

/**
 * The words of a `for` clause: "2h", "1h 30m", "2 hours", "PT2H". Anything after them is a
 * stray word, reported as such rather than glued into a nonsense duration.
 */
function splitDuration(values: readonly string[], meter: WorkMeter): [string[], string | undefined] {
  const words: string[] = [];
  for (const value of values) {
    meter.add(value.length + (words[words.length - 1]?.length ?? 0));
    const previous = words[words.length - 1];
    const continues =
      words.length === 0 || /^\d+[a-z]*$/i.test(value) || (previous !== undefined && /^\d+$/.test(previous));
    if (!continues) return [words, value];
    words.push(value);
  }
  return [words, undefined];
}

function parsePorts(
  values: readonly string[],
  meter: WorkMeter,
): { readonly ok: true; readonly ports: number[] } | { readonly ok: false; readonly message: string } {
  meter.add(3 * values.reduce((sum, value) => sum + value.length + 1, 0));
  const items = values
    .join(",")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
  if (items.length === 0)
    return { ok: false, message: "`port` needs a number, e.g. `port 5432` or `port 80,443`." };
  const ports = new Set<number>();
  for (const item of items) {
    meter.add(item.length);
    if (!/^\d{1,12}$/.test(item)) {
      return {
        ok: false,
        message: `"${clip(item)}" is not a port number; type e.g. \`port 5432\` or \`port 80,443\` (ranges are not supported).`,
      };
    }
    const port = Number(item);
    if (port < 1 || port > 65535) return { ok: false, message: `port ${item} is not a TCP port (1–65535).` };
    ports.add(port);
    if (ports.size > MAX_PORTS)
      return { ok: false, message: `One request opens at most ${MAX_PORTS} ports; split it up.` };
  }
  meter.add(MAX_PORTS * 5); // sorting at most MAX_PORTS numbers
  return { ok: true, ports: [...ports].sort((a, b) => a - b) };
}

/** Incident references as on-call tools write them: INC-9, INC9, PD-1234, #4211. */
const INCIDENT = /^(?:[A-Za-z]{1,12}-?\d{1,12}|#\d{1,12})$/;

function parseBreakGlass(tokens: readonly Token[], text: string, meter: WorkMeter): ParseResult {
  const usage = "Type `break-glass <vm> <incident> <reason…>`, e.g. `break-glass db-01 INC-9 database down`.";
  const [vmToken, incidentToken, ...rest] = tokens;
  if (vmToken === undefined) return fail(`Which VM? ${usage}`);
  meter.add(vmToken.text.length + (incidentToken?.text.length ?? 0));
  if (!isVmName(vmToken.text)) return fail(notAVmName(vmToken.text));
  if (incidentToken === undefined || !INCIDENT.test(incidentToken.text)) {
    return fail(
      `Break-glass needs an incident reference right after the VM name (like INC-9 or #4211)${incidentToken ? `; "${clip(incidentToken.text)}" is not one` : ""}. ${usage}`,
    );
  }
  let index = 0;
  let durationMs: number | undefined;
  let source: { text: string } | undefined;
  while (index < rest.length) {
    const keyword = rest[index]?.text.toLowerCase();
    const value = rest[index + 1]?.text;
    meter.add((rest[index]?.text.length ?? 0) + 1);
    if (keyword === "for") {
      if (value === undefined || durationMs !== undefined)
        return fail(`\`for\` needs one duration, e.g. \`for 30m\`. ${usage}`);
      // The same range and floor as a normal request: `for 1s` is refused, not granted as "0 min".
      const parsed = parseAccessDuration(value, meter);
      if (!parsed.ok) return fail(parsed.message);
      durationMs = parsed.ms;
    } else if (keyword === "from") {
      if (value === undefined || source !== undefined)
        return fail(`\`from\` needs one address, e.g. \`from 203.0.113.7\`. ${usage}`);
      if (value.length > MAX_ADDRESS_TEXT) return fail(notAnAddress(value));
      meter.add(value.length);
      const parsed = parseSourcePrefix(value);
      if (!parsed.ok) return fail(parsed.message);
      source = { text: value };
    } else {
      break;
    }
    index += 2;
  }
  const reasonStart = rest[index];
  meter.add(3 * (text.length - (reasonStart?.start ?? text.length)));
  const reason = reasonStart
    ? text
        .slice(reasonStart.start)
        .replace(/^because\s+/i, "")
        .replace(/\s+/g, " ")
        .trim()
    : "";
  if (reason === "")
    return fail(`Break-glass needs a reason after the incident, for everyone who will be told. ${usage}`);
  if (reason.length > MAX_FREE_TEXT_LENGTH)
    return fail(
      `Keep the reason under ${MAX_FREE_TEXT_LENGTH} characters; put the details in ${incidentToken.text}.`,
    );
  return ok({
    kind: "break_glass",
    vm: vmToken.text,
    incident: incidentToken.text.toUpperCase(),
    reason,
    ...(durationMs === undefined ? {} : { durationMs }),
    ...(source === undefined ? {} : { source }),
  });
}

function strayWord(word: string, after: string, verb: RequestVerb, example: string): string {
  return `I didn't understand "${clip(word)}" after \`${after}\`. VM names come right after \`${verb}\`, then \`for\`, \`from\` and \`because\` in any order — e.g. \`${example} for 2h because INC-4211\`.`;
}

function notAVmName(name: string): string {
  return `"${clip(name)}" is not a VM name I can look up (letters, digits, - _ . only, optionally as <resource-group>/<vm>).`;
}

/**
 * One pass of a linear regex (`\S+` never backtracks into a run it consumed). Charged three passes:
 * the match, the copy into tokens, and at most one re-join of the words for a refusal's quote.
 */
function tokenize(text: string, meter: WorkMeter): Token[] {
  meter.add(3 * text.length);
  return [...text.matchAll(/\S+/g)].map((match) => ({ text: match[0], start: match.index }));
}

/** `<resource-group>/<vm>` is at most 90 + 1 + 64 characters. */
const MAX_VM_NAME_TEXT = 155;

/** Azure VM names (1–64 of letters, digits, '-', '_', '.'), optionally qualified as `<resource-group>/<vm>`. */
export function isVmName(name: string): boolean {
  if (name.length > MAX_VM_NAME_TEXT) return false;
  return /^([A-Za-z0-9._()-]{1,90}\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name);
}

/**
 * The nearest verb within edit distance 2. Hand-written (a dozen lines of Levenshtein) rather
 * than a dependency, since it runs over a handful of short words.
 */
export function closestVerb(word: string, verbs: readonly string[]): string | undefined {
  let best: { verb: string; distance: number } | undefined;
  for (const verb of verbs) {
    // More than two characters longer or shorter is more than two edits: skip the table.
    if (Math.abs(word.length - verb.length) > 2) continue;
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

function fail(message: string): ParseResult {
  return { ok: false, message };
}

function clip(word: string): string {
  return word.length > 60 ? `${word.slice(0, 60)}…` : word;
}

function tryHelp(): string {
  return "Type `help` for what I understand.";
}

function truncate(word: string): string {
  return word.length > 40 ? `${word.slice(0, 40)}…` : word;
}
