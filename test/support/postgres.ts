/**
 * The CI PostgreSQL for tests that need a real server: a fresh schema per test, dropped afterwards.
 * Unreachable is a failure with how to start it, unless PORTCULLIS_SKIP_POSTGRES=1 says to skip.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export const postgresUrl =
  process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export const skipPostgres = process.env.PORTCULLIS_SKIP_POSTGRES === "1";

const startHint =
  "Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start " +
  "(or point TEST_DATABASE_URL at a server, or set PORTCULLIS_SKIP_POSTGRES=1 to skip these tests).";

/** Where the URL carries a password, the message must not. */
export function redacted(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

export function randomSchema(): string {
  return `portcullis_test_${randomBytes(6).toString("hex")}`;
}

export async function withAdmin<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 1, connectionTimeoutMillis: 5_000 });
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

/** Throws with how to start the server when it cannot be reached. */
export async function requirePostgres(): Promise<void> {
  try {
    await withAdmin((pool) => pool.query("SELECT 1"));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`PostgreSQL at ${redacted(postgresUrl)} is unreachable (${reason}). ${startHint}`);
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await withAdmin((pool) => pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}
