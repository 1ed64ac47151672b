/**
 * The control API under /_sim/ (plain JSON, no auth; the simulator only listens on loopback by default):
 *
 *   GET  /_sim/probe?source=IP&vm=NAME&port=N[&resourceGroup=RG][&protocol=Tcp|Udp]
 *        → {allowed, rule?, reason?, evaluated:[{networkSecurityGroup, rule, access, priority}]}
 *   GET  /_sim/clock → {now, offsetMs};  POST /_sim/clock {offsetMs} | {advanceMs} | {now: ISO}
 *   POST /_sim/faults {…fault} | [{…fault}]  (see faults.ts);  GET /_sim/faults;  DELETE /_sim/faults
 *   GET  /_sim/requests[?pathIncludes=…] → {value:[{method, path, query, time, status, fault?}]};  DELETE clears
 *   POST /_sim/reset → reload the fleet, clear faults, clock offset and the request log
 *   GET  /_sim/fleet → the loaded fleet (as validated)
 *   GET  /_sim/role → {enforced, role?};  PUT /_sim/role {role definition} replaces the role RBAC checks
 *        against (until reset);  DELETE /_sim/role turns RBAC off (until reset)
 */
import { z } from "zod";
import { ArmError } from "./arm-error.ts";
import type { SimClock } from "./clock.ts";
import { type FaultQueue, faultSchema } from "./faults.ts";
import { parseRole, type Rbac } from "./rbac.ts";
import type { Reply } from "./router.ts";
import type { SimState } from "./state.ts";

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly time: string;
  status?: number;
  fault?: string;
  /** The request body of a POST, as sent (tests compare a resent initiate with the first). */
  body?: string;
}

export interface ControlDeps {
  readonly state: () => SimState;
  readonly clock: SimClock;
  readonly faults: FaultQueue;
  readonly requests: LoggedRequest[];
  readonly rbac: Rbac;
  readonly reset: () => void;
}

const clockBody = z.union([
  z.object({ offsetMs: z.number() }).strict(),
  z.object({ advanceMs: z.number() }).strict(),
  z.object({ now: z.string().datetime({ offset: true }) }).strict(),
]);

function parse<S extends z.ZodTypeAny>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ArmError(
      400,
      "InvalidControlRequest",
      `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`,
    );
  }
  return result.data;
}

function clockJson(clock: SimClock): Reply {
  return { status: 200, body: { now: clock.now().toISOString(), offsetMs: clock.offsetMs } };
}

export function handleControl(deps: ControlDeps, method: string, url: URL, body: unknown): Reply {
  const path = url.pathname.replace(/\/+$/, "");
  const key = `${method} ${path}`;
  switch (key) {
    case "GET /_sim/probe": {
      const source = url.searchParams.get("source");
      const vm = url.searchParams.get("vm");
      const port = Number(url.searchParams.get("port"));
      if (!source || !vm || !Number.isInteger(port) || port < 0 || port > 65535) {
        throw new ArmError(400, "InvalidControlRequest", "probe needs source, vm and port");
      }
      const rg = url.searchParams.get("resourceGroup");
      const protocol = url.searchParams.get("protocol")?.toLowerCase() === "udp" ? "Udp" : "Tcp";
      const result = deps.state().probe({ source, vm, port, protocol, ...(rg ? { resourceGroup: rg } : {}) });
      return { status: 200, body: result };
    }
    case "GET /_sim/clock":
      return clockJson(deps.clock);
    case "POST /_sim/clock": {
      const b = parse(clockBody, body);
      if ("offsetMs" in b) deps.clock.setOffset(b.offsetMs);
      else if ("advanceMs" in b) deps.clock.advance(b.advanceMs);
      else deps.clock.setNow(new Date(b.now));
      return clockJson(deps.clock);
    }
    case "GET /_sim/faults":
      return { status: 200, body: { value: deps.faults.list() } };
    case "POST /_sim/faults": {
      const faults = parse(z.union([faultSchema, z.array(faultSchema)]), body);
      deps.faults.add(Array.isArray(faults) ? faults : [faults]);
      return { status: 200, body: { value: deps.faults.list() } };
    }
    case "DELETE /_sim/faults":
      deps.faults.clear();
      return { status: 204 };
    case "GET /_sim/requests": {
      const filter = url.searchParams.get("pathIncludes")?.toLowerCase();
      const value = filter
        ? deps.requests.filter((r) => r.path.toLowerCase().includes(filter))
        : deps.requests;
      return { status: 200, body: { value } };
    }
    case "DELETE /_sim/requests":
      deps.requests.length = 0;
      return { status: 204 };
    case "POST /_sim/reset":
      deps.reset();
      return { status: 200, body: { reset: true, subscriptionId: deps.state().subscriptionId } };
    case "GET /_sim/role": {
      const role = deps.rbac.role;
      return { status: 200, body: { enforced: role !== undefined, ...(role ? { role } : {}) } };
    }
    case "PUT /_sim/role": {
      try {
        deps.rbac.set(parseRole(body, "PUT /_sim/role"));
      } catch (error) {
        throw new ArmError(400, "InvalidControlRequest", (error as Error).message);
      }
      return { status: 200, body: { enforced: true, role: deps.rbac.role } };
    }
    case "DELETE /_sim/role":
      deps.rbac.set(undefined);
      return { status: 204 };
    case "GET /_sim/fleet":
      return { status: 200, body: deps.state().fleet };
    default:
      throw new ArmError(404, "NotFound", `No control endpoint ${key}.`);
  }
}
