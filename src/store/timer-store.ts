import type { ClaimedTimer, Clock, TimerStore } from "../app/ports.ts";
import type { SqlExecutor } from "./sql-client.ts";

interface TimerRow {
  id: string | number;
  key: string;
  kind: string;
  due_at: Date;
  payload: Record<string, unknown>;
  attempts: number;
}

/**
 * Timers as rows, claimed with a lease so one process fires each; an expired lease is claimed
 * again, so a timer fires late rather than never after a crash.
 *
 * Scheduling a key that exists re-arms it whatever its state: a pending timer moves to the new
 * time and payload, a done or cancelled one becomes pending again (an extended request needs its
 * expiry again), and a claimed one loses its lease, so the holder's complete()/retryLater() are
 * no-ops and it fires again at the new time. Attempts and the last error start over.
 */
export function createTimerStore(sql: SqlExecutor, clock: Clock): TimerStore {
  return {
    async schedule(timer) {
      await sql.query(
        `INSERT INTO timers (key, kind, due_at, payload, state, attempts, created_at, updated_at)
         VALUES ($1, $2, $3, $4::text::jsonb, 'pending', 0, $5, $5)
         ON CONFLICT (key) DO UPDATE
            SET kind = EXCLUDED.kind, due_at = EXCLUDED.due_at, payload = EXCLUDED.payload,
                state = 'pending', owner = NULL, lease_until = NULL, attempts = 0, last_error = NULL,
                updated_at = EXCLUDED.updated_at`,
        [timer.key, timer.kind, timer.dueAt, JSON.stringify(timer.payload), clock.now()],
      );
    },

    /**
     * Only a pending timer is cancelled; a done one stays done (it already fired). One being fired
     * right now (a live lease) is left to finish: its handler re-reads the request, and a handler
     * that cancels its own kind must not lose its retry if it dies before completing.
     */
    async cancel(key) {
      const now = clock.now();
      await sql.query(
        `UPDATE timers SET state = 'cancelled', owner = NULL, lease_until = NULL, updated_at = $2
          WHERE key = $1 AND state = 'pending' AND (lease_until IS NULL OR lease_until < $2)`,
        [key, now],
      );
    },

    /** Keeps claims alive while their handlers run; a no-op for any `owner` no longer holds. */
    async extendLease(ids, owner, leaseUntil) {
      if (ids.length === 0) return;
      await sql.query(
        `UPDATE timers SET lease_until = $3
          WHERE id = ANY($1::bigint[]) AND owner = $2 AND state = 'pending' AND lease_until IS NOT NULL`,
        [ids, owner, leaseUntil],
      );
    },

    async claimDue(now, owner, leaseUntil, limit) {
      if (limit <= 0) return [];
      // SKIP LOCKED lets concurrent claimers take disjoint rows; FOR UPDATE re-checks the condition
      // on the row it locks. MATERIALIZED runs the pick once: as `WHERE id IN (… LIMIT n)` the
      // planner may re-run it and claim every due row, whatever the limit (it did: 500 of 500).
      const rows = await sql.query<TimerRow>(
        `WITH picked AS MATERIALIZED (
                SELECT id FROM timers
                 WHERE state = 'pending' AND due_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
                 ORDER BY due_at, id
                 LIMIT $4
                 FOR UPDATE SKIP LOCKED)
         UPDATE timers
            SET owner = $2, lease_until = $3, attempts = timers.attempts + 1, updated_at = $1
           FROM picked
          WHERE timers.id = picked.id
          RETURNING timers.id, timers.key, timers.kind, timers.due_at, timers.payload, timers.attempts`,
        [now, owner, leaseUntil, Math.floor(limit)],
      );
      return rows.map(toClaimed).sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || a.id - b.id);
    },

    /** A no-op unless `owner` still holds the claim. */
    async complete(id, owner) {
      await sql.query(
        `UPDATE timers SET state = 'done', lease_until = NULL, updated_at = $3
          WHERE id = $1 AND owner = $2 AND state = 'pending'`,
        [id, owner, clock.now()],
      );
    },

    /** A no-op unless `owner` still holds the claim. */
    async retryLater(id, owner, nextAttemptAt, error) {
      await sql.query(
        `UPDATE timers SET due_at = $3, owner = NULL, lease_until = NULL, last_error = $4, updated_at = $5
          WHERE id = $1 AND owner = $2 AND state = 'pending'`,
        [id, owner, nextAttemptAt, error, clock.now()],
      );
    },
  };
}

function toClaimed(row: TimerRow): ClaimedTimer {
  return {
    id: Number(row.id),
    key: row.key,
    kind: row.kind,
    dueAt: row.due_at,
    payload: row.payload,
    attempts: Number(row.attempts),
  };
}
