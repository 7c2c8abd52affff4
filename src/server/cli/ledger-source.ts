/**
 * The ledger the reading commands (`rewards`, `usage`) read: PostgreSQL's proxima_ledger when
 * `store.postgres` is configured (one short-lived connection, closed after), else the file ledger
 * of the data folder. pg is loaded only when configured (postgres-ledger-source.ts itself is loaded
 * at start anyway: open-ledger.ts imports it).
 */
import type { ServerConfig } from '../config.js';
import type { LedgerSource } from '../ledger/ledger.js';
import { fileLedgerSource } from '../ledger/ledger-reader.js';
import { postgresLedgerSource } from '../ledger/postgres-ledger-source.js';

/** Runs `read` with the configured ledger source; closes what it opened. */
export async function withLedgerSource<T>(config: ServerConfig, read: (source: LedgerSource) => Promise<T>): Promise<T> {
  const postgres = config.store?.postgres;
  if (postgres === undefined) return read(fileLedgerSource(config.dataDir));
  const { openPostgres } = await import('../storage/postgres/postgres-pool.js');
  const store = await openPostgres({ url: postgres.url, max: 1, applicationName: 'proxima-server rewards' });
  try {
    return await read(postgresLedgerSource(store));
  } finally {
    await store.close();
  }
}
