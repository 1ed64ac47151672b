import type { AuditEvent, Clock, RequestStore, StoredRequest } from "../app/ports.ts";
import { ErrorCode, PortcullisError } from "../domain/errors.ts";
import { canonicalJson, payloadHash } from "./payload-hash.ts";
import type { SqlClient, SqlExecutor } from "./sql-client.ts";

interface RequestRow {
  id: string;
  version: number;
  state: string;
  requester_id: string;
  data: unknown;
  created_at: Date;
  updated_at: Date;
}

const columns = "id, version, state, requester_id, data, created_at, updated_at";

/**
 * Access requests with a version column for compare-and-swap; ids come from a sequence ("R-17").
 * `transaction` is the client's; without it (inside a transaction) `exclusive` refuses to nest.
 */
export function createRequestStore(
  sql: SqlExecutor,
  clock: Clock,
  transaction?: SqlClient["transaction"],
): RequestStore {
  return {
    async nextRequestId() {
      const [row] = await sql.query<{ id: string }>("SELECT 'R-' || nextval('request_id_seq') AS id");
      if (row === undefined) throw new Error("nextval returned no row");
      return row.id;
    },

    async insert<T>(request: Omit<StoredRequest<T>, "version" | "updatedAt">, event?: AuditEvent) {
      try {
        const [row] = await sql.query<RequestRow>(
          withEvent(
            `INSERT INTO access_requests (id, version, state, requester_id, data, created_at, updated_at)
             VALUES ($1, 1, $2, $3, $4::text::jsonb, $5, $5)
             RETURNING ${columns}`,
            6,
            event,
          ),
          [
            request.id,
            request.state,
            request.requesterId,
            toJson(request.data),
            request.createdAt,
            ...eventParams(event),
          ],
        );
        if (row === undefined) throw new Error("INSERT … RETURNING returned no row");
        return toRequest<T>(row);
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new PortcullisError(ErrorCode.StoreConflict, `Request ${request.id} already exists.`, {
            cause: error,
            detail: `access_requests already holds id ${request.id}`,
          });
        }
        throw error;
      }
    },

    async get<T>(id: string) {
      const [row] = await sql.query<RequestRow>(`SELECT ${columns} FROM access_requests WHERE id = $1`, [id]);
      return row === undefined ? undefined : toRequest<T>(row);
    },

    async compareAndSwap<T>(
      id: string,
      expectedVersion: number,
      next: { readonly state: string; readonly data: T },
      event?: AuditEvent,
    ) {
      const [row] = await sql.query<RequestRow>(
        withEvent(
          `UPDATE access_requests
              SET version = version + 1, state = $3, data = $4::text::jsonb, updated_at = $5
            WHERE id = $1 AND version = $2
            RETURNING ${columns}`,
          6,
          event,
        ),
        [id, expectedVersion, next.state, toJson(next.data), clock.now(), ...eventParams(event)],
      );
      return row === undefined ? undefined : toRequest<T>(row);
    },

    async listByRequester<T>(requesterId: string, states?: readonly string[]) {
      if (states === undefined) {
        const rows = await sql.query<RequestRow>(
          `SELECT ${columns} FROM access_requests WHERE requester_id = $1 ORDER BY created_at, id`,
          [requesterId],
        );
        return rows.map((row) => toRequest<T>(row));
      }
      if (states.length === 0) return [];
      const rows = await sql.query<RequestRow>(
        `SELECT ${columns} FROM access_requests
          WHERE requester_id = $1 AND state = ANY($2::text[])
          ORDER BY created_at, id`,
        [requesterId, [...states]],
      );
      return rows.map((row) => toRequest<T>(row));
    },

    async listOnVms<T>(vmIds: readonly string[], states: readonly string[]) {
      if (vmIds.length === 0 || states.length === 0) return [];
      const rows = await sql.query<RequestRow>(
        `SELECT ${columns} FROM access_requests
          WHERE state = ANY($2::text[])
            AND EXISTS (
              SELECT 1 FROM jsonb_array_elements(data->'request'->'targets') AS target
               WHERE lower(target->>'vmId') = ANY($1::text[]))
          ORDER BY created_at, id`,
        [vmIds.map((id) => id.toLowerCase()), [...states]],
      );
      return rows.map((row) => toRequest<T>(row));
    },

    async listKindSince<T>(kind: string, since: Date) {
      const rows = await sql.query<RequestRow>(
        `SELECT ${columns} FROM access_requests
          WHERE data->'request'->>'kind' = $1 AND created_at >= $2
          ORDER BY created_at, id`,
        [kind, since],
      );
      return rows.map((row) => toRequest<T>(row));
    },

    async exclusive<R>(locks: readonly string[], fn: (tx: RequestStore) => Promise<R>): Promise<R> {
      if (transaction === undefined) throw new Error("requests.exclusive cannot nest");
      return transaction(async (tx) => {
        // One lock at a time, in one order, so two writers never wait on each other in a cycle.
        for (const lock of [...new Set(locks)].sort()) {
          await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`portcullis:${lock}`]);
        }
        return fn(createRequestStore(tx, clock));
      });
    },

    async listByState<T>(states: readonly string[]) {
      if (states.length === 0) return [];
      const rows = await sql.query<RequestRow>(
        `SELECT ${columns} FROM access_requests WHERE state = ANY($1::text[]) ORDER BY created_at, id`,
        [[...states]],
      );
      return rows.map((row) => toRequest<T>(row));
    },
  };
}

function toRequest<T>(row: RequestRow): StoredRequest<T> {
  return {
    id: row.id,
    version: Number(row.version),
    state: row.state,
    requesterId: row.requester_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    data: row.data as T,
  };
}

/** JSON text for a `$n::text::jsonb` parameter; undefined is stored as JSON null. */
function toJson(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "23505";
}

/**
 * One statement writes the request and, only if that write happened, its audit event: a state
 * change and its evidence are never separated by a crash. Parameters from `first` are the event's.
 */
function withEvent(write: string, first: number, event: AuditEvent | undefined): string {
  if (event === undefined) return write;
  const p = (offset: number) => `$${first + offset}`;
  return `WITH written AS (${write}),
    logged AS (
      INSERT INTO audit_events (at, type, actor_id, request_id, payload, payload_hash)
      SELECT ${p(0)}, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}::text::jsonb, ${p(5)} FROM written
    )
    SELECT * FROM written`;
}

function eventParams(event: AuditEvent | undefined): unknown[] {
  if (event === undefined) return [];
  return [
    event.at,
    event.type,
    event.actorId,
    event.requestId ?? null,
    canonicalJson(event.payload),
    payloadHash(event.payload),
  ];
}
