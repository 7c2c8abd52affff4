/**
 * Where the ledger's records wait on disk while PostgreSQL is unreachable:
 * `<dataDir>/ledger-buffer/buffer.ndjson`, one record a line, as the file ledger writes them
 * (O_APPEND | O_DSYNC, one write of whole lines a batch, so a crash tears at most the last line,
 * which replay skips). Bounded by `maxBytes`: past it an append fails with
 * PRX_ERR_LEDGER_BUFFER_FULL and nothing of it is written. It is read back from the start, in
 * order, and removed once every line is in PostgreSQL; a buffer left by a crash is read at the next start.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { type Logger, silentLogger } from '../../log.js';
import { ensureFolder, syncFolder } from '../storage/atomic-file.js';
import { DEFAULT_BUFFER_MAX_BYTES } from '../storage/postgres/postgres-url.js';

/** The buffer's folder inside the data folder, and its file. */
export const LEDGER_BUFFER_FOLDER = 'ledger-buffer';
export const LEDGER_BUFFER_FILE = 'buffer.ndjson';

const APPEND_DSYNC = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC;
const NEWLINE = 0x0a;
/** How much one read of the buffer takes (a record line is at most 64 KiB). */
const READ_BYTES = 1024 * 1024;

/** Lines read back: what they are, and where the next read starts. */
export interface BufferedLines {
  lines: string[];
  end: number;
}

/** The ledger's buffer on disk. Open it with {@link LedgerBuffer.open}. */
export class LedgerBuffer {
  readonly file: string;
  readonly maxBytes: number;
  readonly #folder: string;
  readonly #logger: Logger;
  #handle: FileHandle | undefined;
  #size: number;
  /** Whole lines in the file not yet read back. */
  #unread: number;
  /** Where the next read starts: lines before it are in PostgreSQL. */
  #readAt = 0;
  #midLine: boolean;

  private constructor(folder: string, maxBytes: number, logger: Logger, handle: FileHandle | undefined, size: number, lines: number) {
    this.#folder = folder;
    this.file = path.join(folder, LEDGER_BUFFER_FILE);
    this.maxBytes = maxBytes;
    this.#logger = logger;
    this.#handle = handle;
    this.#size = size;
    this.#unread = lines;
    this.#midLine = false;
  }

  /** Opens the buffer of `dataDir`: an existing file (left by a crash) is counted; none is created yet. */
  static async open(options: { dataDir: string; maxBytes?: number; logger?: Logger }): Promise<LedgerBuffer> {
    const folder = path.join(options.dataDir, LEDGER_BUFFER_FOLDER);
    const logger = options.logger ?? silentLogger;
    const file = path.join(folder, LEDGER_BUFFER_FILE);
    let handle: FileHandle;
    try {
      handle = await open(file, APPEND_DSYNC & ~constants.O_CREAT, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return new LedgerBuffer(folder, options.maxBytes ?? DEFAULT_BUFFER_MAX_BYTES, logger, undefined, 0, 0);
      throw new ProximaError(ErrorCodes.STORE_IO, `cannot open the ledger buffer ${file}`, { cause: err });
    }
    const { size, lines, torn } = await countLines(handle);
    const buffer = new LedgerBuffer(folder, options.maxBytes ?? DEFAULT_BUFFER_MAX_BYTES, logger, handle, size, lines);
    buffer.#midLine = torn;
    if (torn) logger.warn('ledger: the buffer on disk ends with a torn line; it is skipped', { file });
    return buffer;
  }

  /** Bytes on disk (read back or not). */
  get bytes(): number {
    return this.#size;
  }

  /** Records in the buffer not yet in PostgreSQL. */
  get records(): number {
    return this.#unread;
  }

  /** Every line was read back (or there is none). */
  get drained(): boolean {
    return this.#readAt >= this.#size;
  }

  /** Appends whole lines in one O_DSYNC write: durable when it resolves. PRX_ERR_LEDGER_BUFFER_FULL past maxBytes. */
  async append(lines: readonly string[]): Promise<void> {
    const data = Buffer.from((this.#midLine ? '\n' : '') + lines.join(''), 'utf8');
    if (this.#size + data.length > this.maxBytes) {
      throw new ProximaError(
        ErrorCodes.LEDGER_BUFFER_FULL,
        `the ledger's buffer on disk is full (${this.#size} bytes of store.postgres.bufferMaxBytes ${this.maxBytes}) and PostgreSQL is unreachable`,
      );
    }
    try {
      if (this.#handle === undefined) {
        await ensureFolder(this.#folder);
        this.#handle = await open(this.file, APPEND_DSYNC, 0o600);
        await syncFolder(this.#folder);
      }
      for (let done = 0; done < data.length; ) done += (await this.#handle.write(data, done)).bytesWritten;
    } catch (err) {
      this.#midLine = true;
      throw new ProximaError(ErrorCodes.STORE_IO, `cannot append to the ledger buffer ${this.file}`, { cause: err });
    }
    this.#midLine = false;
    this.#size += data.length;
    this.#unread += lines.length;
  }

  /** Up to `maxLines` whole lines from where reading stopped (empty lines dropped); call {@link consumed} once they are stored. */
  async read(maxLines: number): Promise<BufferedLines> {
    const lines: string[] = [];
    let at = this.#readAt;
    const size = this.#size;
    const chunk = Buffer.alloc(READ_BYTES);
    while (this.#handle !== undefined && at < size && lines.length < maxLines) {
      const { bytesRead } = await this.#handle.read(chunk, 0, Math.min(READ_BYTES, size - at), at);
      const view = chunk.subarray(0, bytesRead);
      let from = 0;
      for (let nl = view.indexOf(NEWLINE); nl >= 0 && lines.length < maxLines; nl = view.indexOf(NEWLINE, from)) {
        if (nl > from) lines.push(view.toString('utf8', from, nl));
        from = nl + 1;
      }
      // No newline in a full read is a line past any record's size; no newline at the end is the torn tail: skip either.
      if (from === 0) from = bytesRead;
      at += from;
    }
    return { lines, end: at };
  }

  /** The lines read up to `end` are in PostgreSQL. */
  consumed(end: number, lines: number): void {
    this.#readAt = end;
    this.#unread = Math.max(0, this.#unread - lines);
  }

  /** Removes the file once every line is in PostgreSQL; the next append starts a new one. */
  async clear(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    [this.#size, this.#unread, this.#readAt, this.#midLine] = [0, 0, 0, false];
    await handle?.close().catch(() => undefined);
    try {
      await unlink(this.file);
      await syncFolder(this.#folder);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#logger.warn('ledger: could not remove the replayed buffer', { err, file: this.file });
    }
  }

  /** Closes the file; what is in it stays for the next start. Idempotent. */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => undefined);
  }
}

/** The size of the file, its whole lines, and whether it ends with a torn one. */
async function countLines(handle: FileHandle): Promise<{ size: number; lines: number; torn: boolean }> {
  const { size } = await handle.stat();
  const chunk = Buffer.alloc(READ_BYTES);
  let lines = 0;
  let last = NEWLINE;
  for (let at = 0; at < size; ) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(READ_BYTES, size - at), at);
    if (bytesRead === 0) break;
    for (let i = chunk.indexOf(NEWLINE); i >= 0 && i < bytesRead; i = chunk.indexOf(NEWLINE, i + 1)) lines++;
    last = chunk[bytesRead - 1]!;
    at += bytesRead;
  }
  return { size, lines, torn: size > 0 && last !== NEWLINE };
}
