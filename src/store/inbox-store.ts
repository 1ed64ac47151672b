import type { InboxStore } from "../app/ports.ts";
import type { SqlExecutor } from "./sql-client.ts";

/** Activity ids seen so far; the primary key makes "first" atomic across processes. */
export function createInboxStore(sql: SqlExecutor): InboxStore {
  return {
    async firstSeen(activityId, at) {
      const rows = await sql.query(
        `INSERT INTO inbox (activity_id, seen_at) VALUES ($1, $2)
         ON CONFLICT (activity_id) DO NOTHING
         RETURNING activity_id`,
        [activityId, at],
      );
      return rows.length === 1;
    },
  };
}
