/** Everything a use case may touch, handed in by main.ts. */
import type { Logger } from "pino";
import type { ApprovalRules } from "../domain/rules.ts";
import type { Clock, JitGateway, Notifier, OnCallRoster, Store } from "./ports.ts";

export interface AppSettings {
  readonly rules: ApprovalRules;
  /** Base of the one-time IP links, no trailing slash. */
  readonly publicBaseUrl: string;
  readonly trustedProxies: readonly string[];
  readonly acceptDocumentationRanges: boolean;
  /** `npm start` (local mode, embedded simulator): the IP link may stand a documentation address in for loopback. */
  readonly localDemo: boolean;
  /** Conversation key ("conversation:<id>") of a channel that also gets every approval card. */
  readonly approvalsConversationKey: string | undefined;
  readonly sourceLinkTtlMs: number;
  /** Conversation key of the security channel: closure alarms go there besides the approvers. */
  readonly securityConversationKey: string | undefined;
  readonly preExpiryWarningMs: number;
  readonly closureCheckDelayMs: number;
  readonly windowCheckIntervalMs: number;
  readonly breakGlassRunbookUrl: string | undefined;
  /** AUDITORS: lower-cased UPNs who may read every request's evidence. */
  readonly auditors: readonly string[];
}

export interface AppContext {
  readonly gateway: JitGateway;
  readonly store: Store;
  readonly notifier: Notifier;
  readonly onCall: OnCallRoster;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: AppSettings;
  /** Unguessable one-time tokens (32 random bytes, base64url). Injected so tests can follow the link. */
  readonly newToken: () => string;
  /** Random nonces (16 bytes, base64url) that tie Azure's JIT history to one request (justification.ts). */
  readonly newNonce: () => string;
  /** Asks the timer runner to look for due work now (a grant was just scheduled). */
  readonly wake: () => void;
}

/** Who is typing or clicking, as the chat adapter knows them. */
export interface ChatUser {
  readonly id: string;
  readonly upn?: string;
  readonly name: string;
  /** The conversation the message came from ("user:<id>" or "conversation:<id>"). */
  readonly conversationKey: string;
  readonly timeZone?: string;
}
