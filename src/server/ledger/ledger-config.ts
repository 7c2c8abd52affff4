/** The `ledger` section of server.yaml: how the ledger batches its writes and rotates its file. */
import { integer, optional, type Schema, section, withDefault } from '../../config/schema.js';
import { duration } from '../../config/values.js';
import { MINUTE_MS } from '../../time.js';
import { DEFAULT_MAX_BATCH_RECORDS, DEFAULT_MAX_FILE_BYTES } from './ledger-writer.js';

/** How the ledger is written. */
export interface LedgerConfig {
  /**
   * Deprecated, no effect: batches no longer wait for a timer. Still checked and accepted, so files
   * written for older versions load; the server warns when it is set.
   */
  flushIntervalMs?: number;
  maxBatchRecords: number;
  /** 0: never rotate. */
  maxFileBytes: number;
}

/** The schema of `ledger`. */
export const ledgerSection: Schema<LedgerConfig> = section({
  flushIntervalMs: optional(duration(1, MINUTE_MS)),
  maxBatchRecords: withDefault(integer(1, 100_000), DEFAULT_MAX_BATCH_RECORDS),
  maxFileBytes: withDefault(integer(0, 2 ** 40), DEFAULT_MAX_FILE_BYTES),
});
