/**
 * The chunked transfer coding (RFC 9112 7.1), validated byte by byte as it passes through:
 * hex sizes with bounded digits and no sign or whitespace, well-formed bounded extensions, CRLF
 * after each chunk's data, and a bounded trailer section that may not carry framing fields.
 * Whatever the split of the input, the same bytes are accepted or refused.
 */
import type { HttpSide } from './error.js';
import { parseFieldLines } from './fields.js';
import type { BodyChunk, BodyFramer } from './framing.js';
import { CR, hexValue, LF, scanToken } from './syntax.js';

/** Limits of a chunked framer. */
export interface ChunkedFramerOptions {
  /** The longest chunk-size line, extensions and CRLF included. */
  maxChunkLineBytes?: number;
  /** The largest trailer section, final CRLF included. */
  maxTrailerBytes?: number;
}

export const DEFAULT_MAX_CHUNK_LINE_BYTES = 4096;

/** The last chunk of a chunked body, with no trailers. */
export const LAST_CHUNK: Buffer = Buffer.from('0\r\n\r\n', 'latin1');

/** What follows each chunk's data. */
export const CHUNK_END: Buffer = Buffer.from('\r\n', 'latin1');

/** `bytes` as one chunk of the chunked coding: its size line, the data, CRLF (empty bytes give none). */
export function chunkParts(bytes: Buffer): Buffer[] {
  return bytes.length === 0 ? [] : [Buffer.from(`${bytes.length.toString(16)}\r\n`, 'latin1'), bytes, CHUNK_END];
}
export const DEFAULT_MAX_TRAILER_BYTES = 16 * 1024;
/** 13 hex digits reach 4 PiB and stay below Number.MAX_SAFE_INTEGER; leading zeros count too. */
const MAX_SIZE_DIGITS = 13;
/** Fields that frame or route a message: a parser that merges trailers must never see them. */
const FORBIDDEN_TRAILERS = new Set(['content-length', 'transfer-encoding', 'host']);

// biome-ignore lint/suspicious/noConstEnum: tsc inlines it (it compiles the whole program, never file by file); the states are read per byte
const enum State {
  Size,
  Data,
  DataCr,
  DataLf,
  Trailer,
  Done,
}

const EMPTY = Buffer.alloc(0);
/** The `data` of #push that says: move the chunk data together in place (decodeInPlace). */
const COMPACT: Buffer[] = [];

/** Finds the end of a chunked body and refuses any encoding two parsers could read differently. */
export class ChunkedFramer implements BodyFramer {
  readonly #side: HttpSide;
  /** Trailer lines are parsed as field lines, but any fault in them is a framing fault. */
  readonly #trailerSide: HttpSide;
  readonly #maxLineBytes: number;
  readonly #maxTrailerBytes: number;
  #state = State.Size;
  #remaining = 0;
  /** The control line being read (size line or trailer line), as latin1. */
  #line = '';
  #trailerBytes = 0;
  #failed: Error | undefined;
  /** decodeInPlace's data: where the first chunk data starts in the input, and where what was moved after it ends. */
  #compactFrom = -1;
  #compactTo = 0;

  constructor(side: HttpSide, options: ChunkedFramerOptions = {}) {
    this.#side = side;
    this.#trailerSide = { syntax: side.framing, framing: side.framing, tooLarge: side.framing };
    this.#maxLineBytes = options.maxChunkLineBytes ?? DEFAULT_MAX_CHUNK_LINE_BYTES;
    this.#maxTrailerBytes = options.maxTrailerBytes ?? DEFAULT_MAX_TRAILER_BYTES;
  }

  get done(): boolean {
    return this.#state === State.Done;
  }

  push(chunk: Buffer): BodyChunk {
    return this.#push(chunk, undefined);
  }

  /**
   * As push, and also appends the chunk data found in `chunk` to `data`, without the chunked
   * framing (subarrays of `chunk`, never copies): the body as its sender meant it.
   */
  decode(chunk: Buffer, data: Buffer[]): BodyChunk {
    return this.#push(chunk, data);
  }

