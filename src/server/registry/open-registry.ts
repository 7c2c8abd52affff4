/**
 * The one call the server and the `nodes` commands make to get a registry: over a data folder (the
 * secret and the JSON store under `dataDir`), or over the shared PostgreSQL store when given one.
 */
import type { Logger } from '../../log.js';
import type { SharedStore } from '../storage/postgres/shared-store.js';
import { JsonNodeStore, type JsonNodeStoreOptions } from './json-node-store.js';
import { Registry, type RegistryOptions } from './registry.js';
import { loadOrCreateSecret, loadOrCreateSharedSecret } from './secret.js';

/** Options of {@link openRegistry}: the store's and the registry's, less what it builds itself. */
export interface OpenRegistryOptions extends Omit<JsonNodeStoreOptions, 'logger'>, Omit<RegistryOptions, 'store' | 'secret' | 'logger'> {
  logger?: Logger;
  /** The shared PostgreSQL store: the registry and its secret live there instead of `dataDir`. */
  shared?: SharedStore;
}

/**
 * Opens the registry in `dataDir` (creating the folder and the secret on first use), or in the
 * shared store. Fails with PRX_ERR_STORE_CORRUPT (naming the file) when the registry file or the
 * secret is bad, PRX_ERR_STORE_UNAVAILABLE when PostgreSQL does not answer.
 * A short-lived command passes `watch: false, pollIntervalMs: 0`.
 */
export async function openRegistry(options: OpenRegistryOptions): Promise<Registry> {
  const logger = options.logger?.child({ component: 'registry' });
  const { shared } = options;
  if (shared !== undefined) {
    const secret = await loadOrCreateSharedSecret(shared.store, logger);
    const { PostgresNodeStore } = await import('./postgres-node-store.js');
    const store = await PostgresNodeStore.open({ shared, logger, touchFlushMs: options.touchFlushMs });
    return new Registry({ ...options, store, secret, logger });
  }
  const secret = await loadOrCreateSecret(options.dataDir, logger);
  const store = await JsonNodeStore.open({ ...options, logger });
  return new Registry({ ...options, store, secret, logger });
}
