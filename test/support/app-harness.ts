/**
 * The app's use cases in-process, on real parts: the store on in-memory PGlite, the JIT gateway
 * (real Azure SDK) against the simulator, and one injected clock that both the bot and the
 * simulator read — so tests move time instead of sleeping. Chat is a recording notifier, the
 * stand-in for Teams' connector at this layer (end-to-end tests use the real Teams adapter).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pino from "pino";
import rulesJson from "../../env/rules.json" with { type: "json" };
import { type ChatText, isChatText } from "../../src/app/chat-text.ts";
import type { AppContext, ChatUser } from "../../src/app/context.ts";
import type { MessageHandle, Notifier, OutboundMessage, Recipient } from "../../src/app/ports.ts";
import { createStaticRoster } from "../../src/app/static-roster.ts";
import { timerHandlers } from "../../src/app/timer-handlers.ts";
import { createTimerRunner, type TimerRunner } from "../../src/app/timer-runner.ts";
import { createJitGateway } from "../../src/azure/jit-gateway.ts";
import { renderMarkdown } from "../../src/chat/markdown.ts";
import { parseCommand, type RequestCommand } from "../../src/domain/commands.ts";
import { parseApprovalRules } from "../../src/domain/rules.ts";
import { DEFAULT_FLEET_PATH, type FleetInput } from "../../src/simulator/fleet.ts";
import { type RunningSimulator, startSimulator } from "../../src/simulator/server.ts";
import { openStore, type PortcullisStore } from "../../src/store/index.ts";

export class TestClock {
  private ms: number;
  constructor(start: string) {
    this.ms = Date.parse(start);
  }
  now(): Date {
    return new Date(this.ms);
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** What a chat reads as Markdown: other people's text in it escaped (chat/markdown.ts). */
export function markdownOf(text: ChatText | string): string {
  return isChatText(text) ? renderMarkdown(text) : text;
}

export interface Delivered {
  readonly to: string;
  readonly message: OutboundMessage;
  readonly handle: MessageHandle;
}

/** Records what the app says; users are reachable unless listed in `unreachable`. */
export class RecordingNotifier implements Notifier {
  readonly sent: Delivered[] = [];
  readonly updates: { handle: MessageHandle; message: OutboundMessage }[] = [];
  readonly unreachable = new Set<string>();
  /** The next send throws, as if the process died right there (after whatever the handler wrote before). */
  crashOnNextSend = false;
  private next = 0;

  async toUser(recipient: Recipient, message: OutboundMessage): Promise<MessageHandle | undefined> {
    const who = (recipient.upn ?? recipient.userId ?? "").toLowerCase();
    if (this.unreachable.has(who)) return undefined;
    return this.record(`user:${who}`, message);
  }
  async toConversation(key: string, message: OutboundMessage): Promise<MessageHandle | undefined> {
    return this.record(key, message);
  }
  async update(handle: MessageHandle, message: OutboundMessage): Promise<boolean> {
    this.updates.push({ handle, message });
    return true;
  }
  /** Text messages to one user (by UPN or id), oldest first. */
  textsTo(who: string): string[] {
    return this.sent
      .filter((entry) => entry.to === `user:${who.toLowerCase()}`)
      .flatMap((entry) =>
        entry.message.kind === "text" || (entry.message.kind === "window" && entry.message.text !== undefined)
          ? [entry.message.text === undefined ? "" : markdownOf(entry.message.text)]
          : [],
      );
  }
  private record(to: string, message: OutboundMessage): MessageHandle {
    if (this.crashOnNextSend) {
      this.crashOnNextSend = false;
      throw new Error("simulated crash while sending");
    }
    const handle = { conversationKey: to, activityId: `activity-${++this.next}` };
    this.sent.push({ to, message, handle });
    return handle;
  }
}

