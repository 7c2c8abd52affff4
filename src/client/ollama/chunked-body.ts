/**
 * A whole body gathered from the bytes a body framer let through (body.ts): as they are for a
 * length, decoded for the chunked coding by a ChunkedFramer of its own (`decode`: the chunk data as
 * slices of the input; trailers dropped, as node:http's body stream dropped them). The guard needs
 * whole bodies twice: a request's, to read its model, and a listing's, to filter it.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import { BodyBuffer } from '../../http/request-body.js';
import { ChunkedFramer } from '../../proto/http/chunked.js';
import { REQUEST_SIDE } from '../../proto/http/error.js';

/** Gathers one body, bounded: `add` throws `tooLarge()` once more than `maxBytes` of body came. */
export class WholeBody {
  /** Decodes a chunked body; undefined for a body of a length. */
  readonly #decoder: ChunkedFramer | undefined;
  readonly #maxBytes: number;
  readonly #tooLarge: () => ProximaError;
  /** What came: in one buffer of a declared length (no list, no concat), else in chunks. */
  readonly #gathered: BodyBuffer;
  readonly #decoded: Buffer[] = [];

  constructor(options: { chunked: boolean; length?: number; maxBytes: number; tooLarge?: () => ProximaError }) {
    this.#decoder = options.chunked ? new ChunkedFramer(REQUEST_SIDE) : undefined;
    this.#maxBytes = options.maxBytes;
    this.#tooLarge =
      options.tooLarge ?? (() => new ProximaError(ErrorCodes.HTTP_BODY_TOO_LARGE, `the body is larger than ${options.maxBytes} bytes`));
    const length = options.length ?? 0;
    if (length > options.maxBytes) throw this.#tooLarge();
    this.#gathered = new BodyBuffer(options.chunked ? 0 : length);
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
    return this.#gathered.whole();
  }

  #data(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.#gathered.bytes + bytes.length > this.#maxBytes) throw this.#tooLarge();
    this.#gathered.add(bytes);
  }
}
