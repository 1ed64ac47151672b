/**
 * A tiny route table over node:http. ARM paths are case-insensitive templates with `{param}` segments;
 * a framework would add a dependency and its own path-case rules for about forty lines of code here.
 */
import type { IncomingMessage } from "node:http";
import type { Rbac } from "./rbac.ts";
import type { SimState } from "./state.ts";

export interface RouteContext {
  readonly req: IncomingMessage;
  readonly url: URL;
  readonly params: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly state: SimState;
  /** `http://host:port` as the client addressed us; nextLink URLs start with it. */
  readonly baseUrl: string;
  readonly requestor: string;
  /** For checks the resource provider makes itself, beyond ARM's one action per request. */
  readonly rbac: Rbac;
  readonly pageSize: number;
}

export interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Handler = (ctx: RouteContext) => Reply | Promise<Reply>;

export interface Route {
  readonly method: string;
  readonly template: string;
  readonly regex: RegExp;
  readonly names: readonly string[];
  readonly handler: Handler;
}

/** `{name}` matches one segment, `{*name}` the rest of the path. */
export function route(method: string, template: string, handler: Handler): Route {
  const names: string[] = [];
  const pattern = template
    .split("/")
    .map((segment) => {
      const rest = /^\{\*(\w+)\}$/.exec(segment);
      if (rest?.[1]) {
        names.push(rest[1]);
        return "(.+)";
      }
      const param = /^\{(\w+)\}$/.exec(segment);
      if (param?.[1]) {
        names.push(param[1]);
        return "([^/]+)";
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return { method, template, regex: new RegExp(`^${pattern}/?$`, "i"), names, handler };
}

export function matchRoute(
  routes: readonly Route[],
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | { methodNotAllowed: true } | undefined {
  let pathMatched = false;
  for (const r of routes) {
    const m = r.regex.exec(path);
    if (!m) continue;
    pathMatched = true;
    if (r.method !== method) continue;
    const params: Record<string, string> = {};
    r.names.forEach((n, i) => {
      params[n] = decodeURIComponent(m[i + 1] ?? "");
    });
    return { route: r, params };
  }
  return pathMatched ? { methodNotAllowed: true } : undefined;
}

/** ARM paging: `{value:[…], nextLink?}` with an absolute nextLink carrying a `$skiptoken`. */
export function page(ctx: RouteContext, items: readonly unknown[]): Reply {
  const skip = Number(ctx.url.searchParams.get("$skiptoken") ?? "0") || 0;
  const slice = items.slice(skip, skip + ctx.pageSize);
  const next = skip + ctx.pageSize;
  if (next >= items.length) return { status: 200, body: { value: slice } };
  const link = new URL(ctx.url.pathname, ctx.baseUrl);
  for (const [k, v] of ctx.url.searchParams) if (k !== "$skiptoken") link.searchParams.set(k, v);
  link.searchParams.set("$skiptoken", String(next));
  return { status: 200, body: { value: slice, nextLink: link.toString() } };
}

export function ok(body: unknown): Reply {
  return { status: 200, body };
}
