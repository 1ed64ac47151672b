/**
 * Coded errors: a stable code for logs and tests, and a sentence a chat user can act on.
 * One mapping layer (chat/) turns these into replies; the log keeps `cause`.
 */
export const ErrorCode = {
  VmNotFound: "vm_not_found",
  PolicyNotFound: "policy_not_found",
  AzureRefused: "azure_refused",
  AzureThrottled: "azure_throttled",
  AzureUnavailable: "azure_unavailable",
  AzureForbidden: "azure_forbidden",
  /** An initiate answered 5xx, absent from the history, resent once with the identical body, 5xx again. */
  AzureServerError: "azure_server_error",
  StoreConflict: "store_conflict",
  BadCommand: "bad_command",
  /** checkRequest said no before anyone was asked (port, duration, source, reason, approvers). */
  RequestRefused: "request_refused",
  /** A request state machine move that the current state does not allow. */
  IllegalTransition: "illegal_transition",
  /** A decision on a request that is no longer pending; carries who decided first. */
  AlreadyDecided: "already_decided",
  /** The same approver clicked Approve twice on an N-of-M request. */
  AlreadyVoted: "already_voted",
  SelfApproval: "self_approval",
  NotApprover: "not_an_approver",
  NotRequester: "not_requester",
  ReasonRequired: "reason_required",
  /** A deny reason or flag note over the free-text limit (free-text.ts). */
  ReasonTooLong: "reason_too_long",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class PortcullisError extends Error {
  readonly code: ErrorCode;
  /** What the chat user reads. No stack, no Azure JSON. */
  readonly userMessage: string;

  constructor(code: ErrorCode, userMessage: string, options?: { cause?: unknown; detail?: string }) {
    super(
      options?.detail ?? userMessage,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "PortcullisError";
    this.code = code;
    this.userMessage = userMessage;
  }
}

/** Wraps anything thrown into a PortcullisError, keeping the original as `cause`. */
export function asPortcullisError(error: unknown): PortcullisError {
  if (error instanceof PortcullisError) return error;
  return new PortcullisError(
    ErrorCode.Internal,
    "Something went wrong on my side. The details are in the bot's log.",
    {
      cause: error,
      detail: error instanceof Error ? error.message : String(error),
    },
  );
}
