/**
 * Where the ledger lives in the data folder: the live file `ledger.ndjson`, and the segments it was
 * rotated into, `ledger.<untilMs>.ndjson`. `untilMs` is when the segment was closed, so no record in
 * it started later: a reader interested in records from T on skips every segment closed before T.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, ProximaError } from '../../errors.js';

/** The live ledger file's name inside the data folder. */
export const LEDGER_FILE = 'ledger.ndjson';

const SEGMENT = /^ledger\.(\d{1,16})\.ndjson$/;

/** A closed segment of the ledger. */
export interface LedgerSegment {
  file: string;
  /** When it was closed (milliseconds since the Unix epoch): every record in it is older. */
  untilMs: number;
}

/** The live file of the ledger in `dataDir`. */
export function liveLedgerPath(dataDir: string): string {
  return path.join(dataDir, LEDGER_FILE);
}

/** The path a segment closed at `untilMs` gets. */
export function segmentPath(dataDir: string, untilMs: number): string {
  return path.join(dataDir, `ledger.${Math.trunc(untilMs)}.ndjson`);
}

/** The closed segments in `dataDir`, oldest first; none when the folder does not exist. */
export async function listSegments(dataDir: string): Promise<LedgerSegment[]> {
  let names: string[];
  try {
    names = await readdir(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ProximaError(ErrorCodes.STORE_IO, `cannot list ${dataDir}`, { cause: err });
  }
  const segments: LedgerSegment[] = [];
  for (const name of names) {
    const m = SEGMENT.exec(name);
    if (m !== null) segments.push({ file: path.join(dataDir, name), untilMs: Number(m[1]) });
  }
  return segments.sort((a, b) => a.untilMs - b.untilMs);
}
