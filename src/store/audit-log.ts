import type { AuditEvent, AuditLog, StoredAuditEvent } from "../app/ports.ts";
import { canonicalJson, payloadHash } from "./payload-hash.ts";
import type { SqlExecutor } from "./sql-client.ts";

/** A stored audit event with the SHA-256 of its payload's canonical JSON, kept as evidence. */
export interface HashedAuditEvent extends StoredAuditEvent {
  readonly payloadHash: string;
}

export interface EvidenceAuditLog extends AuditLog {
  append(event: AuditEvent): Promise<HashedAuditEvent>;
  list(filter?: {
    readonly requestId?: string;
    readonly since?: Date;
    readonly limit?: number;
  }): Promise<readonly HashedAuditEvent[]>;
}

interface AuditRow {
  seq: string | number;
  at: Date;
  type: string;
  actor_id: string;
  request_id: string | null;
  payload: Record<string, unknown>;
  payload_hash: string;
}

const columns = "seq, at, type, actor_id, request_id, payload, payload_hash";

/** Append-only: this module has no UPDATE or DELETE, and a trigger refuses them in the database. */
export function createAuditLog(sql: SqlExecutor): EvidenceAuditLog {
  return {
    async append(event) {
      const [row] = await sql.query<AuditRow>(
        `INSERT INTO audit_events (at, type, actor_id, request_id, payload, payload_hash)
         VALUES ($1, $2, $3, $4, $5::text::jsonb, $6)
         RETURNING ${columns}`,
        [
          event.at,
          event.type,
          event.actorId,
          event.requestId ?? null,
          canonicalJson(event.payload),
          payloadHash(event.payload),
        ],
      );
      if (row === undefined) throw new Error("INSERT … RETURNING returned no row");
      return toEvent(row);
    },

    /** Oldest first (by seq); `since` is inclusive; `limit` keeps the first N after the filters. */
    async list(filter = {}) {
      const conditions: string[] = [];
      const params: unknown[] = [];
      if (filter.requestId !== undefined) {
        params.push(filter.requestId);
        conditions.push(`request_id = $${params.length}`);
      }
      if (filter.since !== undefined) {
        params.push(filter.since);
        conditions.push(`at >= $${params.length}`);
      }
      let text = `SELECT ${columns} FROM audit_events`;
      if (conditions.length > 0) text += ` WHERE ${conditions.join(" AND ")}`;
      text += " ORDER BY seq";
      if (filter.limit !== undefined) {
        params.push(Math.max(0, Math.floor(filter.limit)));
        text += ` LIMIT $${params.length}`;
      }
      const rows = await sql.query<AuditRow>(text, params);
      return rows.map(toEvent);
    },
  };
}

function toEvent(row: AuditRow): HashedAuditEvent {
  return {
    seq: Number(row.seq),
    at: row.at,
    type: row.type,
    actorId: row.actor_id,
    ...(row.request_id === null ? {} : { requestId: row.request_id }),
    payload: row.payload,
    payloadHash: row.payload_hash,
  };
}
