/**
 * Fires due timers: claims a batch (one process wins each row), runs its handler, marks it done,
 * or releases it for a later attempt with backoff. A timer whose claimer died is claimed again
 * once its lease lapses, so work is done late rather than never.
 */
import type { AppContext } from "./context.ts";
import type { ClaimedTimer } from "./ports.ts";

export type TimerHandler = (timer: ClaimedTimer) => Promise<void>;

export interface TimerRunner {
  /** Looks for due work now instead of at the next poll. */
  wake(): void;
  /** One pass; returns how many timers ran. Tests drive the runner with this and an injected clock. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

export interface TimerRunnerOptions {
  readonly owner: string;
  readonly pollMs: number;
  readonly leaseMs: number;
  readonly batch: number;
  /** false: no background loop (tests call runOnce). */
  readonly loop: boolean;
}

export function createTimerRunner(
  ctx: Pick<AppContext, "store" | "clock" | "logger">,
  handlers: Readonly<Record<string, TimerHandler>>,
  options: TimerRunnerOptions,
): TimerRunner {
  let stopped = false;
  let running: Promise<number> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  async function pass(): Promise<number> {
    const now = ctx.clock.now();
    const claimed = await ctx.store.timers.claimDue(
      now,
      options.owner,
      new Date(now.getTime() + options.leaseMs),
      options.batch,
    );
    // Heartbeat: the batch's claims stay ours while the handlers run, however long Azure takes, so
    // no other process claims (and fires) a timer this one is still firing. A dead process stops
    // beating and its claims lapse after one lease.
    const unfinished = new Set(claimed.map((due) => due.id));
    const heartbeat =
      claimed.length === 0
        ? undefined
        : setInterval(
            () => {
              ctx.store.timers
                .extendLease(
                  [...unfinished],
                  options.owner,
                  new Date(ctx.clock.now().getTime() + options.leaseMs),
                )
                .catch((error: unknown) => ctx.logger.warn({ err: error }, "could not extend timer leases"));
            },
            Math.max(50, Math.floor(options.leaseMs / 3)),
          );
    heartbeat?.unref();
    try {
      // Different requests' timers run side by side; one request's timers run in due order
      // (a window's expiry before its closure check, even when both are overdue after downtime).
      const byRequest = new Map<string, ClaimedTimer[]>();
      const inOrder = [...claimed].sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || a.id - b.id);
      for (const due of inOrder) {
        const group = String(due.payload.requestId ?? due.key);
        byRequest.set(group, [...(byRequest.get(group) ?? []), due]);
      }
      await Promise.all(
        [...byRequest.values()].map(async (group) => {
          for (const due of group) {
            await fire(due);
            unfinished.delete(due.id);
          }
        }),
      );
    } finally {
      if (heartbeat) clearInterval(heartbeat);
    }
    return claimed.length;
  }

  async function fire(due: ClaimedTimer): Promise<void> {
    const handler = handlers[due.kind];
    try {
      if (!handler) throw new Error(`no handler for timer kind ${due.kind}`);
      await handler(due);
      await ctx.store.timers.complete(due.id, options.owner);
    } catch (error) {
      const delayMs = Math.min(2 ** due.attempts * 1000, 5 * 60_000);
      ctx.logger.warn(
        { err: error, timer: due.key, attempts: due.attempts + 1, retryInMs: delayMs },
        "timer failed; will retry",
      );
      await ctx.store.timers.retryLater(
        due.id,
        options.owner,
        new Date(ctx.clock.now().getTime() + delayMs),
        error instanceof Error ? error.message : String(error),
      );
    }
  }

  function runOnce(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = pass().finally(() => {
      running = undefined;
      if (again && !stopped) {
        again = false;
        void runOnce().catch((error: unknown) => ctx.logger.error({ err: error }, "timer pass failed"));
      }
    });
    return running;
  }

  /** A full batch means more may be due: look again at once instead of after a poll interval. */
  function schedule(delayMs: number): void {
    if (stopped || !options.loop) return;
    timer = setTimeout(() => {
      runOnce()
        .then((count) => count >= options.batch)
        .catch((error: unknown) => {
          ctx.logger.error({ err: error }, "timer pass failed");
          return false;
        })
        .then((full) => schedule(full ? 0 : options.pollMs));
    }, delayMs);
    timer.unref();
  }
  schedule(options.pollMs);

  return {
    wake() {
      if (stopped) return;
      void runOnce().catch((error: unknown) => ctx.logger.error({ err: error }, "timer pass failed"));
    },
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
