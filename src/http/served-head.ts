/**
 * The head of a ServedResponse, as node:http's ServerResponse writes it (Node 20, _storeHeader in
 * _http_outgoing.js): the fields in the order given (an array value on a line each, Cookie joined
 * with "; "), then Date, Connection and Keep-Alive, Content-Length or Transfer-Encoding when the
 * handler gave neither; and what that makes of the body's framing and of the connection.
 */
import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import { findBadFieldChar, isToken } from '../proto/http/syntax.js';

/** A header value as setHeader takes it. */
export type HeaderValue = number | string | readonly string[];

/** What the head depends on besides its fields. */
export interface HeadState {
  statusCode: number;
  /** False for HEAD, 204, 304 and 1xx. */
  hasBody: boolean;
  /** The request allows another one on the connection. */
  shouldKeepAlive: boolean;
  /** An HTTP/1.0 request that did not ask for chunked (TE): the body runs until the close. */
  chunkedByDefault: boolean;
  /** Fields the handler removed (removeHeader): node:http then adds none of its own. */
  removed: { connection: boolean; contentLength: boolean; te: boolean };
  /** The whole body's length, when end() gave it before the head was written. */
  contentLength: number | undefined;
  /** What `Keep-Alive: timeout=` says, in seconds; 0 says nothing. */
  keepAliveSeconds: number;
}

/** A rendered head and the framing it promised. */
export interface RenderedHead {
  bytes: Buffer;
  /** The body goes in chunks (size line, data, CRLF; a last chunk ends it). */
  chunked: boolean;
  /** The connection closes after this response. */
  last: boolean;
}

const CHUNKED = /(?:^|\W)chunked(?:$|\W)/i;
const CLOSE = /(?:^|\W)close(?:$|\W)/i;

/** True when an HTTP/1.0 request's TE field lets the answer be chunked. */
export function asksChunked(te: string | undefined): boolean {
  return CHUNKED.test(te ?? '');
}

/** The head for `statusLine` and the fields `lines`. */
export function renderHead(statusLine: string, lines: readonly [string, HeaderValue][], s: HeadState): RenderedHead {
  let head = statusLine;
  let chunked = false;
  let last = false;
  let keepAlive = s.shouldKeepAlive;
  let contentLength = s.contentLength;
  const removed = { ...s.removed };
  const seen = { connection: false, contentLength: false, te: false, date: false, keepAlive: false };
  const store = (name: string, value: string): void => {
    head += `${name}: ${value}\r\n`;
    switch (name.toLowerCase()) {
      case 'connection':
        seen.connection = true;
        removed.connection = false;
        if (CLOSE.test(value)) last = true;
        else keepAlive = true;
        break;
      case 'transfer-encoding':
        seen.te = true;
        removed.te = false;
        if (CHUNKED.test(value)) chunked = true;
        break;
      case 'content-length':
        seen.contentLength = true;
        contentLength = +value;
        removed.contentLength = false;
        break;
      case 'date':
        seen.date = true;
        break;
      case 'keep-alive':
        seen.keepAlive = true;
        break;
    }
  };
  for (const [name, value] of lines) {
    if (Array.isArray(value) && (value.length < 2 || name.toLowerCase() !== 'cookie')) for (const v of value) store(name, String(v));
    else store(name, Array.isArray(value) ? value.join('; ') : String(value));
  }
  if (!seen.date) head += `Date: ${utcDate()}\r\n`;
  if (chunked && (s.statusCode === 204 || s.statusCode === 304)) {
    chunked = false;
    keepAlive = false;
  }
  if (removed.connection) last = !keepAlive;
  else if (!seen.connection) {
    if (keepAlive && (seen.contentLength || s.chunkedByDefault)) {
      head += 'Connection: keep-alive\r\n';
      if (s.keepAliveSeconds > 0 && !seen.keepAlive) head += `Keep-Alive: timeout=${s.keepAliveSeconds}\r\n`;
    } else {
      last = true;
      head += 'Connection: close\r\n';
    }
  }
  if (!seen.contentLength && !seen.te) {
    if (!s.hasBody) chunked = false;
    else if (!s.chunkedByDefault) last = true;
    else if (!removed.contentLength && contentLength !== undefined) head += `Content-Length: ${contentLength}\r\n`;
    else if (!removed.te) {
      head += 'Transfer-Encoding: chunked\r\n';
      chunked = true;
    } else last = true;
  }
  return { bytes: Buffer.from(`${head}\r\n`, 'latin1'), chunked: chunked && s.hasBody, last };
}

/** writeHead's headers as [name, value] pairs, in order. */
export function pairsOf(headers: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined): [string, HeaderValue][] {
  const out: [string, HeaderValue][] = [];
  if (headers === undefined) return out;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i]) out.push([String(headers[i]), headers[i + 1] as HeaderValue]);
    return out;
  }
  for (const name of Object.keys(headers)) {
    const value = (headers as OutgoingHttpHeaders)[name];
    if (name !== '' && value !== undefined) out.push([name, value as HeaderValue]);
  }
  return out;
}

/** Throws for a name that is not a token or a value with CR, LF or another control: no header injection. */
export function checkHeader(name: string, value: HeaderValue | undefined): void {
  if (!isToken(name)) throw new Error(`invalid header name ${JSON.stringify(name)}`);
  if (value === undefined) throw new Error(`no value for header ${name}`);
  const values = Array.isArray(value) ? value : [value];
  for (const v of values) if (hasBadFieldChar(String(v))) throw new Error(`invalid character in header ${name}`);
}

/** True when `text` holds a character a field value may not (node:http's checkInvalidHeaderChar: CR, LF, other controls). */
export function hasBadFieldChar(text: string): boolean {
  return findBadFieldChar(text, 0, text.length) >= 0;
}

let dateCache = '';
/** When dateCache goes stale: the start of the next second. */
let dateUntil = 0;

/** The Date value, made once a second (node:http caches it as long, with a timer; a clock read needs none). */
function utcDate(): string {
  const now = Date.now();
  if (now >= dateUntil) {
    dateCache = new Date(now).toUTCString();
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateCache;
}
