/**
 * The ledger of a super node whose store is PostgreSQL, and that keeps acknowledging records while
 * PostgreSQL is down. Appends go through one GroupCommit: a batch is one INSERT (idempotent by id);
 * when the INSERT fails or takes longer than `insertTimeoutMs`, that batch and every later one go to
 * the buffer on disk (ledger-buffer.ts) instead, and are acknowledged once durable there. A replayer
 * retries PostgreSQL every `retryIntervalMs`, copies the buffer into it in order, `maxBatchRecords`
 * lines an INSERT, and once it has caught up (checked under the same lock the batches take, so no
 * batch lands in the buffer behind its back) removes the file and batches go to PostgreSQL again.
 * Order is kept: nothing goes to PostgreSQL directly while the buffer holds a record.
 *
 * A record whose INSERT timed out may still commit later; its replay is then a no-op (ON CONFLICT
 * (id) DO NOTHING), so every acknowledged record is stored exactly once.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import type { PostgresStore } from '../storage/postgres/postgres-pool.js';
import { GroupCommit, type LedgerBatchObserver } from './group-commit.js';
import type { Ledger } from './ledger.js';
import { LedgerBuffer } from './ledger-buffer.js';
import { checkRecord, type LedgerRecord, recordProblem } from './ledger-record.js';
import { DEFAULT_MAX_BATCH_RECORDS } from './ledger-writer.js';
import { insertLedgerRows, type LedgerRow, ledgerRow } from './postgres-ledger-writer.js';

/** How the PostgreSQL ledger is opened. */
export interface PostgresLedgerOptions {
  store: PostgresStore;
  /** The buffer lives in `<dataDir>/ledger-buffer/`. */
  dataDir: string;
  /** store.postgres.bufferMaxBytes: the buffer's bound on disk. */
  bufferMaxBytes?: number;
  maxBatchRecords?: number;
  /** An INSERT slower than this counts as failed: its batch goes to the buffer (default 5 s). */
  insertTimeoutMs?: number;
  /** How often the replayer tries PostgreSQL again while buffering (default 1 s). */
  retryIntervalMs?: number;
  onBatch?: LedgerBatchObserver;
  logger?: Logger;
}

interface Item {
  row: LedgerRow;
  line: string;
}

const DEFAULT_INSERT_TIMEOUT_MS = 5_000;
const DEFAULT_RETRY_INTERVAL_MS = 1_000;

/** The PostgreSQL ledger with its buffer on disk. Open it with {@link PostgresLedger.open}. */
export class PostgresLedger implements Ledger {
  readonly #o: PostgresLedgerOptions;
  readonly #logger: Logger;
  readonly #buffer: LedgerBuffer;
  readonly #batches: GroupCommit<Item>;
  readonly #maxBatchRecords: number;
  /** Batches go to the buffer, not to PostgreSQL. */
  #buffering = false;
  /** Serialises a batch's commit and the replayer's switch back to PostgreSQL. */
  #lock: Promise<unknown> = Promise.resolve();
  #replaying: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;
  #lastFailure: ProximaError | undefined;
  /** Records copied from the buffer into PostgreSQL since start. */
  #replayed = 0;

