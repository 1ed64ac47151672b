/**
 * The ARM simulator: an HTTP server answering the Azure Resource Manager paths Portcullis uses, so the
 * real @azure/arm-security, arm-compute and arm-network clients run against it with `endpoint: url`.
 * Control endpoints live under /_sim/ (routes-control.ts).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { ArmError } from "./arm-error.ts";
import { SimClock } from "./clock.ts";
import { FaultQueue } from "./faults.ts";
import { DEFAULT_FLEET_PATH, type Fleet, type FleetInput, loadFleet, parseFleet } from "./fleet.ts";
import {
  actionFor,
  authorizationFailed,
  loadRole,
  parseRole,
  Rbac,
  type Role,
  type RoleInput,
} from "./rbac.ts";
import { matchRoute, type Reply, type Route } from "./router.ts";
import { computeRoutes } from "./routes-compute.ts";
import { type ControlDeps, handleControl, type LoggedRequest } from "./routes-control.ts";
import { networkRoutes } from "./routes-network.ts";
import { SECURITY_API_VERSION, securityRoutes } from "./routes-security.ts";
import { DEFAULT_REQUESTOR, SimState } from "./state.ts";

export interface SimulatorOptions {
  /** 0 = ephemeral (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default env/fleet.json from the repository root. Ignored when `fleet` is given. */
  fleetPath?: string;
  /** An inline fleet (validated like the file). */
  fleet?: Fleet | FleetInput;
  /** Base clock, default the system clock; the /_sim/clock offset adds on top. */
  now?: () => Date;
  logger?: Logger;
  /** Items per page in list responses before a nextLink (default 100). */
  pageSize?: number;
  /**
   * RBAC as ARM enforces it (rbac.ts): a role file path, an inline role, or `false` for no checks.
   * Default infra/portcullis-role.json, the bot's own role: the simulator refuses what Azure would.
   */
  role?: string | RoleInput | false;
}

export interface RunningSimulator {
  /** http://127.0.0.1:PORT */
  url: string;
  subscriptionId: string;
  close(): Promise<void>;
}

const MAX_LOGGED_REQUESTS = 1000;
const MAX_BODY_BYTES = 1_000_000;

// Order matters only where templates overlap: specific Compute/Security paths before the generic ones.
const ROUTES: readonly Route[] = [...securityRoutes, ...computeRoutes, ...networkRoutes];

