/**
 * The one SQL dialect the store speaks (PostgreSQL), behind a small interface with two adapters:
 * embedded PGlite (a directory, or memory for tests) and node-postgres for a real server.
 */
import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import type { Logger } from "pino";

export type SqlRow = Record<string, unknown>;

export interface SqlExecutor {
  /** One statement, `$1`-style parameters. Pass JSON as a string and cast it: `$1::text::jsonb`. */
  query<R extends object = SqlRow>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** A script of several statements, no parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface SqlClient extends SqlExecutor {
  readonly dialect: "pglite" | "postgres";
  /** Runs `fn` in BEGIN … COMMIT on one connection; rolls back and rethrows if it throws. Use only `tx` inside (on PGlite the client itself waits for the transaction). */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const schemaName = /^[a-z_][a-z0-9_]{0,62}$/;

/** Schema names end up in SQL text, so only plain lower-case identifiers are accepted. */
export function checkSchemaName(schema: string): string {
  if (!schemaName.test(schema)) {
    throw new Error(
      `Store schema "${schema}" is not a plain PostgreSQL identifier: use lower-case letters, digits and _ (max 63).`,
    );
  }
  return schema;
}

/**
 * Embedded PGlite in `dataDir`, or in memory when `dataDir` is undefined.
 * Limit: one process per data directory; several bot processes need DATABASE_URL.
 */
export async function openPglite(options: { dataDir?: string; schema?: string }): Promise<SqlClient> {
  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true });
  const db = options.dataDir === undefined ? await PGlite.create() : await PGlite.create(options.dataDir);
  return pgliteClient(db, {
    ...(options.schema === undefined ? {} : { schema: options.schema }),
    ownsDb: true,
  });
}

/**
 * Wraps an open PGlite. With `schema`, the (single) session's search_path points at it;
 * migrate() creates the schema. `ownsDb: false` leaves the database open on close() (tests share one).
 */
export async function pgliteClient(
  db: PGlite,
  options: { schema?: string; ownsDb: boolean },
): Promise<SqlClient> {
  if (options.schema !== undefined) await db.exec(`SET search_path TO "${checkSchemaName(options.schema)}"`);
  const executor = (target: Pick<PGlite, "query" | "exec">): SqlExecutor => ({
    async query<R extends object>(text: string, params: readonly unknown[] = []): Promise<R[]> {
      return (await target.query<R>(text, [...params])).rows;
    },
    async exec(script: string): Promise<void> {
      await target.exec(script);
    },
  });
  return {
    dialect: "pglite",
    ...executor(db),
    // PGlite is single-connection: its transaction() holds a mutex that also queues every other query, so transactions are serialized.
    transaction: (fn) => db.transaction((tx) => fn(executor(tx))),
    async close() {
      if (options.ownsDb && !db.closed) await db.close();
    },
  };
}

/** A node-postgres pool; with `schema`, every connection starts with search_path set to it. */
export function postgresClient(options: {
  databaseUrl: string;
  schema?: string;
  logger?: Logger;
}): SqlClient {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    ...(options.schema === undefined ? {} : { options: `-c search_path=${checkSchemaName(options.schema)}` }),
  });
  // An idle connection dropped by the server emits here; without a listener it would crash the process.
  pool.on("error", (error) => options.logger?.warn({ err: error }, "idle PostgreSQL connection failed"));
  const executor = (target: pg.Pool | pg.PoolClient): SqlExecutor => ({
    async query<R extends object>(text: string, params: readonly unknown[] = []): Promise<R[]> {
      return (await target.query<R & pg.QueryResultRow>(text, [...params])).rows;
    },
    async exec(script: string): Promise<void> {
      // Without parameters node-postgres uses the simple protocol, which accepts several statements.
      await target.query(script);
    },
  });
  return {
    dialect: "postgres",
    ...executor(pool),
    async transaction(fn) {
      const connection = await pool.connect();
      let broken: Error | undefined;
      try {
        await connection.query("BEGIN");
        const result = await fn(executor(connection));
        await connection.query("COMMIT");
        return result;
      } catch (error) {
        await connection.query("ROLLBACK").catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
        throw error;
      } finally {
        // A connection whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
        connection.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
}
