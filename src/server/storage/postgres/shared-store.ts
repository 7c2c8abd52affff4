/**
 * The one handle on the shared PostgreSQL store a super node instance holds when `store.postgres.url`
 * (or PROXIMA_DATABASE_URL) is set: the pool, the change notifier, and this instance's id. Opening it
 * brings the schema up to date (under the migration lock) before anything reads a table.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../../log.js';
import { migrate } from './migrate.js';
import { PgNotifier } from './notifier.js';
import { openPostgres, type PostgresStore } from './postgres-pool.js';

/** What the registry, keys, ledger and presence of one instance share. */
export interface SharedStore {
  store: PostgresStore;
  notifier: PgNotifier;
  /** A random id per start: this instance in notices (`from`) and in its lease row. */
  instance: string;
  /** Closes the notifier, then the pool. Idempotent. */
  close(): Promise<void>;
}

export interface SharedStoreOptions {
  logger: Logger;
  /** Default: a new random id ({@link newInstanceId}). */
  instance?: string;
  /** `store.postgres.pollIntervalMs`: how often consumers resync while the notice connection is down. */
  pollIntervalMs?: number;
}

/** A random instance id, e.g. `i-3f9a0c2d7b1e`. */
export function newInstanceId(): string {
  return `i-${randomBytes(6).toString('hex')}`;
}

/**
 * Opens the pool, migrates the schema and starts listening for changes; PRX_ERR_STORE_UNAVAILABLE or
 * PRX_ERR_STORE_SCHEMA (the URL redacted) when any of that fails, which stops the start.
 */
export async function openSharedStore(url: string, options: SharedStoreOptions): Promise<SharedStore> {
  const { logger } = options;
  const instance = options.instance ?? newInstanceId();
  const store = await openPostgres({ url, logger });
  let notifier: PgNotifier;
  try {
    const result = await migrate(store, { logger });
    logger.info('store: PostgreSQL schema ready', { url: store.redactedUrl, version: result.version, applied: result.applied });
    notifier = await PgNotifier.open({ store, instance, logger, pollIntervalMs: options.pollIntervalMs });
  } catch (err) {
    await store.close();
    throw err;
  }
  logger.info('store: the registry, API keys and canary passes are in PostgreSQL', { instance });
  let closed: Promise<void> | undefined;
  return {
    store,
    notifier,
    instance,
    close() {
      closed ??= notifier.close().then(() => store.close());
      return closed;
    },
  };
}
