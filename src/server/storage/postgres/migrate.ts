/**
 * Applies the schema migrations (migrations.ts) at start: a small runner with a version table,
 * `proxima_schema_migrations`, rather than a migration tool. The SQL is compiled into the program
 * (no migration files to ship beside dist/ or to find at run time), the whole runner is one page,
 * and what it must guarantee is short: each migration once, in order, in its own transaction with
 * its version row; two instances starting together serialised by a PostgreSQL advisory lock (the
 * second waits, then finds nothing to do); a database written by a newer version, or whose applied
 * migrations differ from ours (checksums), refused with PRX_ERR_STORE_SCHEMA rather than guessed at.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ErrorCodes, ProximaError } from '../../../errors.js';
import { type Logger, silentLogger } from '../../../log.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import type { PostgresStore } from './postgres-pool.js';

/** The advisory lock key the migrators share: "prx_mig" in ASCII. */
export const MIGRATION_LOCK_KEY = '31651058714241383';

/** The table of applied versions. */
export const VERSION_TABLE = 'proxima_schema_migrations';

export interface MigrateOptions {
  /** Defaults to the shipped {@link MIGRATIONS}; tests pass their own. */
  migrations?: readonly Migration[];
  logger?: Logger;
}

/** What a run did. */
export interface MigrateResult {
  /** The versions this run applied, in order; empty when the schema was current. */
  applied: number[];
  /** The schema version now. */
  version: number;
}

/** The checksum of a migration: SHA-256 of its SQL, hex. */
export function checksum(migration: Migration): string {
  return createHash('sha256').update(migration.sql, 'utf8').digest('hex');
}

function schemaError(message: string, cause?: unknown): ProximaError {
  return new ProximaError(ErrorCodes.STORE_SCHEMA, message, cause === undefined ? {} : { cause });
}

/** Migrations must be numbered 1, 2, 3... in order: anything else is a bug here, not in the database. */
function checkList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i + 1} is numbered ${m.version}`);
  });
}

/**
 * Brings the schema up to date under the advisory lock. PRX_ERR_STORE_UNAVAILABLE when PostgreSQL
 * cannot be reached; PRX_ERR_STORE_SCHEMA when the database is newer than these migrations, an
 * applied migration differs from ours, or a migration fails (its transaction is rolled back).
 */
export async function migrate(store: PostgresStore, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = options.migrations ?? MIGRATIONS;
  const logger = options.logger ?? silentLogger;
  checkList(migrations);
  let client: pg.PoolClient;
  try {
    client = await store.pool.connect();
  } catch (err) {
    throw store.failure('cannot connect to migrate the schema', err);
  }
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await migrateLocked(client, store, migrations, logger);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch((err: unknown) => {
        broken = err instanceof Error ? err : new Error(String(err));
      });
    }
  } catch (err) {
    broken ??= err instanceof Error ? err : new Error(String(err));
    throw store.failure('cannot migrate the schema', err);
  } finally {
    // A connection that failed may still hold the lock: destroy it rather than pool it, which ends its session.
    client.release(broken);
  }
}

async function migrateLocked(
  client: pg.PoolClient,
  store: PostgresStore,
  migrations: readonly Migration[],
  logger: Logger,
): Promise<MigrateResult> {
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${VERSION_TABLE} (
       version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  const { rows } = await client.query<{ version: number; checksum: string }>(
    `SELECT version, checksum FROM ${VERSION_TABLE} ORDER BY version`,
  );
  const latest = migrations.length;
  for (const row of rows) {
    const ours = migrations[row.version - 1];
    if (ours === undefined)
      throw schemaError(
        `the store's schema is at version ${rows[rows.length - 1]!.version}, newer than this proxima-server knows (${latest}): upgrade proxima-server (${store.redactedUrl})`,
      );
    if (checksum(ours) !== row.checksum)
      throw schemaError(`the store's migration ${row.version} (${ours.name}) differs from this proxima-server's (${store.redactedUrl})`);
  }
  const done = new Set(rows.map((r) => r.version));
  const applied: number[] = [];
  for (const m of migrations.filter((m) => !done.has(m.version))) {
    const started = Date.now();
    try {
      await client.query('BEGIN');
      await client.query(m.sql);
      await client.query(`INSERT INTO ${VERSION_TABLE} (version, name, checksum) VALUES ($1, $2, $3)`, [m.version, m.name, checksum(m)]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw store.failure(`migration ${m.version} (${m.name}) failed and was rolled back`, err, ErrorCodes.STORE_SCHEMA);
    }
    applied.push(m.version);
    logger.info('store: schema migration applied', { version: m.version, name: m.name, ms: Date.now() - started });
  }
  return { applied, version: latest };
}
