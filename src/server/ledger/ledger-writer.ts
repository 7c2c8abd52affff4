/**
 * Appends records to the ledger with group commit (group-commit.ts), with no timer: when the file is
 * idle, the records appended in one turn of the event loop go out at its end in one write (the file
 * is O_DSYNC: the write returns once the data is on disk, write + fdatasync in one trip); while a
 * batch is being written, new records wait and form the next batch, which starts the moment the
 * previous one is on disk (at most `maxBatchRecords` a batch). Each `append` resolves once its
 * record is durable. The file is opened O_APPEND and every batch is one write of
 * whole lines, so a crash can tear at most the last line: on the next start it is reported (file
 * and byte offset) and left where it is; the next batch starts on a fresh line, and readers skip it.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, rename, stat } from 'node:fs/promises';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import { ensureFolder, syncFolder } from '../storage/atomic-file.js';
import { GroupCommit, type LedgerBatchObserver } from './group-commit.js';
import type { Ledger } from './ledger.js';
import { liveLedgerPath, segmentPath } from './ledger-files.js';
import { checkRecord, type LedgerRecord } from './ledger-record.js';

export type { LedgerBatchObserver } from './group-commit.js';

/** How a ledger writer batches and rotates. */
export interface LedgerWriterOptions {
  dataDir: string;
  /** The most records one batch (one synchronous write) takes; more wait for the next. */
  maxBatchRecords?: number;
  /** Past this size the live file becomes a segment and a new one starts; 0 never rotates. */
  maxFileBytes?: number;
  /** The clock, in milliseconds since the Unix epoch (names rotated segments). */
  now?: () => number;
  logger?: Logger;
  /** Hears each batch once written (or failed): for metrics. Absent, no clock is read. */
  onBatch?: LedgerBatchObserver;
}

export const DEFAULT_MAX_BATCH_RECORDS = 4096;
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;

const NEWLINE = 0x0a;
/** `a+` (read, append, create) with O_DSYNC: a write is durable when it returns. */
const APPEND_DSYNC = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC;
const SCAN_BLOCK_BYTES = 64 * 1024;

/** The one writer of a data folder's ledger. Open it with {@link LedgerWriter.open}. */
export class LedgerWriter implements Ledger {
  /** The live file. */
  readonly file: string;
  readonly #dataDir: string;
  readonly #maxFileBytes: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  #handle: FileHandle;
  #size: number;
  /** The file does not end with a newline (a torn line, or a failed write): start the next batch with one. */
  #midLine: boolean;
  readonly #batches: GroupCommit<string>;
  #closing: Promise<void> | undefined;
  #handleClosed: Promise<void> | undefined;
  /** The last batch failed to write: the ledger is not writable until one succeeds. */
  #lastFailure: ProximaError | undefined;