  private constructor(options: PostgresLedgerOptions, buffer: LedgerBuffer) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    this.#buffer = buffer;
    this.#maxBatchRecords = options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS;
    this.#batches = new GroupCommit({
      maxBatchRecords: this.#maxBatchRecords,
      commit: (items) => this.#exclusive(() => this.#commit(items)),
      onBatch: options.onBatch,
    });
  }

  /** Opens the buffer; one left by a crash is replayed at once, before any new record reaches PostgreSQL. */
  static async open(options: PostgresLedgerOptions): Promise<PostgresLedger> {
    const logger = options.logger ?? silentLogger;
    const buffer = await LedgerBuffer.open({ dataDir: options.dataDir, maxBytes: options.bufferMaxBytes, logger });
    const ledger = new PostgresLedger(options, buffer);
    if (buffer.bytes > 0) {
      logger.warn('ledger: replaying the buffer a previous run left on disk', { file: buffer.file, records: buffer.records });
      ledger.#startBuffering();
    }
    return ledger;
  }

  /** Records in the buffer on disk not yet in PostgreSQL (0 when not buffering). */
  get buffered(): number {
    return this.#buffering ? this.#buffer.records : 0;
  }

  /** Records copied from the buffer into PostgreSQL since start. */
  get replayed(): number {
    return this.#replayed;
  }

  get problem(): string | undefined {
    if (!this.#batches.accepting) return 'the ledger is closed';
    return this.#lastFailure === undefined ? undefined : `${this.#lastFailure.message} (${this.#lastFailure.code})`;
  }

  get notice(): string | undefined {
    return this.#buffering ? `buffering ${this.#buffer.records} records on disk, PostgreSQL unreachable` : undefined;
  }

  /** Appends `record`; resolves once it is committed in PostgreSQL or durable in the buffer. */
  append(record: LedgerRecord): Promise<void> {
    if (!this.#batches.accepting) return Promise.reject(new ProximaError(ErrorCodes.SERVER_DRAINING, 'the ledger is closed'));
    let item: Item;
    try {
      const checked = checkRecord(record);
      item = { row: ledgerRow(checked), line: `${JSON.stringify(checked)}\n` };
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#batches.push(item);
  }

  flush(): Promise<void> {
    return this.#batches.flush();
  }

  /** Commits the waiting records, tries once more to empty the buffer, then stops; a buffer left stays for the next start. */
  async close(): Promise<void> {
    await this.#batches.close();
    await this.#stop();
  }

  async destroy(err?: Error): Promise<void> {
    await this.#batches.destroy(err);
    await this.#stop();
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#replaying;
    await this.#buffer.close();
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(work);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  async #commit(items: Item[]): Promise<void> {
    if (!this.#buffering) {
      try {
        await this.#insert(items.map((i) => i.row));
        this.#lastFailure = undefined;
        return;
      } catch (err) {
        this.#logger.warn('ledger: PostgreSQL unreachable; records are buffered on disk until it is back', {
          err: this.#o.store.failure('cannot append to the ledger', err),
          file: this.#buffer.file,
        });
        this.#startBuffering();
      }
    }
    try {
      await this.#buffer.append(items.map((i) => i.line));
      this.#lastFailure = undefined;
    } catch (err) {
      const failure = err instanceof ProximaError ? err : new ProximaError(ErrorCodes.STORE_IO, 'cannot buffer the ledger', { cause: err });
      if (this.#lastFailure?.code !== failure.code) this.#logger.error('ledger: records refused', { err: failure, records: items.length });
      this.#lastFailure = failure;
      throw failure;
    }
  }

  /** One INSERT, bounded by insertTimeoutMs. */
  async #insert(rows: LedgerRow[]): Promise<void> {
    const limitMs = this.#o.insertTimeoutMs ?? DEFAULT_INSERT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the INSERT took longer than ${limitMs} ms`)), limitMs);
    });
    try {
      await Promise.race([insertLedgerRows(this.#o.store, rows), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #startBuffering(): void {
    this.#buffering = true;
    if (this.#replaying !== undefined) return;
    this.#replaying = this.#replay().finally(() => {
      this.#replaying = undefined;
      // Buffering again before this replayer had quite ended: another one takes over.
      if (this.#buffering && !this.#stopping) this.#startBuffering();
    });
  }

  /** Copies the buffer into PostgreSQL until it is empty, waiting retryIntervalMs after each failure. */
  async #replay(): Promise<void> {
    while (this.#buffering) {
      try {
        if (await this.#replayStep()) return;
      } catch (err) {
        if (this.#stopping) return;
        this.#logger.debug('ledger: PostgreSQL still unreachable', { err: this.#o.store.failure('replay', err) });
        await this.#sleep();
      }
    }
  }

  /** Replays one batch of lines; true once caught up and back on PostgreSQL. */
  async #replayStep(): Promise<boolean> {
    const { lines, end } = await this.#buffer.read(this.#maxBatchRecords);
    if (lines.length === 0) {
      return this.#exclusive(async () => {
        if (!this.#buffer.drained) return false; // a batch was buffered meanwhile: read it first
        const replayed = this.#replayed;
        await this.#buffer.clear();
        this.#buffering = false;
        this.#lastFailure = undefined;
        this.#logger.info('ledger: PostgreSQL is back; the buffer on disk is replayed and removed', { replayed });
        return true;
      });
    }
    const rows: LedgerRow[] = [];
    for (const line of lines) {
      const row = this.#rowOf(line);
      if (row !== undefined) rows.push(row);
    }
    if (rows.length > 0) await this.#insert(rows);
    this.#buffer.consumed(end, lines.length);
    this.#replayed += rows.length;
    return false;
  }

  #rowOf(line: string): LedgerRow | undefined {
    try {
      const value: unknown = JSON.parse(line);
      const problem = recordProblem(value);
      if (problem === undefined) return ledgerRow(value as LedgerRecord);
      this.#logger.warn('ledger: skipped a buffered line that is not a record', { file: this.#buffer.file, reason: problem });
    } catch {
      this.#logger.warn('ledger: skipped a buffered line that is not JSON (torn by a crash)', { file: this.#buffer.file });
    }
    return undefined;
  }

  /** Waits retryIntervalMs, or less when stopping. */
  async #sleep(): Promise<void> {
    if (this.#stopping) return;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, this.#o.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS);
      this.#timer.unref(); // housekeeping: never keeps a finished process alive
    });
    clearTimeout(this.#timer);
    this.#wake = undefined;
  }
}
