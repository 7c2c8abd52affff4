/**
 * A whole body gathered from the bytes a body framer let through (body.ts): as they are for a
 * length, decoded for the chunked coding. The framer has validated the chunked bytes already
 * (sizes, CRLFs, trailers), so the decoder here only walks them: a size line, its data, a CRLF.
 * The guard needs whole bodies twice: a request's, to read its model, and a listing's, to filter it.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';

// biome-ignore lint/suspicious/noConstEnum: tsc inlines it (it compiles the whole program, never file by file)
const enum State {
  Size,
  Data,
  DataEnd,
  Trailer,
}

const LF = 0x0a;

/** Gathers one body, bounded: `add` throws `tooLarge()` once more than `maxBytes` of body came. */
export class WholeBody {
  readonly #chunked: boolean;
  readonly #maxBytes: number;
  readonly #tooLarge: () => ProximaError;
  readonly #parts: Buffer[] = [];
  #bytes = 0;
  /** A declared length: one buffer of that size, filled as bytes come (no list, no concat). */
  readonly #sized: Buffer | undefined;
  #state = State.Size;
  #remaining = 0;
  /** Hex digits of the size line being read. */
  #size = '';
  #sizeDone = false;

  constructor(options: { chunked: boolean; length?: number; maxBytes: number; tooLarge?: () => ProximaError }) {
    this.#chunked = options.chunked;
    this.#maxBytes = options.maxBytes;
    this.#tooLarge =
      options.tooLarge ?? (() => new ProximaError(ErrorCodes.HTTP_BODY_TOO_LARGE, `the body is larger than ${options.maxBytes} bytes`));
    const length = options.length ?? 0;
    if (length > options.maxBytes) throw this.#tooLarge();
    this.#sized = !options.chunked && length > 0 ? Buffer.allocUnsafe(length) : undefined;
  }

  /** Body bytes gathered so far (decoded). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Takes the next bytes the framer let through. */
  add(framed: Buffer): void {
    if (!this.#chunked) return this.#data(framed);
    let pos = 0;
    while (pos < framed.length) {
      switch (this.#state) {
        case State.Size: {
          const lf = framed.indexOf(LF, pos);
          const end = lf < 0 ? framed.length : lf;
          if (!this.#sizeDone) {
            let i = pos;
            while (i < end && isHex(framed[i]!)) i++;
            this.#size += framed.toString('latin1', pos, i);
            if (i < end) this.#sizeDone = true; // an extension or the CR: the size is complete
          }
          if (lf < 0) return;
          pos = lf + 1;
          const size = Number.parseInt(this.#size, 16);
          this.#size = '';
          this.#sizeDone = false;
          this.#remaining = size;
          this.#state = size === 0 ? State.Trailer : State.Data;
          break;
        }
        case State.Data: {
          const take = Math.min(this.#remaining, framed.length - pos);
          this.#data(framed.subarray(pos, pos + take));
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = State.DataEnd;
          break;
        }
        case State.DataEnd: {
          const lf = framed.indexOf(LF, pos);
          if (lf < 0) return;
          pos = lf + 1;
          this.#state = State.Size;
          break;
        }
        case State.Trailer:
          return; // trailers are dropped, as node:http's body stream dropped them
      }
    }
  }

  /** The body, once the framer said it is done. */
  whole(): Buffer {
    if (this.#sized !== undefined) return this.#bytes === this.#sized.length ? this.#sized : this.#sized.subarray(0, this.#bytes);
    return this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#bytes);
  }

  #data(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.#bytes + bytes.length > this.#maxBytes) throw this.#tooLarge();
    if (this.#sized !== undefined) bytes.copy(this.#sized, this.#bytes);
    else this.#parts.push(bytes);
    this.#bytes += bytes.length;
  }
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}
