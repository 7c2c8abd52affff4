/**
 * The one call the server makes for its stored API keys: the store in the data folder, followed as
 * it changes, and what each key has used this day and month, summed from the ledger, so a restart
 * neither forgets spent budgets nor charges twice.
 */
import type { Logger } from '../../log.js';
import type { LedgerSource } from '../ledger/ledger.js';
import { fileLedgerSource } from '../ledger/ledger-reader.js';
import type { FolderWatchOptions } from '../storage/folder-watch.js';
import type { SharedStore } from '../storage/postgres/shared-store.js';
import { JsonKeyStore } from './json-key-store.js';
import type { LiveKeyStore } from './key-store.js';
import { KeyUsage, type PriceRules, periodStartMs, seedKeyUsage } from './key-usage.js';

/** Where and how. */
export interface OpenKeysOptions extends Omit<FolderWatchOptions, 'logger'> {
  dataDir: string;
  /** Where the records are read: PostgreSQL's when configured (open-ledger.ts); the file ledger of dataDir by default. */
  source?: LedgerSource;
  rules: PriceRules;
  now?: () => number;
  logger: Logger;
  /** The shared PostgreSQL store: the keys live there instead of `<dataDir>/keys.json`. */
  shared?: SharedStore;
}

/**
 * Opens the key store (PRX_ERR_STORE_CORRUPT naming the file if it does not parse; with `shared`,
 * PRX_ERR_STORE_UNAVAILABLE when PostgreSQL does not answer) and seeds the usage.
 */
export async function openKeys(options: OpenKeysOptions): Promise<{ store: LiveKeyStore; usage: KeyUsage }> {
  const { dataDir, logger, shared } = options;
  const now = options.now ?? Date.now;
  const store =
    shared === undefined
      ? await JsonKeyStore.open({ dataDir, watch: options.watch, pollIntervalMs: options.pollIntervalMs, logger })
      : await (await import('./postgres-key-store.js')).PostgresKeyStore.open({ shared, logger });
  try {
    const usage = new KeyUsage(options.rules, now);
    const fromMs = periodStartMs(now(), 'month');
    const startedMs = performance.now();
    const records = await seedKeyUsage(usage, (options.source ?? fileLedgerSource(dataDir)).read({ fromMs }));
    logger.info('API key usage of this month read from the ledger', { records, ms: Math.round(performance.now() - startedMs) });
    return { store, usage };
  } catch (err) {
    await store.close();
    throw err;
  }
}