  /**
   * As decode, for a caller that gives `chunk` up: the chunk data found in it is moved together
   * over the framing between (TypedArray copyWithin, within `chunk`'s own bytes) and returned as
   * one view, `data`. A streamed answer has a chunk per token, dozens in one read: this makes no
   * slice per chunk and no join. `bytes` of the result no longer holds the framed bytes; `rest`,
   * past them, is untouched.
   */
  decodeInPlace(chunk: Buffer): BodyChunk & { data: Buffer } {
    this.#compactFrom = -1;
    const part = this.#push(chunk, COMPACT);
    const from = this.#compactFrom;
    return { ...part, data: from < 0 ? EMPTY : chunk.subarray(from, this.#compactTo) };
  }

  #push(chunk: Buffer, data: Buffer[] | undefined): BodyChunk {
    if (this.#failed !== undefined) throw this.#failed;
    let pos = 0;
    try {
      pos = this.#consume(chunk, data);
    } catch (err) {
      this.#failed = err as Error;
      throw err;
    }
    const done = this.#state === State.Done;
    return { bytes: chunk.subarray(0, pos), done, rest: pos === chunk.length ? EMPTY : chunk.subarray(pos) };
  }

  #compact(chunk: Buffer, pos: number, take: number): void {
    if (this.#compactFrom < 0) {
      this.#compactFrom = pos;
      this.#compactTo = pos + take;
      return;
    }
    chunk.copyWithin(this.#compactTo, pos, pos + take);
    this.#compactTo += take;
  }

  #consume(chunk: Buffer, data: Buffer[] | undefined): number {
    let pos = 0;
    while (pos < chunk.length && this.#state !== State.Done) {
      switch (this.#state) {
        case State.Size:
        case State.Trailer:
          pos = this.#readLine(chunk, pos);
          break;
        case State.Data: {
          const take = Math.min(this.#remaining, chunk.length - pos);
          if (data === COMPACT) this.#compact(chunk, pos, take);
          else if (data !== undefined) data.push(chunk.subarray(pos, pos + take));
          pos += take;
          this.#remaining -= take;
          if (this.#remaining > 0) break;
          // The CRLF after the data, when both bytes are here: the next size line at once.
          if (chunk[pos] === CR && chunk[pos + 1] === LF) {
            pos += 2;
            this.#state = State.Size;
          } else this.#state = State.DataCr;
          break;
        }
        case State.DataCr:
          if (chunk[pos++] !== CR) throw this.#side.framing('chunk data longer than its size (CR expected)');
          this.#state = State.DataLf;
          break;
        case State.DataLf:
          if (chunk[pos++] !== LF) throw this.#side.framing('LF expected after chunk data');
          this.#state = State.Size;
          break;
      }
    }
    return pos;
  }

  #readLine(chunk: Buffer, pos: number): number {
    if (this.#state === State.Size && this.#line === '') {
      const end = this.#plainSizeLine(chunk, pos);
      if (end > 0) return end;
    }
    const lf = chunk.indexOf(LF, pos);
    const end = lf < 0 ? chunk.length : lf + 1;
    const size = this.#state === State.Size;
    const limit = size ? this.#maxLineBytes : this.#maxTrailerBytes - this.#trailerBytes;
    if (this.#line.length + end - pos > limit) throw this.#side.framing(size ? 'chunk size line too long' : 'trailer section too large');
    this.#line += chunk.toString('latin1', pos, end);
    if (lf < 0 && size) this.#checkSizePrefix();
    if (lf >= 0) {
      const line = this.#line;
      this.#line = '';
      if (line.length < 2 || line.charCodeAt(line.length - 2) !== CR)
        throw this.#side.framing('bare LF in chunked framing (CRLF required)');
      if (size) this.#sizeLine(line.slice(0, -2));
      else this.#trailerLine(line);
    }
    return end;
  }

  /**
   * A size line that lies whole in `chunk` at `pos` and is only hex digits and CRLF (a streamed
   * answer has one per token) read from the bytes, without the latin1 string the general path
   * builds; returns past it, or -1 for any other line (the general path reads it and its faults).
   */
  #plainSizeLine(chunk: Buffer, pos: number): number {
    let size = 0;
    let i = pos;
    for (; i < chunk.length && i - pos <= MAX_SIZE_DIGITS; i++) {
      const digit = hexValue(chunk[i]!);
      if (digit < 0) break;
      size = size * 16 + digit;
    }
    const digits = i - pos;
    if (digits === 0 || digits > MAX_SIZE_DIGITS || digits + 2 > this.#maxLineBytes || chunk[i] !== CR || chunk[i + 1] !== LF) return -1;
    if (size === 0) this.#state = State.Trailer;
    else {
      this.#remaining = size;
      this.#state = State.Data;
    }
    return i + 2;
  }

  /** Fails on a bad size as soon as it is seen, not when its line ends (as llhttp does). */
  #checkSizePrefix(): void {
    const line = this.#line;
    let i = 0;
    while (i < line.length && hexValue(line.charCodeAt(i)) >= 0) i++;
    if (i > MAX_SIZE_DIGITS) throw this.#side.framing('chunk size has too many digits');
    if (i === line.length) return;
    const c = line.charCodeAt(i);
    if (i === 0 || (c !== 0x3b && !(c === CR && i === line.length - 1))) throw this.#side.framing('invalid chunk size');
  }

  #sizeLine(line: string): void {
    let size = 0;
    let i = 0;
    for (; i < line.length; i++) {
      const digit = hexValue(line.charCodeAt(i));
      if (digit < 0) break;
      size = size * 16 + digit;
    }
    if (i === 0) throw this.#side.framing('invalid chunk size');
    if (i > MAX_SIZE_DIGITS) throw this.#side.framing('chunk size has too many digits');
    checkExtensions(line, i, this.#side);
    if (size === 0) {
      this.#state = State.Trailer;
    } else {
      this.#remaining = size;
      this.#state = State.Data;
    }
  }

  #trailerLine(line: string): void {
    this.#trailerBytes += line.length;
    if (line.length === 2) {
      this.#state = State.Done;
      return;
    }
    const fields = parseFieldLines(Buffer.from(line, 'latin1'), line, 0, line.length, this.#trailerSide);
    const name = fields.lowerNames[0]!;
    if (FORBIDDEN_TRAILERS.has(name)) throw this.#side.framing(`${name} in a trailer section`);
  }
}

/**
 * chunk-ext = *( ";" token [ "=" ( token / quoted-string ) ] ), with no whitespace: the BWS the
 * grammar allows is refused, as llhttp does, because parsers split such lines differently.
 */
function checkExtensions(line: string, from: number, side: HttpSide): void {
  let i = from;
  while (i < line.length) {
    if (line.charCodeAt(i) !== 0x3b) throw side.framing('invalid character after chunk size');
    const nameEnd = scanToken(line, i + 1, line.length);
    if (nameEnd === i + 1) throw side.framing('invalid chunk extension name');
    i = nameEnd;
    if (i < line.length && line.charCodeAt(i) === 0x3d) {
      i++;
      i = line.charCodeAt(i) === 0x22 ? quotedStringEnd(line, i, side) : scanToken(line, i, line.length);
      if (i === nameEnd + 1) throw side.framing('empty chunk extension value');
    }
  }
}

/** The index after the quoted-string starting at `open` (RFC 9110 5.6.4). */
function quotedStringEnd(line: string, open: number, side: HttpSide): number {
  for (let i = open + 1; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c === 0x5c) i++;
    const q = line.charCodeAt(i);
    if (!(q === 0x09 || (q >= 0x20 && q !== 0x7f))) throw side.framing('control character in chunk extension');
  }
  throw side.framing('unterminated quoted string in chunk extension');
}
