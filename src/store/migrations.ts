/**
 * Schema migrations: an ordered list, applied in one transaction, each recorded in
 * `schema_migrations`. Append new entries; never edit one that has shipped.
 */
import type { Logger } from "pino";
import { checkSchemaName, type SqlClient } from "./sql-client.ts";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "requests, audit, conversations, timers, inbox",
    sql: `
      CREATE TABLE access_requests (
        id           text PRIMARY KEY,
        version      integer NOT NULL CHECK (version >= 1),
        state        text NOT NULL,
        requester_id text NOT NULL,
        data         jsonb NOT NULL,
        created_at   timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL
      );
      CREATE INDEX access_requests_requester_state ON access_requests (requester_id, state);
      CREATE INDEX access_requests_state ON access_requests (state);
      CREATE SEQUENCE request_id_seq;

      CREATE TABLE audit_events (
        seq          bigserial PRIMARY KEY,
        at           timestamptz NOT NULL,
        type         text NOT NULL,
        actor_id     text NOT NULL,
        request_id   text,
        payload      jsonb NOT NULL,
        payload_hash text NOT NULL
      );
      CREATE INDEX audit_events_request ON audit_events (request_id, seq);
      CREATE INDEX audit_events_at ON audit_events (at);
      -- Evidence: the code never updates or deletes audit rows, and the database refuses to.
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_events is append-only'; END
      $$;
      CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

      CREATE TABLE conversation_refs (
        key        text PRIMARY KEY,
        channel    text NOT NULL,
        reference  jsonb NOT NULL,
        upn        text,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX conversation_refs_upn ON conversation_refs (lower(upn));

      CREATE TABLE timers (
        id          bigserial PRIMARY KEY,
        key         text NOT NULL UNIQUE,
        kind        text NOT NULL,
        due_at      timestamptz NOT NULL,
        payload     jsonb NOT NULL,
        state       text NOT NULL CHECK (state IN ('pending', 'done', 'cancelled')),
        owner       text,
        lease_until timestamptz,
        attempts    integer NOT NULL DEFAULT 0,
        last_error  text,
        created_at  timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL
      );
      CREATE INDEX timers_pending_due ON timers (due_at) WHERE state = 'pending';

      CREATE TABLE inbox (
        activity_id text PRIMARY KEY,
        seen_at     timestamptz NOT NULL
      );
      CREATE INDEX inbox_seen_at ON inbox (seen_at);
    `,
  },
  {
    version: 2,
    name: "one-time source-address links",
    sql: `
      CREATE TABLE source_links (
        token_hash   text PRIMARY KEY,
        request_id   text NOT NULL,
        user_id      text NOT NULL,
        expires_at   timestamptz NOT NULL,
        used_at      timestamptz,
        used_address text
      );
      CREATE INDEX source_links_request ON source_links (request_id);
    `,
  },
];

/**
 * Applies the migrations not yet recorded, in order, in one transaction; returns the versions applied.
 * The advisory lock makes two processes starting at once on one PostgreSQL database take turns
 * (PGlite accepts the same call). With `schema`, the schema is created first, under the same lock.
 */
export async function migrate(
  client: SqlClient,
  options: { schema?: string; logger?: Logger } = {},
): Promise<readonly number[]> {
  const schema = options.schema === undefined ? undefined : checkSchemaName(options.schema);
  const applied = await client.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`portcullis.migrate:${schema ?? ""}`]);
    if (schema !== undefined) {
      await tx.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"; SET LOCAL search_path TO "${schema}"`);
    }
    await tx.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )
    `);
    const rows = await tx.query<{ version: number }>("SELECT version FROM schema_migrations");
    const done = new Set(rows.map((row) => Number(row.version)));
    const newest = Math.max(0, ...migrations.map((m) => m.version));
    const unknown = [...done].filter((version) => version > newest);
    if (unknown.length > 0) {
      options.logger?.warn({ unknown, newest }, "database has migrations newer than this build");
    }
    const versions: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
        migration.version,
        migration.name,
      ]);
      versions.push(migration.version);
    }
    return versions;
  });
  if (applied.length > 0) {
    options.logger?.info({ applied, dialect: client.dialect, schema }, "store migrations applied");
  }
  return applied;
}