  private constructor(options: LedgerWriterOptions, handle: FileHandle, size: number, midLine: boolean) {
    this.#dataDir = options.dataDir;
    this.file = liveLedgerPath(options.dataDir);
    this.#maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    this.#handle = handle;
    this.#size = size;
    this.#midLine = midLine;
    this.#batches = new GroupCommit({
      maxBatchRecords: options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS,
      commit: (lines) => this.#write(lines),
      afterBatch: () => (this.#maxFileBytes > 0 && this.#size >= this.#maxFileBytes ? this.#rotate() : Promise.resolve()),
      onBatch: options.onBatch,
    });
  }

  /** Why records cannot be written now (closed, or the last write failed), or undefined when they can. */
  get problem(): string | undefined {
    if (!this.#batches.accepting) return 'the ledger is closed';
    return this.#lastFailure === undefined ? undefined : `the last write failed (${this.#lastFailure.code})`;
  }

  /**
   * Opens (creating if needed) `<dataDir>/ledger.ndjson`. A torn last line left by a crash is
   * reported with a warning naming the file and the line's byte offset; it is never fatal.
   */
  static async open(options: LedgerWriterOptions): Promise<LedgerWriter> {
    const logger = options.logger ?? silentLogger;
    const file = liveLedgerPath(options.dataDir);
    await ensureFolder(options.dataDir);
    try {
      const existed = await stat(file).then(
        () => true,
        () => false,
      );
      // a+: appends go to the end whatever the position; reads are needed to find a torn tail.
      const handle = await open(file, APPEND_DSYNC, 0o600);
      if (!existed) await syncFolder(options.dataDir);
      const { size } = await handle.stat();
      const tornAt = await tornLineOffset(handle, size);
      if (tornAt !== undefined) logger.warn('ledger: skipping a torn last line', { file, offset: tornAt, bytes: size - tornAt });
      return new LedgerWriter(options, handle, size, tornAt !== undefined);
    } catch (err) {
      throw new ProximaError(ErrorCodes.STORE_IO, `cannot open the ledger ${file}`, { cause: err });
    }
  }

  /**
   * Appends `record`; resolves once it is on disk (its O_DSYNC write returned). PRX_ERR_LEDGER_RECORD_INVALID for a
   * record that does not check, PRX_ERR_STORE_IO when the write fails, PRX_ERR_SERVER_DRAINING after close.
   */
  append(record: LedgerRecord): Promise<void> {
    if (!this.#batches.accepting) return Promise.reject(new ProximaError(ErrorCodes.SERVER_DRAINING, 'the ledger is closed'));
    let line: string;
    try {
      line = `${JSON.stringify(checkRecord(record))}\n`;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#batches.push(line);
  }

  /** Writes what is waiting now; resolves once everything appended so far is on disk (or failed). */
  flush(): Promise<void> {
    return this.#batches.flush();
  }

  /** Refuses new records, writes the waiting ones, closes the file. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#batches.close();
      await this.#closeHandle();
    })();
    return this.#closing;
  }

  /** Fails the waiting records with `err` (or PRX_ERR_SERVER_DRAINING) and closes the file. Idempotent. */
  async destroy(err?: Error): Promise<void> {
    await this.#batches.destroy(err);
    await this.#closeHandle();
  }

  /** Writes and syncs one batch of whole lines; rejects (PRX_ERR_STORE_IO) when the write fails. */
  async #write(lines: string[]): Promise<void> {
    const data = Buffer.from((this.#midLine ? '\n' : '') + lines.join(''), 'utf8');
    try {
      // O_DSYNC: each write returns once its data is on disk, as write + fdatasync would, in one trip.
      for (let done = 0; done < data.length; ) done += (await this.#handle.write(data, done)).bytesWritten;
      this.#midLine = false;
      this.#size += data.length;
    } catch (err) {
      this.#midLine = true; // part of the batch may be in the file
      const failure = new ProximaError(ErrorCodes.STORE_IO, `cannot append to the ledger ${this.file}`, { cause: err });
      this.#logger.error('ledger: append failed', { err: failure });
      this.#lastFailure = failure;
      throw failure;
    }
    this.#lastFailure = undefined;
  }

  /** Renames the live file to a segment named for now and starts a new live file. */
  async #rotate(): Promise<void> {
    let untilMs = this.#now();
    while (
      await stat(segmentPath(this.#dataDir, untilMs)).then(
        () => true,
        () => false,
      )
    )
      untilMs += 1;
    const segment = segmentPath(this.#dataDir, untilMs);
    try {
      await rename(this.file, segment);
    } catch (err) {
      this.#logger.error('ledger: rotation failed; appending to the same file', { err, file: this.file });
      return;
    }
    try {
      const next = await open(this.file, APPEND_DSYNC, 0o600);
      await syncFolder(this.#dataDir);
      const old = this.#handle;
      [this.#handle, this.#size, this.#midLine] = [next, 0, false];
      await old.close();
      this.#logger.info('ledger rotated', { segment });
    } catch (err) {
      // Keep appending to the renamed file rather than lose records; put its name back.
      await rename(segment, this.file).catch(() => undefined);
      this.#logger.error('ledger: could not start a new file after rotating', { err, file: this.file });
    }
  }

  #closeHandle(): Promise<void> {
    this.#handleClosed ??= this.#handle.close().catch((err: unknown) => this.#logger.warn('ledger: close failed', { err }));
    return this.#handleClosed;
  }
}

/** The offset where a last line without its newline starts, or undefined when the file ends cleanly. */
async function tornLineOffset(handle: FileHandle, size: number): Promise<number | undefined> {
  if (size === 0) return undefined;
  const block = Buffer.alloc(SCAN_BLOCK_BYTES);
  let end = size;
  let first = true;
  while (end > 0) {
    const start = Math.max(0, end - SCAN_BLOCK_BYTES);
    const { bytesRead } = await handle.read(block, 0, end - start, start);
    const view = block.subarray(0, bytesRead);
    if (first && view[view.length - 1] === NEWLINE) return undefined;
    first = false;
    const at = view.lastIndexOf(NEWLINE);
    if (at >= 0) return start + at + 1;
    end = start;
  }
  return 0;
}
