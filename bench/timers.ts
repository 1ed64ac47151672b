/**
 * Timer numbers (issue 4, "Numbers"): how late expiry notices are with 10,000 live grants in the
 * store, and what the timer loop costs while idle. `npm run bench`; not a test.
 *
 *   lateness: 10,000 active requests, each with an expiry timer, due evenly over an hour (steady:
 *     the first minute is watched), then 1,000 of them moved to one instant (burst). One runner
 *     with the production settings (poll 1 s, lease 1 min, batch 20) fires the real expiry
 *     handler; lateness = when the requester's notice was sent − the timer's due time.
 *   idle: 10,000 timers due in an hour; process.cpuUsage() over IDLE_MS of polling.
 *
 * Runs on PGlite (a temp data directory, as the bot uses it) and, when DATABASE_URL is set, on
 * PostgreSQL (a fresh schema, dropped afterwards; the server's own CPU is not in the idle number).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import pino from "pino";
import { expireWindow } from "../src/app/access-window.ts";
import { plainTextOf } from "../src/app/chat-text.ts";
import type { AppContext, AppSettings } from "../src/app/context.ts";
import type { JitGateway, MessageHandle, Notifier, OutboundMessage, Recipient } from "../src/app/ports.ts";
import type { RequestRecord } from "../src/app/request-record.ts";
import { TimerKind, timerKey } from "../src/app/timer-kinds.ts";
import { createTimerRunner } from "../src/app/timer-runner.ts";
import type { AccessRequest } from "../src/domain/access-request.ts";
import { openStore, type PortcullisStore } from "../src/store/index.ts";

const GRANTS = Number(process.env.BENCH_GRANTS ?? 10_000);
/** Live grants' expiries spread over this (10,000 one-hour grants end at about this rate). */
const SPREAD_MS = Number(process.env.BENCH_SPREAD_MS ?? 3_600_000);
/** How much of the steady run is watched. */
const OBSERVE_MS = Number(process.env.BENCH_OBSERVE_MS ?? 60_000);
/** Pause between seeding and the first expiry. */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 10_000);
/** Grants whose expiries are then moved to one instant, to see how fast a pile-up drains. */
const BURST = Number(process.env.BENCH_BURST ?? 1_000);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000);
/** Give up waiting for notices this long after the last one watched is due. */
const GRACE_MS = Number(process.env.BENCH_GRACE_MS ?? 120_000);
const TARGET_P99_MS = 2_000;
const TARGET_IDLE_CORE = 0.01;
/** What main.ts runs with by default. */
const RUNNER = { pollMs: 1_000, leaseMs: 60_000, batch: 20, loop: true } as const;

/** Records when each requester was told, keyed by request id. */
class TimingNotifier implements Notifier {
  readonly toldAt = new Map<string, number>();
  async toUser(_recipient: Recipient, message: OutboundMessage): Promise<MessageHandle> {
    const id = message.kind === "text" ? /^(R-\d+)/.exec(plainTextOf(message.text))?.[1] : undefined;
    if (id && !this.toldAt.has(id)) this.toldAt.set(id, Date.now());
    return { conversationKey: "bench", activityId: "bench" };
  }
  async toConversation(): Promise<MessageHandle> {
    return { conversationKey: "bench", activityId: "bench" };
  }
  async update(): Promise<boolean> {
    return true;
  }
}

