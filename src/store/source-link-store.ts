import type { SourceLinkClaim, SourceLinkStore } from "../app/ports.ts";
import type { SqlExecutor } from "./sql-client.ts";

/** One-time links: the conditional UPDATE makes "first use wins" atomic across processes. */
export function createSourceLinkStore(sql: SqlExecutor): SourceLinkStore {
  return {
    async create(link) {
      await sql.query(
        `INSERT INTO source_links (token_hash, request_id, user_id, expires_at) VALUES ($1, $2, $3, $4)`,
        [link.tokenHash, link.requestId, link.userId, link.expiresAt],
      );
    },
    async peek(tokenHash) {
      const [row] = await sql.query<{
        request_id: string;
        user_id: string;
        expires_at: Date;
        used_at: Date | null;
      }>(`SELECT request_id, user_id, expires_at, used_at FROM source_links WHERE token_hash = $1`, [
        tokenHash,
      ]);
      if (!row) return undefined;
      return {
        tokenHash,
        requestId: row.request_id,
        userId: row.user_id,
        expiresAt: new Date(row.expires_at),
        ...(row.used_at === null ? {} : { usedAt: new Date(row.used_at) }),
      };
    },
    async claim(tokenHash, now, address): Promise<SourceLinkClaim> {
      const won = await sql.query<{ request_id: string; user_id: string }>(
        `UPDATE source_links SET used_at = $2, used_address = $3
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING request_id, user_id`,
        [tokenHash, now, address],
      );
      const [row] = won;
      if (row) return { ok: true, requestId: row.request_id, userId: row.user_id };
      const [existing] = await sql.query<{ used_at: Date | null }>(
        `SELECT used_at FROM source_links WHERE token_hash = $1`,
        [tokenHash],
      );
      if (!existing) return { ok: false, reason: "unknown" };
      return { ok: false, reason: existing.used_at === null ? "expired" : "used" };
    },
  };
}
