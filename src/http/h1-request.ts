/**
 * Writing one HTTP/1.1 request to a stream: the head built from the caller's fields (checked, so
 * no value can smuggle a line), Host set to the node's, and the body. A whole body goes with its
 * head in one write; a streamed one with the caller's Content-Length, or chunked.
 */
import type { Duplex, Readable } from 'node:stream';
import { chunkParts, LAST_CHUNK } from '../proto/http/chunked.js';
import { findBadFieldChar, findBadTargetChar, isToken } from '../proto/http/syntax.js';
import type { DispatchRequest } from './dispatcher.js';

/** Fields the head builds itself, or that only one hop may carry. */
const OWN_FIELDS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'expect', 'upgrade']);

/** Below this, a body is copied behind its head (one buffer); above, both go in one corked write. */
const COPY_BELOW = 64 * 1024;

/** Methods whose request carries a body, so an absent one is sent as `Content-Length: 0` (as undici does). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The head of `request` for a node whose Host is `hostHeader`. Throws a TypeError for a method,
 * target, field name or value that is not valid HTTP: nothing a caller passes can split the head.
 */
export function requestHead(request: DispatchRequest, hostHeader: string): Buffer {
  const { method, path, headers, body } = request;
  if (!isToken(method)) throw new TypeError(`invalid method ${JSON.stringify(method)}`);
  if (path.length === 0 || path[0] !== '/' || findBadTargetChar(path, 0, path.length) >= 0)
    throw new TypeError(`invalid request target ${JSON.stringify(path)}`);
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${hostHeader}\r\n`;
  let length: string | undefined;
  if (headers !== undefined) {
    for (const name in headers) {
      const value = headers[name]!;
      const lower = name.toLowerCase();
      if (!isToken(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
      if (lower === 'content-length') length = String(value);
      if (OWN_FIELDS.has(lower)) continue;
      for (const v of Array.isArray(value) ? value : [value]) {
        if (findBadFieldChar(v, 0, v.length) >= 0) throw new TypeError(`invalid value of header ${name}`);
        head += `${name}: ${v}\r\n`;
      }
    }
  }
  if (body === undefined) {
    if (BODY_METHODS.has(method)) head += 'content-length: 0\r\n';
  } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    head += `content-length: ${Buffer.byteLength(body)}\r\n`;
  } else if (length !== undefined && /^[0-9]{1,15}$/.test(length)) {
    head += `content-length: ${length}\r\n`;
  } else {
    head += 'transfer-encoding: chunked\r\n';
  }
  return Buffer.from(`${head}\r\n`, 'latin1');
}

/**
 * Writes `head` and `body` to `stream`; `done` is called once all of it was handed to the stream
 * (with no argument), or with the error that stopped it (a streamed body that failed, or was
 * longer or shorter than its Content-Length).
 */
export function writeRequest(stream: Duplex, head: Buffer, body: DispatchRequest['body'], done: (err?: Error) => void): void {
  if (body === undefined) {
    stream.write(head);
    return done();
  }
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (bytes.length < COPY_BELOW) {
      stream.write(Buffer.concat([head, bytes], head.length + bytes.length));
    } else {
      stream.cork();
      stream.write(head);
      stream.write(bytes);
      stream.uncork();
    }
    return done();
  }
  stream.write(head);
  pipeBody(stream, body, declaredLength(head), done);
}

/** The Content-Length the head carries, or undefined for a chunked one. */
function declaredLength(head: Buffer): number | undefined {
  const m = /\r\ncontent-length: ([0-9]+)\r\n/.exec(head.toString('latin1'));
  return m === null ? undefined : Number(m[1]);
}

/** Copies a streamed body with the stream's backpressure; chunked when `length` is undefined. */
function pipeBody(stream: Duplex, body: Readable, length: number | undefined, done: (err?: Error) => void): void {
  let sent = 0;
  let settled = false;
  const settle = (err?: Error): void => {
    if (settled) return;
    settled = true;
    body.off('data', onData);
    stream.off('drain', onDrain);
    stream.off('close', onClose);
    done(err);
  };
  const onDrain = (): void => void body.resume();
  const onClose = (): void => {
    body.destroy();
    settle(new Error('the stream closed while the request body was sent'));
  };
  const onData = (chunk: Buffer): void => {
    sent += chunk.length;
    if (length !== undefined && sent > length) {
      body.destroy(); // the rest is not read on
      return settle(new Error('the request body is longer than its Content-Length'));
    }
    if (chunk.length === 0) return;
    const more = length === undefined ? stream.write(Buffer.concat(chunkParts(chunk))) : stream.write(chunk);
    if (!more) body.pause();
  };
  body.on('data', onData);
  stream.on('drain', onDrain);
  stream.once('close', onClose);
  body.once('error', (err: Error) => settle(err));
  body.once('end', () => {
    if (length !== undefined && sent !== length) return settle(new Error('the request body is shorter than its Content-Length'));
    if (length === undefined) stream.write(LAST_CHUNK);
    settle();
  });
}
