/**
 * What the super node uses of its ledger, whichever store holds it: the file in the data folder
 * (ledger-writer.ts) or PostgreSQL with its buffer on disk (postgres-ledger.ts); open-ledger.ts
 * picks one from the config. And what the readers (rewards, usage, key budgets, flags) read.
 */
import type { LedgerRecord } from './ledger-record.js';

/** The usage ledger as the server writes it. */
export interface Ledger {
  /**
   * Appends `record`; resolves once it is durable (the books before the answer). Rejects with
   * PRX_ERR_LEDGER_RECORD_INVALID, a store error, or PRX_ERR_SERVER_DRAINING after close.
   */
  append(record: LedgerRecord): Promise<void>;
  /** Resolves once everything appended so far is durable (or failed). */
  flush(): Promise<void>;
  /** Why records cannot be appended now (/readyz is 503), or undefined when they can. */
  readonly problem: string | undefined;
  /** Records are appended, but not where they belong (/readyz stays 200 and shows it), or undefined. */
  readonly notice?: string | undefined;
  /** Refuses new records, makes the waiting ones durable, releases files. Idempotent. */
  close(): Promise<void>;
  /** Fails the waiting records with `err` and releases files. Idempotent. */
  destroy(err?: Error): Promise<void>;
}

/** A line of a file ledger the reader passed over. */
export interface SkippedLine {
  file: string;
  /** Where the line starts, in bytes from the start of the file. */
  offset: number;
  reason: string;
}

/** What to read of a ledger. */
export interface LedgerQuery {
  /** Only records whose `time` is in [fromMs, toMs) (ms since the Unix epoch). */
  fromMs?: number;
  toMs?: number;
  /** Hears each line of a file ledger that is not a record (PostgreSQL holds only records). */
  onSkip?: (skipped: SkippedLine) => void;
}

/** Where the ledger's readers read: the records of a time range, in the order written, streamed. */
export interface LedgerSource {
  /** Where it reads, for messages (a folder, or a redacted URL). */
  readonly where: string;
  read(query: LedgerQuery): AsyncIterable<LedgerRecord>;
}
