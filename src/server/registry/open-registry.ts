/**
 * The one call the server and the `nodes` commands make to get a registry over a data folder:
 * the secret and the JSON store, both under `dataDir`.
 */
import type { Logger } from '../../log.js';
import { JsonNodeStore, type JsonNodeStoreOptions } from './json-node-store.js';
import { Registry, type RegistryOptions } from './registry.js';
import { loadOrCreateSecret } from './secret.js';

/** Options of {@link openRegistry}: the store's and the registry's, less what it builds itself. */
export interface OpenRegistryOptions extends Omit<JsonNodeStoreOptions, 'logger'>, Omit<RegistryOptions, 'store' | 'secret' | 'logger'> {
  logger?: Logger;
}

/**
 * Opens the registry in `dataDir`, creating the folder and the secret on first use.
 * Fails with PRX_ERR_STORE_CORRUPT (naming the file) when the registry file or the secret is bad.
 * A short-lived command passes `watch: false, pollIntervalMs: 0`.
 */
export async function openRegistry(options: OpenRegistryOptions): Promise<Registry> {
  const logger = options.logger?.child({ component: 'registry' });
  const secret = await loadOrCreateSecret(options.dataDir, logger);
  const store = await JsonNodeStore.open({ ...options, logger });
  return new Registry({ ...options, store, secret, logger });
}
