/**
 * The one place where Azure SDK failures become PortcullisErrors: a stable code, a sentence a chat
 * user can act on, and the original error kept as `cause` for the log.
 */
import { ErrorCode, PortcullisError } from "../domain/errors.ts";

/** What the gateway was doing, phrased to finish "the bot's identity is not allowed to …". */
export interface ErrorContext {
  /** e.g. "read JIT policies", "request JIT access to web-01". */
  readonly action: string;
  /** When the call was about one VM: its name, for the 404 sentence. */
  readonly vmName?: string;
  /** Set when the call addressed a JIT policy (get / initiate): a 404 then means the policy is gone. */
  readonly policy?: { readonly resourceGroup: string; readonly location: string; readonly name: string };
}

/** Duck-typed: core-rest-pipeline and @typespec/ts-http-runtime each have a RestError class. */
export interface RestErrorLike {
  readonly name: string;
  readonly message: string;
  readonly statusCode?: number;
  readonly code?: string;
  readonly response?: { readonly headers?: { get(name: string): string | undefined } };
}

export function isRestErrorLike(error: unknown): error is RestErrorLike {
  return error instanceof Error && error.name === "RestError";
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "REQUEST_SEND_ERROR",
]);

/**
 * True when the call may or may not have reached Azure: transport failures, timeouts, 5xx.
 * For initiate this is the "did the grant happen?" case that needs a look at the history.
 */
export function isOutcomeUnknown(error: unknown): boolean {
  if (isAbortError(error)) return true;
  if (!isRestErrorLike(error)) return false;
  if (error.statusCode === undefined) return error.code === undefined || NETWORK_CODES.has(error.code);
  return error.statusCode >= 500 || error.statusCode === 408;
}

/**
 * Turns Azure's message into one plain sentence: no JSON, no line breaks, bounded length.
 * Returns undefined when nothing readable is left.
 */
export function cleanAzureMessage(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let text = raw.trim();
  if (text.startsWith("{")) {
    try {
      const parsed = JSON.parse(text) as { error?: { message?: unknown }; message?: unknown };
      const inner = parsed.error?.message ?? parsed.message;
      text = typeof inner === "string" ? inner : "";
    } catch {
      text = "";
    }
  }
  text = text
    // A full ARM id says less to a chat user than the resource's name.
    .replace(/\/subscriptions\/[^\s'",]+/gi, (id) => id.replace(/\/+$/, "").split("/").pop() ?? id)
    .replace(/\s+/g, " ")
    .replace(/[{}[\]"]/g, "")
    .trim();
  if (!text) return undefined;
  if (text.length > 240) text = `${text.slice(0, 237).trimEnd()}…`;
  if (!/[.!?…]$/.test(text)) text = `${text}.`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function retryAfterSeconds(error: RestErrorLike): number | undefined {
  const header = error.response?.headers?.get("retry-after");
  if (!header) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

function notFound(error: RestErrorLike, context: ErrorContext): PortcullisError {
  const subject = context.vmName ?? "That VM";
  const code = error.code?.toLowerCase() ?? "";
  const vmGone = code.includes("virtualmachine") || code === "vmnotfound" || code === "resourcegroupnotfound";
  if (context.policy && !vmGone) {
    const where = `${context.policy.resourceGroup}/${context.policy.location}`;
    return new PortcullisError(
      ErrorCode.PolicyNotFound,
      `${subject} has no JIT policy any more (policy "${context.policy.name}" in ${where} was not found). Ask an admin to enable JIT on it in Defender for Cloud.`,
      { cause: error, detail: `404 ${error.code ?? ""} while trying to ${context.action}` },
    );
  }
  return new PortcullisError(
    ErrorCode.VmNotFound,
    `${subject} was not found in Azure any more; it may have been deleted or moved. Try "vms" to see what is there now.`,
    { cause: error, detail: `404 ${error.code ?? ""} while trying to ${context.action}` },
  );
}

export function toPortcullisError(error: unknown, context: ErrorContext): PortcullisError {
  if (error instanceof PortcullisError) return error;
  const detail = `${context.action}: ${error instanceof Error ? error.message : String(error)}`;
  if (isAbortError(error)) {
    return new PortcullisError(
      ErrorCode.AzureUnavailable,
      `Azure did not answer in time when I tried to ${context.action}. Try again in a few minutes.`,
      { cause: error, detail },
    );
  }
  if (!isRestErrorLike(error)) {
    return new PortcullisError(
      ErrorCode.Internal,
      `Something went wrong on my side when I tried to ${context.action}. The details are in the bot's log.`,
      { cause: error, detail },
    );
  }
  const status = error.statusCode;
  if (status === undefined || isOutcomeUnknown(error)) {
    return new PortcullisError(
      ErrorCode.AzureUnavailable,
      `Azure is unavailable right now, so I could not ${context.action}. Try again in a few minutes.`,
      { cause: error, detail },
    );
  }
  if (status === 401 || status === 403) {
    return new PortcullisError(
      ErrorCode.AzureForbidden,
      `The bot's identity is not allowed to ${context.action}; ask an admin to assign the Portcullis role to it.`,
      { cause: error, detail },
    );
  }
  if (status === 404) return notFound(error, context);
  if (status === 429) {
    const seconds = retryAfterSeconds(error);
    const when = seconds === undefined ? "in a minute" : `in ${Math.max(1, Math.ceil(seconds))} seconds`;
    return new PortcullisError(
      ErrorCode.AzureThrottled,
      `Azure is throttling the bot's requests, so I could not ${context.action}. Try again ${when}.`,
      { cause: error, detail },
    );
  }
  const azureSays = cleanAzureMessage(error.message);
  return new PortcullisError(
    ErrorCode.AzureRefused,
    azureSays
      ? `Azure refused to ${context.action}: ${azureSays}`
      : `Azure refused to ${context.action} (HTTP ${status}).`,
    { cause: error, detail: `${status} ${error.code ?? ""} ${detail}` },
  );
}

/** A response from Azure with a 5xx status (not a transport failure or a timeout). */
export function serverErrorOf(error: unknown): RestErrorLike | undefined {
  return isRestErrorLike(error) && error.statusCode !== undefined && error.statusCode >= 500
    ? error
    : undefined;
}

/**
 * An initiate that got a 5xx, was not in the history, was sent once more with the identical body
 * and got a 5xx again: final for this attempt, with Azure's own code for whoever reads it.
 */
export function serverFailure(
  first: RestErrorLike,
  second: RestErrorLike,
  context: ErrorContext,
  cause: unknown,
): PortcullisError {
  const codeOf = (error: RestErrorLike) =>
    [`HTTP ${error.statusCode ?? "?"}`, safeCode(error.code)].filter((part) => part !== "").join(" ");
  const codes = [...new Set([codeOf(first), codeOf(second)])].join(", then ");
  return new PortcullisError(
    ErrorCode.AzureServerError,
    `Azure failed twice with a server error (${codes}) when I tried to ${context.action}, and its request history shows nothing, so Azure did not act on it. Try again in a few minutes.`,
    { cause, detail: `${context.action}: ${codes}` },
  );
}

/** Azure's error codes are identifiers ("InternalServerError"); anything else is not shown. */
function safeCode(code: string | undefined): string {
  return code !== undefined && /^[A-Za-z][A-Za-z0-9_.]{0,79}$/.test(code) ? code : "";
}
