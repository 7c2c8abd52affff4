/**
 * A request as the API handlers read it (HttpRequest), made from a head the public connection
 * parsed and the body bytes it passes on: no second parse of the head. The headers take node:http's
 * shape (IncomingMessage, Node 20): lower-case names; Set-Cookie an array; a few fields keep their
 * first line only (SINGLE below); Cookie joined with "; "; every other repeated field with ", ".
 * A chunked body arrives with its framing, already validated by the connection's reader: it is
 * decoded here (ChunkedFramer.decode: the data as slices of the bytes), the handlers read the data only.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { ChunkedFramer } from '../proto/http/chunked.js';
import { REQUEST_SIDE } from '../proto/http/error.js';
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
  readonly #chunks: ChunkedFramer | undefined;
  /** The data `decode` found in the last bytes added (reused). */
  readonly #decoded: Buffer[] = [];
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
    this.#chunks = body.kind === 'chunked' ? new ChunkedFramer(REQUEST_SIDE) : undefined;
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
      chunks.decode(bytes, this.#decoded);
      for (const data of this.#decoded) if (!this.destroyed) room = this.push(data);
      this.#decoded.length = 0;
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
