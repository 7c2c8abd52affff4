/**
 * Incremental reading of one HTTP head at a time: bytes are accumulated until the CRLFCRLF that
 * ends the head, within a byte limit counted before the terminator is seen, so a head that never
 * ends fails as soon as it is too long. The parsed head and the bytes after it (a body, or the next
 * pipelined message) are returned together.
 */
import type { HttpSide } from './error.js';
import { CR, LF } from './syntax.js';

/** Node's own default (--max-http-header-size): 16 KiB. */
export const DEFAULT_MAX_HEAD_BYTES = 16 * 1024;

const TERMINATOR = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

/** Options of a head parser. */
export interface HeadParserOptions {
  /** The longest head accepted, terminator and any leading empty lines included. */
  maxHeadBytes?: number;
}

/** A parsed head and the bytes that followed it in the last chunk (possibly empty). */
export interface HeadResult<H> {
  head: H;
  rest: Buffer;
}

/**
 * Reads heads one after the other from a byte stream; `parse` turns the exact head bytes into a
 * head. After an error the reader is spent: every later push throws the same error.
 */
export class HeadReader<H> {
  readonly maxHeadBytes: number;
  readonly #side: HttpSide;
  readonly #parse: (raw: Buffer) => H;
  /** Accumulated bytes of an incomplete head; allocated on demand, handed to the head when complete. */
  #buf: Buffer | undefined;
  #len = 0;
  /** Bytes of leading empty lines dropped before this head (RFC 9112 2.2 robustness). */
  #skipped = 0;
  #failed: Error | undefined;

  constructor(side: HttpSide, parse: (raw: Buffer) => H, options: HeadParserOptions = {}) {
    const max = options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    if (!Number.isSafeInteger(max) || max < 16) throw new RangeError(`maxHeadBytes must be an integer >= 16, got ${max}`);
    this.maxHeadBytes = max;
    this.#side = side;
    this.#parse = parse;
  }

  /** Bytes held of a head not yet complete: 0 between messages. */
  get bufferedBytes(): number {
    return this.#len + this.#skipped;
  }

  /**
   * Feeds bytes. Returns the head and the bytes after it once the head is complete, else null
   * (all of `chunk` was consumed). Throws an HttpError for a head too large or malformed.
   */
  push(chunk: Buffer): HeadResult<H> | null {
    if (this.#failed !== undefined) throw this.#failed;
    try {
      return this.#push(chunk);
    } catch (err) {
      this.#failed = err as Error;
      throw err;
    }
  }

  #push(input: Buffer): HeadResult<H> | null {
    let chunk = input;
    if (this.#len === 1 && this.#buf![0] === CR && chunk.length > 0) {
      // A CR held back by #skipEmptyLines: no start line begins with CR, so it needs its LF.
      if (chunk[0] !== LF) throw this.#side.syntax('bare CR before the start line');
      this.#len = 0;
      this.#skipEmptyLine();
      chunk = chunk.subarray(1);
    }
    if (this.#len === 0) {
      chunk = this.#skipEmptyLines(chunk);
      if (chunk.length === 0) return null;
      // Fast path: the whole head in one chunk is parsed in place, without a copy.
      const room = this.maxHeadBytes - this.#skipped;
      const at = chunk.indexOf(TERMINATOR);
      if (at >= 0 && at + 4 <= room) {
        this.#skipped = 0;
        const end = at + 4;
        return { head: this.#parse(chunk.subarray(0, end)), rest: end === chunk.length ? EMPTY : chunk.subarray(end) };
      }
    }
    return this.#accumulate(chunk);
  }

  /** Drops CRLF pairs that precede a head; a lone trailing CR waits for its LF. */
  #skipEmptyLines(chunk: Buffer): Buffer {
    let i = 0;
    while (i < chunk.length && chunk[i] === CR) {
      if (i + 1 === chunk.length) break;
      if (chunk[i + 1] !== LF) throw this.#side.syntax('bare CR before the start line');
      i += 2;
      this.#skipEmptyLine();
    }
    if (i < chunk.length && chunk[i] === LF) throw this.#side.syntax('bare LF before the start line');
    return i === 0 ? chunk : chunk.subarray(i);
  }

  #skipEmptyLine(): void {
    this.#skipped += 2;
    if (this.#skipped >= this.maxHeadBytes) throw this.#side.tooLarge('too many empty lines before the start line');
  }

  #accumulate(chunk: Buffer): HeadResult<H> | null {
    const room = this.maxHeadBytes - this.#skipped;
    const old = this.#len;
    const take = Math.min(chunk.length, room - old);
    this.#ensure(old + take);
    chunk.copy(this.#buf!, old, 0, take);
    this.#len = old + take;
    const buf = this.#buf!;
    const at = buf.subarray(0, this.#len).indexOf(TERMINATOR, Math.max(0, old - 3));
    if (at >= 0) {
      const end = at + 4;
      const head = this.#parse(buf.subarray(0, end));
      this.#buf = undefined;
      this.#len = 0;
      this.#skipped = 0;
      return { head, rest: chunk.subarray(end - old) };
    }
    if (this.#len >= room) throw this.#side.tooLarge(`head exceeds ${this.maxHeadBytes} bytes`);
    this.#refuseBareLf(buf, old);
    return null;
  }

  /** Fails fast on LF-only line endings instead of waiting for a CRLFCRLF that never comes. */
  #refuseBareLf(buf: Buffer, from: number): void {
    let i = buf.indexOf(LF, from);
    while (i >= 0 && i < this.#len) {
      if (i === 0 || buf[i - 1] !== CR) throw this.#side.syntax('bare LF in head (CRLF required)');
      i = buf.indexOf(LF, i + 1);
    }
  }

  #ensure(size: number): void {
    const cap = this.#buf?.length ?? 0;
    if (size <= cap) return;
    // Doubling keeps a head sent one byte at a time linear; the cap bounds memory per connection.
    const next = Math.min(Math.max(size, cap * 2, 1024), this.maxHeadBytes);
    const grown = Buffer.allocUnsafe(next);
    if (this.#buf !== undefined) this.#buf.copy(grown, 0, 0, this.#len);
    this.#buf = grown;
  }
}
