/**
 * The ledger a super node writes and the one its readers read, from its configuration: the file in
 * the data folder by default; with a PostgreSQL store, proxima_ledger with its buffer on disk
 * (postgres-ledger.ts). The store is the caller's (the shared store handle); it is not closed here.
 */
import type { Logger } from '../../log.js';
import type { PostgresStore } from '../storage/postgres/postgres-pool.js';
import type { LedgerBatchObserver } from './group-commit.js';
import type { Ledger, LedgerSource } from './ledger.js';
import type { LedgerConfig } from './ledger-config.js';
import { fileLedgerSource } from './ledger-reader.js';
import { LedgerWriter } from './ledger-writer.js';
import { postgresLedgerSource } from './postgres-ledger-source.js';

/** What the ledger is opened from. */
export interface OpenLedgerOptions {
  dataDir: string;
  ledger: LedgerConfig;
  /** The shared store, when `store.postgres` is configured. */
  store?: PostgresStore;
  /** store.postgres.bufferMaxBytes. */
  bufferMaxBytes?: number;
  now?: () => number;
  onBatch?: LedgerBatchObserver;
  logger: Logger;
}

/** The source the readers (rewards, usage, key budgets, flags) read: PostgreSQL when there is a store. */
export function ledgerSource(dataDir: string, store: PostgresStore | undefined): LedgerSource {
  return store === undefined ? fileLedgerSource(dataDir) : postgresLedgerSource(store);
}

/** Opens the ledger to write, and the source to read, as configured. */
export async function openLedger(o: OpenLedgerOptions): Promise<{ ledger: Ledger; source: LedgerSource }> {
  const source = ledgerSource(o.dataDir, o.store);
  if (o.store === undefined) {
    const ledger = await LedgerWriter.open({ ...o.ledger, dataDir: o.dataDir, now: o.now, onBatch: o.onBatch, logger: o.logger });
    return { ledger, source };
  }
  const { PostgresLedger } = await import('./postgres-ledger.js');
  const ledger = await PostgresLedger.open({
    store: o.store,
    dataDir: o.dataDir,
    bufferMaxBytes: o.bufferMaxBytes,
    maxBatchRecords: o.ledger.maxBatchRecords,
    onBatch: o.onBatch,
    logger: o.logger,
  });
  o.logger.info('ledger: writing to PostgreSQL', { url: o.store.redactedUrl, buffer: `${o.dataDir}/ledger-buffer` });
  return { ledger, source };
}