export interface Harness {
  readonly app: AppContext;
  readonly clock: TestClock;
  readonly notifier: RecordingNotifier;
  readonly store: PortcullisStore;
  readonly simulator: RunningSimulator;
  readonly timers: TimerRunner;
  /** Runs due timers until none is left (a grant schedules more). */
  settle(): Promise<void>;
  probe(source: string, vm: string, port: number): Promise<boolean>;
  control(method: string, path: string, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

export const sam: ChatUser = {
  id: "aad-sam",
  upn: "sam@contoso.com",
  name: "Sam Engineer",
  conversationKey: "user:aad-sam",
};
/** Owns web-01 and sftp-01 (their jit-approvers tags). */
export const bob: ChatUser = {
  id: "aad-bob",
  upn: "bob@contoso.com",
  name: "Bob Owner",
  conversationKey: "user:aad-bob",
};

/** A typed request, parsed as the bot parses it; throws when the text is not a request. */
export function requestCommand(text: string): RequestCommand {
  const parsed = parseCommand(text);
  if (!parsed.ok || parsed.command.kind !== "request") throw new Error(`not a request: ${text}`);
  return parsed.command;
}

/** On the break-glass roster in env/rules.json (defaults.breakGlass.users). */
export const olive: ChatUser = {
  id: "aad-olive",
  upn: "olive@contoso.com",
  name: "Olive Oncall",
  conversationKey: "user:aad-olive",
};
export const alice: ChatUser = {
  id: "aad-alice",
  upn: "alice@contoso.com",
  name: "Alice Owner",
  conversationKey: "user:aad-alice",
};

export async function startHarness(
  options: {
    readonly start?: string;
    /** Changes the simulated fleet (env/fleet.json) for this harness only. */
    readonly fleet?: (fleet: FleetInput) => FleetInput;
  } = {},
): Promise<Harness> {
  const clock = new TestClock(options.start ?? "2026-11-24T09:00:00Z");
  const fleet = options.fleet?.(JSON.parse(readFileSync(DEFAULT_FLEET_PATH, "utf8")) as FleetInput);
  const simulator = await startSimulator({ port: 0, now: () => clock.now(), ...(fleet ? { fleet } : {}) });
  const store = await openStore({ clock });
  const rules = parseApprovalRules(rulesJson);
  if (!rules.ok) throw new Error(rules.message);
  const notifier = new RecordingNotifier();
  const logger = pino({ level: process.env.HARNESS_LOG ?? "silent" });
  let tokens = 0;
  const app: AppContext = {
    gateway: createJitGateway({
      armEndpoint: simulator.url,
      subscriptionId: simulator.subscriptionId,
      clock,
      logger,
      reconcileDelaysMs: [0],
      // The SDK's retry policy as shipped, with short pauses: the tests move the injected clock, not real time.
      retryOptions: { retryDelayInMs: 20, maxRetryDelayInMs: 200 },
    }),
    store,
    notifier,
    onCall: createStaticRoster(rules.rules, []),
    clock,
    logger,
    settings: {
      rules: rules.rules,
      publicBaseUrl: "http://localhost:3978",
      trustedProxies: [],
      acceptDocumentationRanges: true,
      localDemo: false,
      approvalsConversationKey: undefined,
      sourceLinkTtlMs: 10 * 60_000,
      securityConversationKey: "conversation:security",
      preExpiryWarningMs: 10 * 60_000,
      closureCheckDelayMs: 2 * 60_000,
      windowCheckIntervalMs: 5 * 60_000,
      breakGlassRunbookUrl: "https://wiki.example.com/runbooks/jit-break-glass",
      auditors: ["sec@contoso.com"],
    },
    newToken: () => `token-${++tokens}`,
    newNonce: () => randomBytes(16).toString("base64url"),
    wake: () => undefined,
  };
  const runner = createTimerRunner(app, timerHandlers(app), {
    owner: "test",
    pollMs: 1000,
    leaseMs: 60_000,
    batch: 50,
    loop: false,
  });
  const control = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${simulator.url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text === "" ? undefined : JSON.parse(text);
  };
  return {
    app,
    clock,
    notifier,
    store,
    simulator,
    timers: runner,
    async settle() {
      for (let pass = 0; pass < 20; pass++) if ((await runner.runOnce()) === 0) return;
      throw new Error("timers keep firing");
    },
    async probe(source, vm, port) {
      return (
        (await control("GET", `/_sim/probe?source=${source}&vm=${vm}&port=${port}`)) as { allowed: boolean }
      ).allowed;
    },
    control,
    async close() {
      await runner.stop();
      await store.close();
      await simulator.close();
    },
  };
}
