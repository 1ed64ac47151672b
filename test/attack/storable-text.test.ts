/**
 * Issue 10, item 7, at the bottom: why the cleaning exists and that it is enough. Both databases
 * the store runs on refuse U+0000 (text and jsonb) and a lone surrogate (jsonb); what
 * `storableText` leaves of the same text is stored and read back unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storableText } from "../../src/domain/free-text.ts";
import { openPglite, postgresClient, type SqlClient } from "../../src/store/index.ts";
import { postgresUrl, requirePostgres, skipPostgres } from "../support/postgres.ts";

const hostile = [
  ["NUL", "use\u0000the bastion"],
  ["a lone high surrogate", "broken \ud83d emoji"],
  ["a lone low surrogate", "\udc00 first"],
] as const;

function dialect(name: string, open: () => Promise<SqlClient>, skip = false): void {
  describe.skipIf(skip)(name, () => {
    let sql: SqlClient;
    beforeAll(async () => {
      sql = await open();
    });
    afterAll(async () => {
      await sql?.close();
    });

    it.each(hostile)("%s: refused as jsonb as it is, stored and read back once cleaned", async (_, raw) => {
      await expect(sql.query("SELECT $1::text::jsonb AS v", [JSON.stringify({ r: raw })])).rejects.toThrow();
      const cleaned = storableText(raw);
      const [row] = await sql.query<{ r: string }>("SELECT ($1::text::jsonb) ->> 'r' AS r", [
        JSON.stringify({ r: cleaned }),
      ]);
      expect(row?.r).toBe(cleaned);
    });

    it("tab and line breaks are kept; other controls (storable, but meaningless in chat) become spaces", () => {
      expect(storableText("a\tb\nc\r\nd\u0000e\ud800f\u007fg\u0085h")).toBe("a\tb\nc\r\nd e\ufffdf g h");
    });
  });
}

dialect("PGlite", () => openPglite({}));
dialect(
  "PostgreSQL",
  async () => {
    await requirePostgres();
    return postgresClient({ databaseUrl: postgresUrl });
  },
  skipPostgres,
);
