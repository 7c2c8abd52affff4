/**
 * How long a message body is (RFC 9112 6.3), decided from Content-Length and Transfer-Encoding.
 * This is where request smuggling is stopped: any framing two parsers could read differently is
 * refused rather than guessed.
 */
import type { HttpSide } from './error.js';
import type { HttpFields } from './fields.js';
import { isToken, listElements, parseDecimalLength } from './syntax.js';

/** How a request body is delimited. */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

/**
 * How a response body is delimited. `close`: until the connection ends; `upgrade`: the
 * connection becomes a raw two-way pipe after this head; `interim`: a 1xx head, another head follows.
 */
export type ResponseFraming = BodyFraming | { kind: 'close' } | { kind: 'upgrade' } | { kind: 'interim' };

/** The result of one push: `bytes` then `rest` are the whole chunk, split where the body ends. */
export interface BodyChunk {
  /** The part of the chunk that belongs to this message, as received (chunked encoding included). */
  bytes: Buffer;
  /** True once the body is complete; stays true. */
  done: boolean;
  /** The bytes after the body: empty unless `done`. */
  rest: Buffer;
}

/** Finds the end of one message body in a byte stream. */
export interface BodyFramer {
  /** True once the body is complete (at once for an empty body). */
  readonly done: boolean;
  /** Feeds bytes; throws an HttpError (PRX_ERR_HTTP_AMBIGUOUS_FRAMING) on malformed chunked framing. */
  push(chunk: Buffer): BodyChunk;
}

/** HTTP versions this code speaks. */
export type HttpVersion = '1.0' | '1.1';

/**
 * The Transfer-Encoding codings, or undefined when the field is absent. Refuses what parsers
 * disagree on: several field lines, empty or non-token elements, `chunked` twice.
 */
export function transferCodings(fields: HttpFields, side: HttpSide): string[] | undefined {
  const values = fields.getAll('transfer-encoding');
  if (values.length === 0) return undefined;
  if (values.length > 1) throw side.framing('more than one Transfer-Encoding field line');
  const codings = listElements(values[0]!);
  for (let i = 0; i < codings.length; i++) {
    const coding = codings[i]!;
    if (!isToken(coding)) throw side.framing(`invalid transfer coding ${JSON.stringify(coding)}`);
    if (coding === 'chunked' && i !== codings.length - 1) throw side.framing('chunked is not the final transfer coding');
  }
  return codings;
}

/** Framing field names spelled with `_`, which CGI-style servers read as the real ones. */
const LOOKALIKES = new Set(['content_length', 'transfer_encoding']);

/**
 * The framing of a request body. Throws PRX_ERR_HTTP_AMBIGUOUS_FRAMING (400) on any ambiguity.
 * Transfer-Encoding must be exactly `chunked`: a node's server that ignores a coding it does not
 * know (`gzip, chunked`) would read the chunks as the next request.
 */
export function requestBodyFraming(version: HttpVersion, fields: HttpFields, side: HttpSide): BodyFraming {
  for (const name of fields.lowerNames) {
    if (name.includes('_') && LOOKALIKES.has(name)) throw side.framing(`field name ${name} mimics a framing field`);
  }
  const codings = transferCodings(fields, side);
  const lengths = fields.getAll('content-length');
  if (codings !== undefined) {
    if (version === '1.0') throw side.framing('Transfer-Encoding in an HTTP/1.0 request');
    if (lengths.length > 0) throw side.framing('both Content-Length and Transfer-Encoding');
    if (codings.length !== 1 || codings[0] !== 'chunked') throw side.framing('Transfer-Encoding other than chunked');
    return { kind: 'chunked' };
  }
  if (lengths.length === 0) return { kind: 'none' };
  if (lengths.length > 1) throw side.framing('more than one Content-Length');
  const length = parseDecimalLength(lengths[0]!);
  if (length === undefined) throw side.framing(`invalid Content-Length ${JSON.stringify(lengths[0])}`);
  return { kind: 'length', length };
}

/** What responseBodyFraming needs of a response head. */
export interface ResponseFramingInput {
  status: number;
  version: HttpVersion;
  fields: HttpFields;
}

/**
 * The framing of a response body, given the method of the request it answers (RFC 9112 6.3).
 * Content-Length with Transfer-Encoding, or with conflicting values, is refused; identical
 * repeated values (`5` twice, or `5, 5`) are accepted, as RFC 9110 8.6 allows a recipient to.
 */
export function responseBodyFraming(method: string, head: ResponseFramingInput, side: HttpSide): ResponseFraming {
  const { status } = head;
  if (status === 101) return { kind: 'upgrade' };
  if (status < 200) return { kind: 'interim' };
  if (method === 'CONNECT' && status < 300) return { kind: 'upgrade' };
  if (method === 'HEAD' || status === 204 || status === 304) return { kind: 'none' };
  const codings = transferCodings(head.fields, side);
  const lengths = head.fields.getAll('content-length');
  if (codings !== undefined) {
    if (head.version === '1.0') throw side.framing('Transfer-Encoding in an HTTP/1.0 response');
    if (lengths.length > 0) throw side.framing('both Content-Length and Transfer-Encoding');
    // RFC 9112 6.3 (4): a response whose final coding is not chunked runs until the connection closes.
    return codings[codings.length - 1] === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  if (lengths.length === 0) return { kind: 'close' };
  let length: number | undefined;
  for (const value of lengths) {
    for (const element of listElements(value)) {
      const n = parseDecimalLength(element);
      if (n === undefined || (length !== undefined && n !== length)) {
        throw side.framing(`invalid or conflicting Content-Length ${JSON.stringify(value)}`);
      }
      length = n;
    }
  }
  return { kind: 'length', length: length! };
}
