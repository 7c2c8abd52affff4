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
import { checkRecord, type LedgerRecord } from './ledger-record.js';
import { DEFAULT_MAX_BATCH_RECORDS, type LedgerWriter } from './ledger-writer.js';

export interface PostgresLedgerWriterOptions {
  store: PostgresStore;
  /** The most records one INSERT takes; more wait for the next. */
  maxBatchRecords?: number;
  logger?: Logger;
}

interface Row {
  id: string;
  type: string;
  time: string;
  node: string;
  json: string;
}

interface Waiting {
  row: Row;
  resolve: () => void;
  reject: (err: Error) => void;
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

/** The ledger writer of a super node whose store is PostgreSQL. */
export class PostgresLedgerWriter implements Pick<LedgerWriter, 'append' | 'flush' | 'close' | 'destroy'> {
  readonly #store: PostgresStore;
  readonly #maxBatchRecords: number;
  readonly #logger: Logger;
  #waiting: Waiting[] = [];
  #turnEnd: NodeJS.Immediate | undefined;
  #writing: Promise<void> | undefined;
  #accepting = true;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;
  /** INSERT statements sent, and records in them (for metrics and tests). */
  #batches = 0;
  #records = 0;

  constructor(options: PostgresLedgerWriterOptions) {
    this.#store = options.store;
    this.#maxBatchRecords = options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS;
    this.#logger = options.logger ?? silentLogger;
  }

  /** INSERT statements sent so far and the records they carried. */
  get stats(): { batches: number; records: number } {
    return { batches: this.#batches, records: this.#records };
  }

  /**
   * Appends `record`; resolves once its INSERT committed. PRX_ERR_LEDGER_RECORD_INVALID for a record
   * that does not check, PRX_ERR_STORE_UNAVAILABLE when the INSERT fails, PRX_ERR_SERVER_DRAINING after close.
   */
  append(record: LedgerRecord): Promise<void> {
    if (!this.#accepting) return Promise.reject(new ProximaError(ErrorCodes.SERVER_DRAINING, 'the ledger is closed'));
    let row: Row;
    try {
      const checked = checkRecord(record);
      row = {
        id: ledgerRecordId(checked),
        type: checked.type,
        time: checked.time,
        node: checked.node,
        json: JSON.stringify(checked, storable),
      };
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ row, resolve, reject });
      this.#schedule();
    });
  }

  /** Sends what is waiting now; resolves once everything appended so far is committed (or failed). */
  async flush(): Promise<void> {
    while (this.#writing !== undefined || this.#waiting.length > 0) {
      this.#flushNow();
      await this.#writing;
    }
  }

  /** Refuses new records and writes the waiting ones. Idempotent. The pool is the caller's to close. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#accepting = false;
      await this.flush();
    })();
    return this.#closing;
  }

  /** Fails the waiting records with `err` (or PRX_ERR_SERVER_DRAINING); an INSERT in flight settles as it ends. Idempotent. */
  destroy(err?: Error): Promise<void> {
    this.#destroying ??= (async () => {
      this.#accepting = false;
      clearImmediate(this.#turnEnd);
      this.#turnEnd = undefined;
      const failure = err ?? new ProximaError(ErrorCodes.SERVER_DRAINING, 'the ledger was closed before the record was written');
      for (const w of this.#waiting.splice(0)) w.reject(failure);
      await this.#writing;
    })();
    return this.#destroying;
  }

  #schedule(): void {
    if (this.#writing !== undefined || this.#waiting.length === 0) return;
    // Not a timer: the records other requests append in this same turn join the batch.
    this.#turnEnd ??= setImmediate(() => {
      this.#turnEnd = undefined;
      this.#flushNow();
    });
  }

  #flushNow(): void {
    clearImmediate(this.#turnEnd);
    this.#turnEnd = undefined;
    if (this.#writing !== undefined || this.#waiting.length === 0) return;
    const batch = this.#waiting.splice(0, this.#maxBatchRecords);
    this.#writing = this.#insert(batch).then(() => {
      this.#writing = undefined;
      this.#flushNow(); // what arrived during the INSERT is the next batch, at once
    });
  }

  /** One INSERT of the batch, settling each of its records; never rejects. */
  async #insert(batch: Waiting[]): Promise<void> {
    const columns: [string[], string[], string[], string[], string[]] = [[], [], [], [], []];
    for (const { row } of batch) {
      columns[0].push(row.id);
      columns[1].push(row.type);
      columns[2].push(row.time);
      columns[3].push(row.node);
      columns[4].push(row.json);
    }
    this.#batches++;
    this.#records += batch.length;
    try {
      await this.#store.pool.query({ ...INSERT, values: columns });
    } catch (err) {
      const failure = this.#store.failure('cannot append to the ledger', err);
      this.#logger.error('ledger: append to PostgreSQL failed', { err: failure, records: batch.length });
      for (const w of batch) w.reject(failure);
      return;
    }
    for (const w of batch) w.resolve();
  }
}
