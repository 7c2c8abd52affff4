/**
 * Newline-delimited JSON, incrementally: Ollama's native streams are one JSON object per line.
 * Lines are split on LF (a CR before it is dropped); blank lines are skipped.
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCodes, ProximaError } from '../../errors.js';

/** Largest line the splitter holds. */
export const MAX_NDJSON_LINE_BYTES = 1024 * 1024;

export class NdjsonSplitter {
  #partial: Buffer[] = [];
  #partialBytes = 0;

  readonly #maxLineBytes: number;

  constructor(maxLineBytes = MAX_NDJSON_LINE_BYTES) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Bytes of a line not yet complete. */
  get buffered(): number {
    return this.#partialBytes;
  }

  /**
   * Returns the complete lines in `chunk` (as strings), keeping the rest. With `raws`, one entry per
   * line is pushed to it: the line's own bytes in `chunk` with its LF when they are exactly the
   * line and `\n` in valid UTF-8 (no CR, not begun in an earlier chunk), else undefined.
   */
  push(chunk: Buffer, raws?: (Buffer | undefined)[]): string[] {
    const out: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      const whole = this.#partialBytes === 0;
      const line = whole ? piece : Buffer.concat([...this.#partial, piece]);
      this.#partial = [];
      this.#partialBytes = 0;
      const cr = line.length > 0 && line[line.length - 1] === 0x0d;
      const text = line.toString('utf8', 0, cr ? line.length - 1 : line.length);
      if (text.trim() !== '') {
        out.push(text);
        if (raws !== undefined) {
          const raw = whole && !cr ? chunk.subarray(start, nl + 1) : undefined;
          raws.push(raw !== undefined && isUtf8(raw) ? raw : undefined);
        }
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#partial.push(chunk.subarray(start));
      this.#partialBytes += chunk.length - start;
      if (this.#partialBytes > this.#maxLineBytes) {
        throw new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, `an NDJSON line exceeds ${this.#maxLineBytes} bytes`);
      }
    }
    return out;
  }

  /** What is left when the stream ends: a last line without a newline, if any. */
  end(): string | undefined {
    const text = Buffer.concat(this.#partial).toString('utf8').trim();
    this.#partial = [];
    this.#partialBytes = 0;
    return text === '' ? undefined : text;
  }
}
