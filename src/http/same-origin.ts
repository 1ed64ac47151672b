/**
 * Did a form post come from our own page? Browsers say so in Sec-Fetch-Site, Origin and Referer;
 * each one present must agree. A client that sends none of them (curl) is let through: the one-time
 * token in the form is what authorises the post, this check only stops other sites from posting it.
 */
import type { IncomingHttpHeaders } from "node:http";

export function isSameOrigin(headers: IncomingHttpHeaders, publicBaseUrl: string): boolean {
  const fetchSite = header(headers, "sec-fetch-site");
  if (fetchSite !== undefined && fetchSite !== "same-origin") return false;
  const host = header(headers, "host");
  const ours = originOf(publicBaseUrl);
  const matches = (url: string): boolean => {
    const origin = originOf(url);
    if (origin === undefined) return false;
    return origin === ours || (host !== undefined && new URL(origin).host === host.toLowerCase());
  };
  const origin = header(headers, "origin");
  // "null" is an opaque origin (a sandboxed frame, a data: page): never ours.
  if (origin !== undefined) return matches(origin);
  const referer = header(headers, "referer");
  if (referer !== undefined) return matches(referer);
  return true;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function originOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}
