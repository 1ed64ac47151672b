/**
 * The store: PostgreSQL dialect everywhere. Embedded PGlite by default (a directory, or memory
 * when none is given), PostgreSQL when a database URL is given. Opening applies migrations.
 */
import type { Logger } from "pino";
import { type Clock, type Store, systemClock } from "../app/ports.ts";
import { createAuditLog, type EvidenceAuditLog } from "./audit-log.ts";
import { createConversationStore } from "./conversation-store.ts";
import { createInboxStore } from "./inbox-store.ts";
import { migrate } from "./migrations.ts";
import { createRequestStore } from "./request-store.ts";
import { createSourceLinkStore } from "./source-link-store.ts";
import { openPglite, postgresClient, type SqlClient } from "./sql-client.ts";
import { createTimerStore } from "./timer-store.ts";

export type { EvidenceAuditLog, HashedAuditEvent } from "./audit-log.ts";
export { type Migration, migrate, migrations } from "./migrations.ts";
export { canonicalJson, payloadHash } from "./payload-hash.ts";
export {
  checkSchemaName,
  openPglite,
  pgliteClient,
  postgresClient,
  type SqlClient,
  type SqlExecutor,
} from "./sql-client.ts";

/** The ports.ts Store, with audit events that carry their payload hash. */
export interface PortcullisStore extends Store {
  readonly audit: EvidenceAuditLog;
}

export interface StoreOptions {
  /** postgres://… — PostgreSQL through a connection pool. Wins over dataDir. */
  readonly databaseUrl?: string;
  /** PGlite data directory; PGlite in memory when neither this nor databaseUrl is set. */
  readonly dataDir?: string;
  /** A PostgreSQL schema to keep the tables in (created if missing); default: the server's search_path. */
  readonly schema?: string;
  readonly logger?: Logger;
  /** Stamps updatedAt on compare-and-swap and timer changes. */
  readonly clock?: Clock;
}

export async function openStore(options: StoreOptions = {}): Promise<PortcullisStore> {
  const schema = options.schema === undefined ? {} : { schema: options.schema };
  const logger = options.logger === undefined ? {} : { logger: options.logger };
  const client =
    options.databaseUrl === undefined
      ? await openPglite({
          ...schema,
          ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
        })
      : postgresClient({ databaseUrl: options.databaseUrl, ...schema, ...logger });
  try {
    await migrate(client, { ...schema, ...logger });
  } catch (error) {
    await client.close();
    throw error;
  }
  options.logger?.info(
    {
      dialect: client.dialect,
      dataDir: options.databaseUrl === undefined ? (options.dataDir ?? ":memory:") : undefined,
    },
    "store open",
  );
  return createStore(client, options.clock === undefined ? {} : { clock: options.clock });
}

/** The store over an already migrated client; close() closes the client. */
export function createStore(client: SqlClient, options: { clock?: Clock } = {}): PortcullisStore {
  const clock = options.clock ?? systemClock;
  return {
    requests: createRequestStore(client, clock, (fn) => client.transaction(fn)),
    audit: createAuditLog(client),
    conversations: createConversationStore(client),
    timers: createTimerStore(client, clock),
    inbox: createInboxStore(client),
    sourceLinks: createSourceLinkStore(client),
    async ping() {
      await client.query("SELECT 1");
    },
    close: () => client.close(),
  };
}
