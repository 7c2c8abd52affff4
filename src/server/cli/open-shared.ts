/**
 * The shared PostgreSQL store for `proxima-server` and its commands when server.yaml has
 * `store.postgres` (or PROXIMA_DATABASE_URL is set). The module is loaded only then, so a super node
 * on its data folder alone never loads pg.
 */
import { type Logger, silentLogger } from '../../log.js';
import type { ServerConfig } from '../config.js';
import type { SharedStore } from '../storage/postgres/shared-store.js';

/** Opens (and migrates) the shared store, or undefined when none is configured. */
export async function openShared(config: ServerConfig, logger: Logger = silentLogger): Promise<SharedStore | undefined> {
  if (config.store?.postgres === undefined) return undefined;
  const { openSharedStore } = await import('../storage/postgres/shared-store.js');
  return openSharedStore(config.store.postgres.url, { logger, pollIntervalMs: config.store.postgres.pollIntervalMs });
}