function liveGrant(index: number, endedAt: Date): RequestRecord {
  const id = `R-${index + 1}`;
  const request: AccessRequest = {
    id,
    state: "active",
    requester: { id: `aad-${index}`, upn: `user${index}@contoso.com`, name: `User ${index}` },
    targets: [
      {
        vmId: `/subscriptions/00000000-0000-4000-8000-00000000c0de/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm-${index}`,
        vmName: `vm-${index}`,
        resourceGroup: "rg-web",
        location: "westeurope",
        policyName: "default",
        ports: [22],
        osType: "Linux",
      },
    ],
    source: { prefix: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`, origin: "typed" },
    durationMs: 3_600_000,
    createdAt: new Date(endedAt.getTime() - 3_600_000).toISOString(),
    approval: { approvers: ["alice@contoso.com"], required: 1 },
    decisions: [],
    grant: {
      initiatedAt: new Date(endedAt.getTime() - 3_600_000).toISOString(),
      endTimeUtc: endedAt.toISOString(),
      justification: `${id} bench`,
    },
  };
  return {
    request,
    card: { maxDurationMs: 3_600_000, riskFlags: [] },
    cards: [],
    requesterConversationKey: `user:aad-${index}`,
  };
}

function appFor(store: PortcullisStore, notifier: Notifier): AppContext {
  return {
    // The expiry handler reads none of these; the bench has no Azure and no chat.
    gateway: {} as JitGateway,
    settings: { preExpiryWarningMs: 600_000, closureCheckDelayMs: 120_000 } as AppSettings,
    store,
    notifier,
    onCall: { isOnCall: async () => false },
    clock: { now: () => new Date() },
    logger: pino({ level: "warn" }),
    newToken: () => randomBytes(32).toString("base64url"),
    newNonce: () => randomBytes(16).toString("base64url"),
    wake: () => undefined,
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function seedGrants(store: PortcullisStore): Promise<void> {
  const past = new Date();
  const chunk = 200;
  for (let start = 0; start < GRANTS; start += chunk) {
    await Promise.all(
      Array.from({ length: Math.min(chunk, GRANTS - start) }, (_, offset) => {
        const record = liveGrant(start + offset, past);
        return store.requests.insert({
          id: record.request.id,
          state: "active",
          requesterId: record.request.requester.id,
          createdAt: past,
          data: record,
        });
      }),
    );
  }
}

async function scheduleAll(
  store: PortcullisStore,
  dueAt: (index: number) => Date,
): Promise<Map<string, number>> {
  const due = new Map<string, number>();
  const chunk = 200;
  for (let start = 0; start < GRANTS; start += chunk) {
    await Promise.all(
      Array.from({ length: Math.min(chunk, GRANTS - start) }, (_, offset) => {
        const index = start + offset;
        const id = `R-${index + 1}`;
        const at = dueAt(index);
        due.set(id, at.getTime());
        return store.timers.schedule({
          key: timerKey(TimerKind.Expiry, id),
          kind: TimerKind.Expiry,
          dueAt: at,
          payload: { requestId: id },
        });
      }),
    );
  }
  return due;
}

async function lateness(store: PortcullisStore): Promise<void> {
  const seedStarted = Date.now();
  await seedGrants(store);
  // Steady: the expiries are due from SETTLE_MS after scheduling (the store has just taken 20,000
  // writes), evenly over SPREAD_MS.
  const first = Date.now() + SETTLE_MS;
  const due = await scheduleAll(store, (index) => new Date(first + Math.floor((index * SPREAD_MS) / GRANTS)));
  console.log(
    `  seeded ${GRANTS} live grants and their expiry timers in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`,
  );

  const notifier = new TimingNotifier();
  const app = appFor(store, notifier);
  const runner = createTimerRunner(
    app,
    { [TimerKind.Expiry]: (timer) => expireWindow(app, timer) },
    { owner: "bench", ...RUNNER },
  );
  try {
    const observedUntil = first + OBSERVE_MS;
    const steady = [...due].filter(([, at]) => at <= observedUntil);
    await waitFor(notifier, steady, observedUntil + GRACE_MS);
    report(
      `steady: expiries due over ${SPREAD_MS / 60_000} min (${((GRANTS / SPREAD_MS) * 1000).toFixed(1)}/s), the first ${OBSERVE_MS / 1000} s observed`,
      notifier,
      steady,
    );

    // Burst: BURST grants that have not expired yet all end at the same moment.
    const burstAt = Date.now() + 2_000;
    const burst = [...due].slice(-BURST).map(([id]) => [id, burstAt] as const);
    for (const [id] of burst) {
      await store.timers.schedule({
        key: timerKey(TimerKind.Expiry, id),
        kind: TimerKind.Expiry,
        dueAt: new Date(burstAt),
        payload: { requestId: id },
      });
    }
    await waitFor(notifier, burst, burstAt + GRACE_MS);
    report(`burst: ${BURST} expiries due at the same moment`, notifier, burst);
  } finally {
    await runner.stop();
  }
}

async function waitFor(
  notifier: TimingNotifier,
  expected: readonly (readonly [string, number])[],
  giveUpAt: number,
): Promise<void> {
  while (expected.some(([id]) => !notifier.toldAt.has(id)) && Date.now() < giveUpAt) await sleep(250);
}

function report(
  title: string,
  notifier: TimingNotifier,
  expected: readonly (readonly [string, number])[],
): void {
  const late = expected
    .filter(([id]) => notifier.toldAt.has(id))
    .map(([id, dueAt]) => (notifier.toldAt.get(id) ?? dueAt) - dueAt)
    .sort((a, b) => a - b);
  const missing = expected.length - late.length;
  // Notices never sent within the grace period count as infinitely late.
  const p99 = missing > expected.length / 100 ? Number.POSITIVE_INFINITY : percentile(late, 99);
  console.log(`  ${title}:`);
  console.log(
    `    expiry notice lateness over ${late.length} notices: p50 ${ms(percentile(late, 50))}, p99 ${ms(p99)}, max ${ms(late.at(-1) ?? Number.NaN)}` +
      (missing > 0 ? `; ${missing} not sent within ${GRACE_MS / 1000} s` : ""),
  );
  console.log(
    `    target p99 ≤ ${ms(TARGET_P99_MS)}: ${verdict(p99 <= TARGET_P99_MS)} (p99 / target = ${(p99 / TARGET_P99_MS).toFixed(2)})`,
  );
}

async function idleCpu(store: PortcullisStore): Promise<void> {
  const later = Date.now() + 3_600_000;
  await scheduleAll(store, (index) => new Date(later + index * 100));
  const app = appFor(store, new TimingNotifier());
  const runner = createTimerRunner(app, {}, { owner: "bench-idle", ...RUNNER });
  await sleep(RUNNER.pollMs * 2); // past the first polls
  const before = process.cpuUsage();
  const started = process.hrtime.bigint();
  await sleep(IDLE_MS);
  const used = process.cpuUsage(before);
  const wallUs = Number(process.hrtime.bigint() - started) / 1000;
  await runner.stop();
  const share = (used.user + used.system) / wallUs;
  console.log(
    `  idle with ${GRANTS} future timers: ${((used.user + used.system) / 1000).toFixed(0)} ms CPU over ${(wallUs / 1e6).toFixed(1)} s = ${(share * 100).toFixed(3)} % of a core`,
  );
  console.log(
    `  target ≤ ${TARGET_IDLE_CORE * 100} % of a core: ${verdict(share <= TARGET_IDLE_CORE)} (idle / target = ${(share / TARGET_IDLE_CORE).toFixed(2)})`,
  );
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

function verdict(ok: boolean): string {
  return ok ? "met" : "MISSED";
}

async function onPglite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "portcullis-bench-"));
  try {
    for (const part of [lateness, idleCpu]) {
      const store = await openStore({ dataDir: join(dir, `${part.name}`) });
      try {
        await part(store);
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function onPostgres(databaseUrl: string): Promise<void> {
  for (const part of [lateness, idleCpu]) {
    const schema = `portcullis_bench_${randomBytes(6).toString("hex")}`;
    const store = await openStore({ databaseUrl, schema });
    try {
      await part(store);
    } finally {
      await store.close();
      const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  }
}

async function main(): Promise<void> {
  console.log(
    `Timer bench: ${GRANTS} grants; runner poll ${RUNNER.pollMs} ms, lease ${RUNNER.leaseMs / 1000} s, batch ${RUNNER.batch}`,
  );
  console.log("PGlite (temp data directory):");
  await onPglite();
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    console.log(`PostgreSQL (${databaseUrl.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")}):`);
    await onPostgres(databaseUrl);
  } else {
    console.log("PostgreSQL: skipped (set DATABASE_URL to run it there too)");
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
