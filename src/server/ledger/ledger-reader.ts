/**
 * Reads the ledger as a stream of records: the segments that may hold records from `fromMs` on,
 * oldest first, then the live file, line by line in fixed-size blocks (the ledger grows without
 * bound; it is never read whole). A line that is not a valid record (a torn line after a crash, a
 * line cut off while the server is writing it, a hand edit) is skipped and reported with its file
 * and byte offset.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { LedgerSource, SkippedLine } from './ledger.js';
import { listSegments, liveLedgerPath } from './ledger-files.js';
import { type LedgerRecord, recordProblem, recordTimeMs } from './ledger-record.js';

export type { SkippedLine } from './ledger.js';

/** What to read. */
export interface ReadLedgerOptions {
  dataDir: string;
  /**
   * Only records whose `time` is in [fromMs, toMs) (ms since the Unix epoch); segments closed
   * before `fromMs` cannot hold one and are not opened. For an epoch: its start and end.
   */
  fromMs?: number;
  toMs?: number;
  /** Longer lines are skipped (no record is anywhere near this long). */
  maxLineBytes?: number;
  onSkip?: (skipped: SkippedLine) => void;
}

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
const BLOCK_BYTES = 256 * 1024;
const NEWLINE = 0x0a;

/**
 * Every valid record of the ledger in `dataDir`, in the order written. No ledger yet is no records.
 * The live file is opened before the segments are listed, so a rotation while reading neither
 * hides records nor shows them twice.
 */
export async function* readLedger(options: ReadLedgerOptions): AsyncGenerator<LedgerRecord> {
  const { dataDir, fromMs = -Infinity } = options;
  const live = liveLedgerPath(dataDir);
  const liveHandle = await openIfExists(live);
  try {
    const liveIno = liveHandle === undefined ? undefined : (await liveHandle.stat()).ino;
    for (const segment of await listSegments(dataDir)) {
      if (segment.untilMs < fromMs) continue;
      const handle = await openIfExists(segment.file);
      if (handle === undefined) continue;
      try {
        // Renamed after we opened the live file: it is the one we are about to read as live.
        if ((await handle.stat()).ino === liveIno) continue;
        yield* readLines(handle, segment.file, options);
      } finally {
        await handle.close();
      }
    }
    if (liveHandle !== undefined) yield* readLines(liveHandle, live, options);
  } finally {
    await liveHandle?.close();
  }
}

/** The records of the file ledger in `dataDir`, as a {@link LedgerSource}. */
export function fileLedgerSource(dataDir: string): LedgerSource {
  return { where: dataDir, read: (query) => readLedger({ dataDir, ...query }) };
}

async function openIfExists(file: string): Promise<FileHandle | undefined> {
  try {
    return await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot open the ledger ${file}`, { cause: err });
  }
}

async function* readLines(handle: FileHandle, file: string, options: ReadLedgerOptions): AsyncGenerator<LedgerRecord> {
  const { fromMs = -Infinity, toMs = Infinity } = options;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const skip = (offset: number, reason: string): void => options.onSkip?.({ file, offset, reason });
  const block = Buffer.alloc(BLOCK_BYTES);
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let lineStart = 0;
  let position = 0;
  /** The current line outgrew maxLineBytes: drop bytes until its end. */
  let overlong = false;
  for (;;) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(block, 0, BLOCK_BYTES, position));
    } catch (err) {
      throw new ProximaError(ErrorCodes.STORE_IO, `cannot read the ledger ${file}`, { cause: err });
    }
    if (bytesRead === 0) break;
    const view = block.subarray(0, bytesRead);
    let from = 0;
    for (let at = view.indexOf(NEWLINE); at >= 0; at = view.indexOf(NEWLINE, from)) {
      const piece = view.subarray(from, at);
      if (!overlong && carryBytes + piece.length <= maxLineBytes) {
        const line = carryBytes === 0 ? piece : Buffer.concat([...carry, piece]);
        const record = parseLine(line, (reason) => skip(lineStart, reason));
        const timeMs = record === undefined ? NaN : recordTimeMs(record);
        if (timeMs >= fromMs && timeMs < toMs) yield record!;
      } else skip(lineStart, `line longer than ${maxLineBytes} bytes`);
      [carry, carryBytes, overlong] = [[], 0, false];
      from = at + 1;
      lineStart = position + from;
    }
    const rest = view.subarray(from);
    if (!overlong && carryBytes + rest.length <= maxLineBytes) {
      carry.push(Buffer.from(rest)); // copied: the block is reused
      carryBytes += rest.length;
    } else [carry, carryBytes, overlong] = [[], 0, true];
    position += bytesRead;
  }
  if (overlong || carryBytes > 0) skip(lineStart, 'incomplete last line (torn by a crash, or being written)');
}

function parseLine(line: Buffer, skip: (reason: string) => void): LedgerRecord | undefined {
  // An empty line is what a failed write leaves before the next batch: nothing was lost on it.
  if (line.length === 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    skip('not JSON');
    return undefined;
  }
  const problem = recordProblem(value);
  if (problem === undefined) return value as LedgerRecord;
  skip(problem);
  return undefined;
}
