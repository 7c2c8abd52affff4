/**
 * Group commit with no timer, shared by the ledger's writers (the file, PostgreSQL, the buffer on
 * disk): when idle, the items pushed in one turn of the event loop go out at its end as one batch;
 * while a batch is being committed, new items wait and form the next one, which starts the moment
 * the previous one is durable. One batch in flight at a time, at most `maxBatchRecords` a batch.
 * Each `push` resolves once its batch committed, or rejects with the batch's error.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';

/** A batch's size in records, how long its commit took, and whether it is durable. */
export type LedgerBatchObserver = (records: number, durationMs: number, ok: boolean) => void;

/** What to do with a batch. */
export interface GroupCommitOptions<T> {
  maxBatchRecords: number;
  /** Makes the batch durable; a rejection fails every item of it with that error. */
  commit(batch: T[]): Promise<void>;
  /** Runs after a batch's items are settled, before the next batch starts (the file rotates here). */
  afterBatch?(): Promise<void>;
  /** Hears each batch once committed (or failed): for metrics. Absent, no clock is read. */
  onBatch?: LedgerBatchObserver;
}

interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Batches items per turn of the event loop into one commit at a time. */
export class GroupCommit<T> {
  readonly #o: GroupCommitOptions<T>;
  #waiting: Waiting<T>[] = [];
  /** The end of this turn of the event loop, when an idle committer's next batch goes out. */
  #turnEnd: NodeJS.Immediate | undefined;
  #writing: Promise<void> | undefined;
  #accepting = true;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  constructor(options: GroupCommitOptions<T>) {
    this.#o = options;
  }

  /** False once closed or destroyed. */
  get accepting(): boolean {
    return this.#accepting;
  }

  /** Items waiting for a batch (not counting the one in flight). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Queues `item`; resolves once its batch committed. PRX_ERR_SERVER_DRAINING after close. */
  push(item: T): Promise<void> {
    if (!this.#accepting) return Promise.reject(new ProximaError(ErrorCodes.SERVER_DRAINING, 'the ledger is closed'));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Commits what is waiting now; resolves once everything pushed so far is committed (or failed). */
  async flush(): Promise<void> {
    while (this.#writing !== undefined || this.#waiting.length > 0) {
      this.#flushNow();
      await this.#writing;
    }
  }

  /** Refuses new items and commits the waiting ones. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#accepting = false;
      await this.flush();
    })();
    return this.#closing;
  }

  /** Fails the waiting items with `err` (or PRX_ERR_SERVER_DRAINING); a batch in flight settles as it ends. Idempotent. */
  destroy(err?: Error): Promise<void> {
    this.#destroying ??= (async () => {
      this.#accepting = false;
      clearImmediate(this.#turnEnd);
      this.#turnEnd = undefined;
      const failure = err ?? new ProximaError(ErrorCodes.SERVER_DRAINING, 'the ledger was closed before the record was written');
      for (const w of this.#waiting.splice(0)) w.reject(failure);
      // A commit under way cannot be called back; its items settle as it ends.
      await this.#writing;
    })();
    return this.#destroying;
  }

  /** An item is waiting: an idle committer commits at the end of this turn; a busy one when its batch is done. */
  #schedule(): void {
    if (this.#writing !== undefined || this.#waiting.length === 0) return;
    // Not a timer: the items other requests push in this same turn join the batch, and none waits longer.
    this.#turnEnd ??= setImmediate(() => {
      this.#turnEnd = undefined;
      this.#flushNow();
    });
  }

  #flushNow(): void {
    clearImmediate(this.#turnEnd);
    this.#turnEnd = undefined;
    if (this.#writing !== undefined || this.#waiting.length === 0) return;
    const batch = this.#waiting.splice(0, this.#o.maxBatchRecords);
    this.#writing = this.#commit(batch).then(() => {
      this.#writing = undefined;
      this.#flushNow(); // what arrived during the commit is the next batch, at once
    });
  }

  /** Commits one batch, settling each of its items; never rejects. */
  async #commit(batch: Waiting<T>[]): Promise<void> {
    const onBatch = this.#o.onBatch;
    const startMs = onBatch === undefined ? 0 : performance.now();
    try {
      await this.#o.commit(batch.map((w) => w.item));
    } catch (err) {
      onBatch?.(batch.length, performance.now() - startMs, false);
      const failure = err instanceof Error ? err : new Error(String(err));
      for (const w of batch) w.reject(failure);
      return;
    }
    onBatch?.(batch.length, performance.now() - startMs, true);
    for (const w of batch) w.resolve();
    await this.#o.afterBatch?.().catch(() => undefined);
  }
}
