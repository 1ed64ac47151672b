/**
 * Applies the store's migrations to DATABASE_URL (CI runs this before the tests; the bot also
 * migrates on start). Optional DATABASE_SCHEMA keeps the tables in that schema.
 * Usage: DATABASE_URL=postgres://… node scripts/migrate.ts
 */
import { migrate, postgresClient } from "../src/store/index.ts";

const databaseUrl = process.env.DATABASE_URL;
if (databaseUrl === undefined || databaseUrl === "") {
  console.error(
    "DATABASE_URL is not set: give the PostgreSQL URL to migrate, e.g. postgres://postgres@127.0.0.1:5432/test",
  );
  process.exit(2);
}
const schema = process.env.DATABASE_SCHEMA;
const options = schema === undefined || schema === "" ? {} : { schema };

const client = postgresClient({ databaseUrl, ...options });
try {
  const applied = await migrate(client, options);
  console.log(
    applied.length === 0 ? "store schema is up to date" : `applied migrations ${applied.join(", ")}`,
  );
} catch (error) {
  console.error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await client.close();
}
