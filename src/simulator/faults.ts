/** Injected failures for ARM calls, consumed in order by matching requests (control: POST /_sim/faults). */
import { z } from "zod";

export const faultSchema = z.object({
  match: z
    .object({
      method: z.string().optional(),
      /** Case-insensitive substring of the path + query, e.g. "/initiate". */
      pathIncludes: z.string().optional(),
    })
    .default({}),
  /** "403": ARM's AuthorizationFailed for the request's action, as when the bot's role assignment is gone. */
  kind: z.enum(["403", "429", "500", "503", "drop", "latency"]),
  retryAfterSeconds: z.number().int().min(0).optional(),
  latencyMs: z.number().int().min(0).max(120_000).optional(),
  /** How many matching requests it applies to (default 1). */
  times: z.number().int().min(1).default(1),
  /**
   * "before" (default): fail without touching state. "after": process the request, then fail the reply —
   * the lost-response case that makes a client retry an initiate that already happened.
   * For "latency": "before" waits, then processes; "after" processes, then waits before answering
   * (the request took effect while the client still waits — a client that dies then never hears of it).
   */
  when: z.enum(["before", "after"]).default("before"),
});

export type Fault = z.infer<typeof faultSchema>;

export class FaultQueue {
  private faults: Fault[] = [];

  add(faults: readonly Fault[]): void {
    this.faults.push(...faults.map((f) => ({ ...f })));
  }

  clear(): void {
    this.faults = [];
  }

  list(): readonly Fault[] {
    return this.faults;
  }

  /** The first fault matching this request, with one use consumed. */
  take(method: string, pathAndQuery: string): Fault | undefined {
    const target = pathAndQuery.toLowerCase();
    const index = this.faults.findIndex(
      (f) =>
        (f.match.method === undefined || f.match.method.toUpperCase() === method.toUpperCase()) &&
        (f.match.pathIncludes === undefined || target.includes(f.match.pathIncludes.toLowerCase())),
    );
    const fault = this.faults[index];
    if (!fault) return undefined;
    fault.times -= 1;
    if (fault.times <= 0) this.faults.splice(index, 1);
    return fault;
  }
}
