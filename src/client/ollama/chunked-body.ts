/**
 * A whole body gathered from the bytes a body framer let through (body.ts): as they are for a
 * length, decoded for the chunked coding by a ChunkedFramer of its own (`decode`: the chunk data as
 * slices of the input; trailers dropped, as node:http's body stream dropped them). The guard needs
 * whole bodies twice: a request's, to read its model, and a listing's, to filter it.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import { ChunkedFramer } from '../../proto/http/chunked.js';
import { REQUEST_SIDE } from '../../proto/http/error.js';

/** Gathers one body, bounded: `add` throws `tooLarge()` once more than `maxBytes` of body came. */
export class WholeBody {
  /** Decodes a chunked body; undefined for a body of a length. */
  readonly #decoder: ChunkedFramer | undefined;
  readonly #maxBytes: number;
  readonly #tooLarge: () => ProximaError;
  readonly #parts: Buffer[] = [];
  #bytes = 0;
  /** A declared length: one buffer of that size, filled as bytes come (no list, no concat). */
  readonly #sized: Buffer | undefined;
  readonly #decoded: Buffer[] = [];

  constructor(options: { chunked: boolean; length?: number; maxBytes: number; tooLarge?: () => ProximaError }) {
    this.#decoder = options.chunked ? new ChunkedFramer(REQUEST_SIDE) : undefined;
    this.#maxBytes = options.maxBytes;
    this.#tooLarge =
      options.tooLarge ?? (() => new ProximaError(ErrorCodes.HTTP_BODY_TOO_LARGE, `the body is larger than ${options.maxBytes} bytes`));
    const length = options.length ?? 0;
    if (length > options.maxBytes) throw this.#tooLarge();
    this.#sized = !options.chunked && length > 0 ? Buffer.allocUnsafe(length) : undefined;
  }

  /** Takes the next bytes the framer let through (already validated: decoding them cannot fail). */
  add(framed: Buffer): void {
    if (this.#decoder === undefined) return this.#data(framed);
    this.#decoder.decode(framed, this.#decoded);
    for (const data of this.#decoded) this.#data(data);
    this.#decoded.length = 0;
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