export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const readFleet = (): Fleet =>
    options.fleet !== undefined
      ? parseFleet(options.fleet, "inline fleet")
      : loadFleet(options.fleetPath ?? DEFAULT_FLEET_PATH);
  const clock = new SimClock(options.now ?? (() => new Date()));
  const rbac = new Rbac(roleFrom(options.role));
  const faults = new FaultQueue();
  const requests: LoggedRequest[] = [];
  let state = new SimState(readFleet(), clock.now);
  const deps: ControlDeps = {
    state: () => state,
    clock,
    faults,
    requests,
    rbac,
    reset: () => {
      state = new SimState(readFleet(), clock.now);
      rbac.reset();
      faults.clear();
      clock.reset();
      requests.length = 0;
    },
  };
  const pageSize = options.pageSize ?? 100;
  const logger = options.logger;

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger?.error({ err: error }, "simulator: unhandled error");
      if (!res.headersSent) send(res, { status: 500, body: internalError() });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const baseUrl = `http://${req.headers.host ?? "127.0.0.1"}`;
    const url = new URL(req.url ?? "/", baseUrl);
    const text = await readBody(req);

    if (url.pathname.startsWith("/_sim/")) {
      const body = text.length > 0 ? safeJson(text) : undefined;
      const reply = body === INVALID ? badJson() : await guard(() => handleControl(deps, method, url, body));
      send(res, reply);
      return;
    }

    const entry: LoggedRequest = {
      method,
      path: url.pathname,
      query: url.search,
      time: clock.now().toISOString(),
      ...(method === "POST" ? { body: text } : {}),
    };
    requests.push(entry);
    if (requests.length > MAX_LOGGED_REQUESTS) requests.shift();

    const auth = req.headers.authorization;
    if (!auth || !/^Bearer\s+\S+/i.test(auth)) {
      entry.status = 401;
      send(res, {
        status: 401,
        headers: {
          "www-authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common"',
        },
        body: new ArmError(
          401,
          "AuthenticationFailed",
          "Authentication failed. The 'Authorization' header is missing.",
        ).toBody(),
      });
      return;
    }

    const fault = faults.take(method, url.pathname + url.search);
    if (fault) entry.fault = fault.kind;
    if (fault?.kind === "latency" && fault.when === "before") await sleep(fault.latencyMs ?? 1000);
    if (fault && fault.kind !== "latency" && fault.when === "before") {
      applyFault(res, fault.kind, fault.retryAfterSeconds, entry, requestorFrom(auth));
      return;
    }

    const reply = guard(() => {
      const body = text.length > 0 ? safeJson(text) : undefined;
      if (body === INVALID) return badJson();
      return route(req, method, url, body, baseUrl, auth);
    });
    const resolved = await reply;
    if (fault && fault.kind !== "latency" && fault.when === "after") {
      applyFault(res, fault.kind, fault.retryAfterSeconds, entry, requestorFrom(auth));
      return;
    }
    entry.status = resolved.status;
    // Latency "after": the request took effect (and shows in the log); only the answer is late.
    if (fault?.kind === "latency" && fault.when === "after") await sleep(fault.latencyMs ?? 1000);
    logger?.debug({ method, path: url.pathname, status: resolved.status }, "simulator: ARM request");
    send(res, resolved);
  }

  function route(
    req: IncomingMessage,
    method: string,
    url: URL,
    body: unknown,
    baseUrl: string,
    auth: string,
  ): Reply | Promise<Reply> {
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion) {
      throw new ArmError(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
      );
    }
    const sub = /^\/subscriptions\/([^/]+)/i.exec(url.pathname)?.[1];
    if (sub !== undefined && sub.toLowerCase() !== state.subscriptionId.toLowerCase()) {
      throw new ArmError(404, "SubscriptionNotFound", `The subscription '${sub}' could not be found.`);
    }
    const requestor = requestorFrom(auth);
    // ARM authorizes before any resource provider sees the request (so a missing resource is a 403 too).
    rbac.check(requestor, method, url.pathname);
    if (/\/providers\/Microsoft\.Security\//i.test(url.pathname) && apiVersion !== SECURITY_API_VERSION) {
      throw new ArmError(
        400,
        "NoRegisteredProviderFound",
        `No registered resource provider found for api-version '${apiVersion}'. The supported api-versions for jitNetworkAccessPolicies are '${SECURITY_API_VERSION}'.`,
      );
    }
    const match = matchRoute(ROUTES, method, url.pathname);
    if (!match) {
      throw new ArmError(
        404,
        "InvalidResourceType",
        `The simulator does not serve '${method} ${url.pathname}'.`,
      );
    }
    if ("methodNotAllowed" in match) {
      throw new ArmError(
        405,
        "MethodNotAllowed",
        `The simulator does not allow ${method} on '${url.pathname}'.`,
      );
    }
    return match.route.handler({
      req,
      url,
      params: match.params,
      body,
      state,
      baseUrl,
      requestor,
      rbac,
      pageSize,
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger?.info({ url, subscriptionId: state.subscriptionId }, "ARM simulator listening");
  return {
    url,
    get subscriptionId() {
      return state.subscriptionId;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

const INVALID: unique symbol = Symbol("invalid JSON");

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return INVALID;
  }
}

function badJson(): Reply {
  return {
    status: 400,
    body: new ArmError(
      400,
      "InvalidRequestContent",
      "The request content was invalid and could not be deserialized.",
    ).toBody(),
  };
}

function internalError(): unknown {
  return new ArmError(500, "InternalServerError", "The simulator failed to process the request.").toBody();
}

/** Turns thrown ArmErrors (sync or async) into CloudError replies. */
async function guard(fn: () => Reply | Promise<Reply>): Promise<Reply> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof ArmError) return { status: error.status, body: error.toBody() };
    throw error;
  }
}

function roleFrom(option: SimulatorOptions["role"]): Role | undefined {
  if (option === false) return undefined;
  if (option === undefined || typeof option === "string") return loadRole(option);
  return parseRole(option, "inline role");
}

function applyFault(
  res: ServerResponse,
  kind: string,
  retryAfterSeconds: number | undefined,
  entry: LoggedRequest,
  principal: string,
): void {
  if (kind === "drop") {
    entry.status = 0;
    res.socket?.destroy();
    return;
  }
  const status = Number(kind);
  entry.status = status;
  if (status === 403) {
    // A role assignment removed (or not yet propagated) under a running bot: ARM's refusal, as is.
    const action = actionFor(entry.method, entry.path) ?? "Microsoft.Resources/subscriptions/read";
    send(res, { status, body: authorizationFailed(principal, action, entry.path).toBody() });
    return;
  }
  const code =
    status === 429 ? "TooManyRequests" : status === 503 ? "ServiceUnavailable" : "InternalServerError";
  send(res, {
    status,
    headers: retryAfterSeconds !== undefined ? { "retry-after": String(retryAfterSeconds) } : {},
    body: new ArmError(status, code, `Injected fault: ${kind}.`).toBody(),
  });
}

function send(res: ServerResponse, reply: Reply): void {
  const requestId = randomUUID();
  const headers: Record<string, string> = {
    "x-ms-request-id": requestId,
    "x-ms-correlation-request-id": requestId,
    ...reply.headers,
  };
  // Not chained: restify, when loaded in the same process, patches ServerResponse.writeHead to return nothing.
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers);
    res.end();
    return;
  }
  const payload = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(payload)),
  });
  res.end(payload);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new Error("request body too large");
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The caller's UPN from an unverified JWT bearer token (upn / unique_name / preferred_username), else a dev name. */
function requestorFrom(authorization: string): string {
  const token = authorization.replace(/^Bearer\s+/i, "");
  const payload = token.split(".")[1];
  if (!payload) return DEFAULT_REQUESTOR;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    for (const claim of ["upn", "unique_name", "preferred_username", "email"]) {
      const value = claims[claim];
      if (typeof value === "string" && value.length > 0) return value;
    }
  } catch {
    // Not a JWT: the development token is an opaque string.
  }
  return DEFAULT_REQUESTOR;
}
