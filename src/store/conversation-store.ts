import type { ConversationRecord, ConversationStore } from "../app/ports.ts";
import type { SqlExecutor } from "./sql-client.ts";

interface ConversationRow {
  key: string;
  channel: string;
  reference: Record<string, unknown>;
  upn: string | null;
  updated_at: Date;
}

const columns = "key, channel, reference, upn, updated_at";

/** Conversation references for proactive messages; UPN lookups ignore case. */
export function createConversationStore(sql: SqlExecutor): ConversationStore {
  return {
    /** An upsert without a UPN keeps the one already known (the roster lookup may fail one time). */
    async upsert(record) {
      await sql.query(
        `INSERT INTO conversation_refs (key, channel, reference, upn, updated_at)
         VALUES ($1, $2, $3::text::jsonb, $4, $5)
         ON CONFLICT (key) DO UPDATE
            SET channel = EXCLUDED.channel,
                reference = EXCLUDED.reference,
                upn = COALESCE(EXCLUDED.upn, conversation_refs.upn),
                updated_at = EXCLUDED.updated_at`,
        [
          record.key,
          record.channel,
          JSON.stringify(record.reference),
          record.userPrincipalName ?? null,
          record.updatedAt,
        ],
      );
    },

    async get(key) {
      const [row] = await sql.query<ConversationRow>(
        `SELECT ${columns} FROM conversation_refs WHERE key = $1`,
        [key],
      );
      return row === undefined ? undefined : toRecord(row);
    },

    /** Only 1:1 references ("user:…"); the most recently updated wins if a UPN appears twice. */
    async findByUserPrincipalName(upn) {
      const [row] = await sql.query<ConversationRow>(
        `SELECT ${columns} FROM conversation_refs
          WHERE lower(upn) = lower($1) AND key LIKE 'user:%'
          ORDER BY updated_at DESC, key
          LIMIT 1`,
        [upn],
      );
      return row === undefined ? undefined : toRecord(row);
    },
  };
}

function toRecord(row: ConversationRow): ConversationRecord {
  return {
    key: row.key,
    channel: row.channel,
    reference: row.reference,
    ...(row.upn === null ? {} : { userPrincipalName: row.upn }),
    updatedAt: row.updated_at,
  };
}
