/**
 * A request as the API handlers read it (HttpRequest), made from a head the public connection
 * parsed and the body bytes it passes on: no second parse of the head. The headers take node:http's
 * shape (IncomingMessage, Node 20): lower-case names; Set-Cookie an array; a few fields keep their
 * first line only (SINGLE below); Cookie joined with "; "; every other repeated field with ", ".
 * A chunked body arrives with its framing, already validated by the connection's reader: it is
 * decoded here, the handlers read the data only.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { BodyFraming } from '../proto/http/framing.js';

/** Fields node:http keeps the first line of, dropping repeats. */
const SINGLE = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** The headers of a request, as node:http's `req.headers` shows them. */
export function nodeHeaders(fields: readonly (readonly [string, string])[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of fields) {
    const key = name.toLowerCase();
    const had = out[key];
    if (key === 'set-cookie') {
      if (had === undefined) out[key] = [value];
      else (had as string[]).push(value);
    } else if (had === undefined) out[key] = value;
    else if (!SINGLE.has(key)) out[key] = `${had as string}${key === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out as IncomingHttpHeaders;
}

/** What a request is made of. */
export interface ServedRequestInit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  remoteAddress: string;
  /** How its body is framed on the wire (the head's framing): chunked is decoded here. */
  body: BodyFraming;
  /** Called when the handler reads again after `push` said the buffer was full. */
  onRead?: () => void;
}

/** A request whose body is pushed in by the connection. */
export class ServedRequest extends Readable {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly socket: { readonly remoteAddress: string };
  /** The whole body has arrived. */
  complete = false;
  readonly #chunks: ChunkedDecoder | undefined;
  /** Bytes of a sized body still to come. */
  #left: number;
  readonly #onRead: (() => void) | undefined;

  constructor(init: ServedRequestInit) {
    super();
    this.method = init.method;
    this.url = init.url;
    this.headers = init.headers;
    this.socket = { remoteAddress: init.remoteAddress };
    this.#onRead = init.onRead;
    const { body } = init;
    this.#chunks = body.kind === 'chunked' ? new ChunkedDecoder() : undefined;
    this.#left = body.kind === 'length' ? body.length : 0;
    if (body.kind === 'none' || (body.kind === 'length' && body.length === 0)) this.finish();
  }

  /** Body bytes as received; false when the handler has not read what it has (wait for onRead). */
  add(bytes: Buffer): boolean {
    if (this.complete) return true;
    const chunks = this.#chunks;
    let room = true;
    if (chunks === undefined) {
      this.#left -= bytes.length;
      if (!this.destroyed) room = this.push(bytes);
      if (this.#left <= 0) this.finish();
    } else {
      for (const data of chunks.push(bytes)) if (!this.destroyed) room = this.push(data);
      if (chunks.done) this.finish();
    }
    return room || this.complete;
  }

  /** The body is complete. */
  finish(): void {
    if (this.complete) return;
    this.complete = true;
    if (!this.destroyed) this.push(null);
  }

  override _read(): void {
    this.#onRead?.();
  }
}

// biome-ignore lint/suspicious/noConstEnum: tsc inlines it; the states are read per byte
const enum Chunk {
  Size,
  Line,
  Data,
  DataEnd,
  Trailer,
  Done,
}

/**
 * The data of a chunked body whose framing was validated already (RFC 9112 7.1): sizes in hex,
 * extensions and trailers skipped. Not a validator: the connection's ChunkedFramer refuses bad bytes
 * before they get here.
 */
export class ChunkedDecoder {
  #state = Chunk.Size;
  #size = 0;
  /** Bytes of the current trailer line (0 at a line's start: an empty line ends the body). */
  #lineBytes = 0;

  get done(): boolean {
    return this.#state === Chunk.Done;
  }

  /** The data in `bytes`, as subarrays of it. */
  push(bytes: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < bytes.length && this.#state !== Chunk.Done) {
      const c = bytes[i]!;
      switch (this.#state) {
        case Chunk.Size:
          if (c === 0x0a) this.#endSizeLine();
          else if (c === 0x3b || c === 0x0d || c === 0x20 || c === 0x09) this.#state = Chunk.Line;
          else this.#size = this.#size * 16 + hexValue(c);
          i++;
          break;
        case Chunk.Line:
          if (c === 0x0a) this.#endSizeLine();
          i++;
          break;
        case Chunk.Data: {
          const n = Math.min(this.#size, bytes.length - i);
          out.push(bytes.subarray(i, i + n));
          i += n;
          this.#size -= n;
          if (this.#size === 0) this.#state = Chunk.DataEnd;
          break;
        }
        case Chunk.DataEnd:
          if (c === 0x0a) this.#state = Chunk.Size;
          i++;
          break;
        case Chunk.Trailer:
          if (c === 0x0a) {
            if (this.#lineBytes === 0) this.#state = Chunk.Done;
            this.#lineBytes = 0;
          } else if (c !== 0x0d) this.#lineBytes++;
          i++;
          break;
      }
    }
    return out;
  }

  #endSizeLine(): void {
    this.#state = this.#size === 0 ? Chunk.Trailer : Chunk.Data;
    this.#lineBytes = 0;
  }
}

function hexValue(c: number): number {
  if (c <= 0x39) return c - 0x30;
  return (c | 0x20) - 0x57;
}
