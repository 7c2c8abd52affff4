/**
 * Appends ledger records to PostgreSQL (table proxima_ledger) with the same promise and the same
 * group commit as the file's writer (ledger-writer.ts), and no timer: the records appended in one
 * turn of the event loop go out at its end in one INSERT; while it is in flight, new records wait
 * and form the next batch, sent the moment the previous one committed (at most `maxBatchRecords`
 * a batch, one batch in flight at a time). An `append` resolves once its INSERT committed
 * (autocommit, so durable as PostgreSQL's synchronous_commit makes it).
 *
 * The INSERT is one statement of fixed text whatever the batch size, `INSERT ... SELECT FROM
 * unnest($1..$5 arrays) ON CONFLICT (id) DO NOTHING`: prepared once per connection, and no limit
 * of 65,535 bind parameters to split around. The id makes it idempotent: a request record's id,
 * and for the others (which have none) `<type>:` and the SHA-256 of the record as serialised, so
 * the same record appended twice (a retry after a lost reply) is stored once.
 *
 * jsonb cannot hold NUL characters or unpaired surrogates, which a node's text could carry: they
 * are stored as U+FFFD rather than failing the batch that holds them.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import type { PostgresStore } from '../storage/postgres/postgres-pool.js';
import { GroupCommit } from './group-commit.js';
import type { Ledger } from './ledger.js';
import { checkRecord, type LedgerRecord } from './ledger-record.js';
import { DEFAULT_MAX_BATCH_RECORDS } from './ledger-writer.js';

export interface PostgresLedgerWriterOptions {
  store: PostgresStore;
  /** The most records one INSERT takes; more wait for the next. */
  maxBatchRecords?: number;
  logger?: Logger;
}

/** A record as one row of proxima_ledger. */
export interface LedgerRow {
  id: string;
  type: string;
  time: string;
  node: string;
  json: string;
}

const INSERT = {
  name: 'proxima-ledger-insert',
  text: `INSERT INTO proxima_ledger (id, type, time, node, record)
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[])
         ON CONFLICT (id) DO NOTHING`,
};

/** Unpaired surrogates and NUL: what jsonb refuses. */
const UNSTORABLE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\0/g;

const storable = (_key: string, value: unknown): unknown => (typeof value === 'string' ? value.replace(UNSTORABLE, '\ufffd') : value);

/** The primary key of `record` in proxima_ledger. */
export function ledgerRecordId(record: LedgerRecord): string {
  if (record.type === 'request') return record.id.replace(UNSTORABLE, '\ufffd');
  return `${record.type}:${createHash('sha256').update(JSON.stringify(record), 'utf8').digest('hex')}`;
}

/** `record`, checked (PRX_ERR_LEDGER_RECORD_INVALID), as its row. */
export function ledgerRow(record: LedgerRecord): LedgerRow {
  const checked = checkRecord(record);
  return {
    id: ledgerRecordId(checked),
    type: checked.type,
    time: checked.time,
    node: checked.node,
    json: JSON.stringify(checked, storable),
  };
}

/**
 * Inserts `rows` in one statement (idempotent by id); rejects with the driver's error, unwrapped,
 * so the caller decides what it means.
 */
export async function insertLedgerRows(store: PostgresStore, rows: readonly LedgerRow[]): Promise<number> {
  const columns: [string[], string[], string[], string[], string[]] = [[], [], [], [], []];
  for (const row of rows) {
    columns[0].push(row.id);
    columns[1].push(row.type);
    columns[2].push(row.time);
    columns[3].push(row.node);
    columns[4].push(row.json);
  }
  const result = await store.pool.query({ ...INSERT, values: columns });
  return result.rowCount ?? 0;
}

/** The ledger writer of a super node whose store is PostgreSQL, without a buffer (postgres-ledger.ts has one). */
export class PostgresLedgerWriter implements Ledger {
  readonly #store: PostgresStore;
  readonly #logger: Logger;
  readonly #batches: GroupCommit<LedgerRow>;
  /** INSERT statements sent, and records in them (for metrics and tests). */
  #sent = 0;
  #records = 0;
  #lastFailure: ProximaError | undefined;

  constructor(options: PostgresLedgerWriterOptions) {
    this.#store = options.store;
    this.#logger = options.logger ?? silentLogger;
    this.#batches = new GroupCommit({
      maxBatchRecords: options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS,
      commit: (rows) => this.#insert(rows),
    });
  }

  /** INSERT statements sent so far and the records they carried. */
  get stats(): { batches: number; records: number } {
    return { batches: this.#sent, records: this.#records };
  }

  get problem(): string | undefined {
    if (!this.#batches.accepting) return 'the ledger is closed';
    return this.#lastFailure === undefined ? undefined : `the last INSERT failed (${this.#lastFailure.code})`;
  }

  /**
   * Appends `record`; resolves once its INSERT committed. PRX_ERR_LEDGER_RECORD_INVALID for a record
   * that does not check, PRX_ERR_STORE_UNAVAILABLE when the INSERT fails, PRX_ERR_SERVER_DRAINING after close.
   */
  append(record: LedgerRecord): Promise<void> {
    if (!this.#batches.accepting) return Promise.reject(new ProximaError(ErrorCodes.SERVER_DRAINING, 'the ledger is closed'));
    let row: LedgerRow;
    try {
      row = ledgerRow(record);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#batches.push(row);
  }

  /** Sends what is waiting now; resolves once everything appended so far is committed (or failed). */
  flush(): Promise<void> {
    return this.#batches.flush();
  }

  /** Refuses new records and writes the waiting ones. Idempotent. The pool is the caller's to close. */
  close(): Promise<void> {
    return this.#batches.close();
  }

  /** Fails the waiting records with `err` (or PRX_ERR_SERVER_DRAINING); an INSERT in flight settles as it ends. Idempotent. */
  destroy(err?: Error): Promise<void> {
    return this.#batches.destroy(err);
  }

  /** One INSERT of the batch; rejects with PRX_ERR_STORE_UNAVAILABLE. */
  async #insert(batch: LedgerRow[]): Promise<void> {
    this.#sent++;
    this.#records += batch.length;
    try {
      await insertLedgerRows(this.#store, batch);
      this.#lastFailure = undefined;
    } catch (err) {
      const failure = this.#store.failure('cannot append to the ledger', err);
      this.#logger.error('ledger: append to PostgreSQL failed', { err: failure, records: batch.length });
      this.#lastFailure = failure;
      throw failure;
    }
  }
}
