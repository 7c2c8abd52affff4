/**
 * What `proxima-server` does at start when `store.postgres.url` (or PROXIMA_DATABASE_URL) is set:
 * connect, bring the schema up to date under the migration lock, disconnect. This is the first step
 * of issue 20: the registry, the keys and the ledger still live in the data folder; only the schema
 * is in PostgreSQL so far, and the log says so.
 */
import type { Logger } from '../../../log.js';
import { type MigrateResult, migrate } from './migrate.js';
import { openPostgres } from './postgres-pool.js';

/**
 * Migrates the schema at `url`; PRX_ERR_STORE_UNAVAILABLE or PRX_ERR_STORE_SCHEMA (the URL redacted)
 * when that fails, which stops the start.
 */
export async function prepareSharedStore(url: string, logger: Logger): Promise<MigrateResult> {
  const store = await openPostgres({ url, max: 1, logger });
  try {
    const result = await migrate(store, { logger });
    logger.info('store: PostgreSQL schema ready', { url: store.redactedUrl, version: result.version, applied: result.applied });
    logger.warn('store: only the schema is in PostgreSQL so far; the registry, keys and ledger stay in dataDir');
    return result;
  } finally {
    await store.close();
  }
}
