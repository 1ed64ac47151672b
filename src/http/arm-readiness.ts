/**
 * ARM reachability as a readiness detail, not a liveness verdict: checked at most once per
 * `ttlMs` whatever the rate of health probes, answered from the last result meanwhile. An ARM
 * throttle or a Defender incident must not make the platform pull every instance — the bot stays
 * up to tell users "Azure is unavailable" — and health probes must not add to the throttling.
 */
import type { Clock } from "../app/ports.ts";
import { asPortcullisError } from "../domain/errors.ts";

export interface ArmState {
  /** "ok", or the sentence the last check ended with; "not checked yet" before the first answer. */
  readonly arm: string;
  /** ISO 8601: when the answer was taken; absent before the first. */
  readonly armCheckedAt?: string;
}

export interface ArmReadiness {
  /** The last result; starts a fresh check in the background when it is older than the TTL. */
  current(): ArmState;
  /** The last result, waiting up to `waitMs` for a check in flight when there is none yet. */
  settled(waitMs: number): Promise<ArmState>;
}

export const ARM_READINESS_TTL_MS = 30_000;

export function createArmReadiness(
  probe: () => Promise<void>,
  clock: Clock,
  ttlMs: number = ARM_READINESS_TTL_MS,
): ArmReadiness {
  let last: { readonly state: ArmState; readonly at: number } | undefined;
  let inFlight: Promise<void> | undefined;

  const refresh = (): Promise<void> => {
    inFlight ??= probe()
      .then(
        () => "ok",
        (error: unknown) => asPortcullisError(error).userMessage,
      )
      .then((arm) => {
        const at = clock.now();
        last = { state: { arm, armCheckedAt: at.toISOString() }, at: at.getTime() };
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  // A function, not a read of `last`: TypeScript would keep its narrowing across the await below.
  const lastState = (): ArmState | undefined => last?.state;

  const current = (): ArmState => {
    if (!last || clock.now().getTime() - last.at >= ttlMs) void refresh();
    return last?.state ?? { arm: "not checked yet" };
  };

  return {
    current,
    async settled(waitMs) {
      const state = current();
      if (lastState() || !inFlight) return state;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        inFlight,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, waitMs);
        }),
      ]);
      clearTimeout(timer);
      return lastState() ?? state;
    },
  };
}
