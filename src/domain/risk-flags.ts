/**
 * Risk flags on the approval card: facts an approver should weigh, not reasons to refuse.
 * Pure; `now` and the requester's zone and address history come from the caller.
 */
import type { AccessRequest } from "./access-request.ts";
import { isWidePrefix, parseSourcePrefix } from "./address.ts";
import { formatDuration } from "./duration.ts";

export const LONG_DURATION_MS = 4 * 3_600_000;
/** Working hours: Monday–Friday, 08:00–18:00 in the requester's time zone (UTC when unknown). */
export const WORKING_HOURS = { from: 8, to: 18 } as const;
const RDP_PORT = 3389;

export type RiskCode = "wide_prefix" | "long_duration" | "outside_hours" | "rdp_new_address";

export interface RiskFlag {
  readonly code: RiskCode;
  readonly message: string;
}

export interface RiskContext {
  readonly now: Date;
  /** IANA zone from the Teams client (`localTimezone`); an unknown zone falls back to UTC. */
  readonly timeZone?: string;
  /** Source prefixes this user had opened before (any form; compared canonically). */
  readonly knownAddressesForUser: readonly string[];
}

export function riskFlags(request: AccessRequest, context: RiskContext): readonly RiskFlag[] {
  const flags: RiskFlag[] = [];
  const source = request.source ? parseSourcePrefix(request.source.prefix) : undefined;

  if (source?.ok && isWidePrefix(source.source)) {
    const hostBits = (source.source.family === "ipv4" ? 32 : 128) - source.source.prefixLength;
    const size =
      source.source.family === "ipv4"
        ? `${2 ** hostBits} addresses`
        : `a /${source.source.prefixLength} network`;
    flags.push({
      code: "wide_prefix",
      message: `The source ${source.source.canonical} is ${size}, not one machine.`,
    });
  }

  if (request.durationMs > LONG_DURATION_MS) {
    flags.push({
      code: "long_duration",
      message: `${formatDuration(request.durationMs)} is longer than ${formatDuration(LONG_DURATION_MS)}.`,
    });
  }

  const local = localTime(context.now, context.timeZone);
  const weekend = local.weekday === "Sat" || local.weekday === "Sun";
  if (weekend || local.hour < WORKING_HOURS.from || local.hour >= WORKING_HOURS.to) {
    flags.push({
      code: "outside_hours",
      message: `Asked at ${local.text} (${local.zone}), outside working hours (Mon–Fri ${pad(WORKING_HOURS.from)}:00–${pad(WORKING_HOURS.to)}:00).`,
    });
  }

  const windowsRdp = request.targets.filter(
    (target) => target.osType === "Windows" && target.ports.includes(RDP_PORT),
  );
  if (source?.ok && windowsRdp.length > 0) {
    const known = context.knownAddressesForUser.map((text) => {
      const parsed = parseSourcePrefix(text);
      return parsed.ok ? parsed.source.canonical : text;
    });
    if (!known.includes(source.source.canonical)) {
      flags.push({
        code: "rdp_new_address",
        message: `Remote Desktop to ${windowsRdp.map((target) => target.vmName).join(", ")} from ${source.source.canonical}, an address ${request.requester.name} has not used before.`,
      });
    }
  }
  return flags;
}

function localTime(
  now: Date,
  timeZone: string | undefined,
): { weekday: string; hour: number; text: string; zone: string } {
  const zone = timeZone ?? "UTC";
  try {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).formatToParts(now);
    const part = (type: Intl.DateTimeFormatPartTypes): string =>
      parts.find((p) => p.type === type)?.value ?? "";
    const hour = Number(part("hour")) % 24;
    return {
      weekday: part("weekday"),
      hour,
      text: `${part("weekday")} ${pad(hour)}:${part("minute")}`,
      zone,
    };
  } catch {
    // An unknown zone name (RangeError) is not worth a failed card: judge in UTC and say so.
    return localTime(now, "UTC");
  }
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}
