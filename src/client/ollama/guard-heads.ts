/**
 * The heads the guard passes on: a request's for Ollama, an answer's for the super node. Each is
 * the received bytes with a few fields spliced in or out, written in one pass into one buffer (the
 * request's small body behind its head in the same one), or the received bytes themselves when
 * nothing changes, which is the usual answer of Ollama. serializeHead (head-edit.ts) built the same
 * bytes from strings, edits collected into a Map per request, and cost a chat more than its
 * parsing (docs/performance-notes.md, "The node's connections to Ollama kept").
 */
import { chunkParts, LAST_CHUNK } from '../../proto/http/chunked.js';
import type { HttpHead } from '../../proto/http/head.js';
import { type HeadEdits, serializeHead } from '../../proto/http/head-edit.js';
import type { RequestHead } from '../../proto/http/request-head.js';
import type { ResponseHead } from '../../proto/http/response-head.js';

/** Fields that belong to one connection, never forwarded (RFC 9110 7.6.1); Host is the guard's to set. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'content-length',
]);
/** Of an answer: the fields of Ollama's connection. Its framing fields stay: the body passes as it came. */
const ANSWER_HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade'];
const FRAMING: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding']);
/** Bodies below this are copied behind the head; larger ones are not copied (a 15 MiB chat was held twice). */
const COPY_BODY_BELOW_BYTES = 64 * 1024;

/**
 * The request for Ollama: `head` without the connection's fields (those Connection names too),
 * Host set to `hostHeader`, Content-Length to the body's length when there is a body, `Connection:
 * close` when `close`; each set field where its first line was, else at the end (Connection,
 * Content-Length, Host), as serializeHead places them. Then the body: copied behind the head when
 * small, else a second buffer for the same writev. `hostHeader` is the configuration's
 * (HOST_HEADER_PATTERN: no control characters).
 */
export function requestForOllama(head: RequestHead, hostHeader: string, body: Buffer | undefined, close: boolean): Buffer | Buffer[] {
  const names = head.fields.lowerNames;
  const { connection } = head;
  const length = body === undefined ? undefined : String(body.length);
  const lines: LineEdit[] = new Array(names.length);
  let seenHost = false;
  let seenLength = false;
  let seenConnection = false;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (name === 'host') {
      lines[i] = seenHost ? '' : hostHeader;
      seenHost = true;
    } else if (name === 'content-length') {
      lines[i] = seenLength ? '' : (length ?? '');
      seenLength = true;
    } else if (name === 'connection') {
      lines[i] = seenConnection || !close ? '' : 'close';
      seenConnection = true;
    } else if (HOP_BY_HOP.has(name) || (connection.length > 0 && connection.includes(name))) lines[i] = '';
  }
  const tail: string[] = [];
  if (close && !seenConnection) tail.push('Connection: close\r\n');
  if (length !== undefined && !seenLength) tail.push(`Content-Length: ${length}\r\n`);
  if (!seenHost) tail.push(`Host: ${hostHeader}\r\n`);
  const copyBody = body !== undefined && body.length > 0 && body.length < COPY_BODY_BELOW_BYTES;
  const out = splice(head, lines, tail, copyBody ? body : undefined);
  return body === undefined || body.length === 0 || copyBody ? out : [out, body];
}

/**
 * The head of Ollama's answer as the super node gets it: Ollama's connection fields out (those its
 * Connection names too, but for the framing ones), `Connection: close` when the stream ends after
 * it, `Transfer-Encoding: chunked` added when a close-delimited body is re-framed, an HTTP/1.1 status
 * line for an HTTP/1.0 answer. With none of these (Go's server, Ollama, names no connection field
 * in a keep-alive answer), the received bytes themselves.
 */
export function answerHead(up: ResponseHead, closeAfter: boolean, reframe: boolean): Buffer {
  if (reframe || up.version === '1.0') {
    // Rare (a body that runs until Ollama closes, an HTTP/1.0 server): the general editor.
    return serializeHead(up, answerEdits(up, closeAfter, reframe ? { append: { 'Transfer-Encoding': 'chunked' } } : {}), statusLine(up));
  }
  const names = up.fields.lowerNames;
  const { connection } = up;
  let lines: LineEdit[] | undefined;
  let seenConnection = false;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    let line: LineEdit;
    if (name === 'connection') {
      line = seenConnection || !closeAfter ? '' : 'close';
      seenConnection = true;
    } else if (ANSWER_HOP_BY_HOP.includes(name) || (connection.length > 0 && connection.includes(name) && !FRAMING.has(name))) line = '';
    if (line === undefined) continue;
    lines ??= new Array(names.length);
    lines[i] = line;
  }
  const tail = closeAfter && !seenConnection ? ['Connection: close\r\n'] : [];
  return lines === undefined && tail.length === 0 ? up.raw : splice(up, lines ?? [], tail, undefined);
}

/** What becomes of a field line: kept as received (undefined), dropped (''), else its value replaced. */
type LineEdit = string | undefined;

/**
 * `head`'s bytes in one new buffer: its start line, then each field line kept as received (the
 * kept lines between two edits copied as one range), dropped, or rewritten as `Name: value` with
 * the name as received; then the `tail` lines, the empty line and `body`.
 */
function splice(head: HttpHead, lines: readonly LineEdit[], tail: readonly string[], body: Buffer | undefined): Buffer {
  const { raw, fields } = head;
  const starts = fields.lineStarts;
  const count = starts.length;
  // In order: a [from, to) range of raw, or a line to write.
  const pieces: (number | string)[] = [];
  let from = 0;
  for (let i = 0; i < count; i++) {
    const line = lines[i];
    if (line === undefined) continue;
    if (starts[i]! > from) pieces.push(from, starts[i]!);
    if (line !== '') pieces.push(`${fields.list[i]![0]}: ${line}\r\n`);
    from = i + 1 < count ? starts[i + 1]! : fields.end;
  }
  if (fields.end > from) pieces.push(from, fields.end);
  for (const line of tail) pieces.push(line);
  pieces.push('\r\n');
  let size = body?.length ?? 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    size += typeof piece === 'string' ? piece.length : (pieces[++i] as number) - piece;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    at += typeof piece === 'string' ? out.write(piece, at, 'latin1') : raw.copy(out, at, piece, pieces[++i] as number);
  }
  body?.copy(out, at);
  return out;
}

/** The edits of an answer's head: Ollama's connection fields out, `Connection: close` when the stream ends after it. */
export function answerEdits(up: ResponseHead, closeAfter: boolean, more: HeadEdits): HeadEdits {
  const remove = [...ANSWER_HOP_BY_HOP, ...up.connection.filter((name) => !FRAMING.has(name)), ...(more.remove ?? [])];
  return { ...more, remove, set: { ...more.set, ...(closeAfter ? { Connection: 'close' } : {}) } };
}

/** An HTTP/1.0 answer's status line as HTTP/1.1: the stream to the super node speaks 1.1. */
export function statusLine(up: ResponseHead): string | undefined {
  return up.version === '1.0' ? `HTTP/1.1 ${up.status} ${up.reason}\r\n` : undefined;
}

/** Bytes as one chunk of the chunked coding; the last chunk after them when `done`. */
export function chunkOf(bytes: Buffer, done: boolean): Buffer {
  if (bytes.length === 0) return done ? LAST_CHUNK : bytes;
  const parts = chunkParts(bytes);
  if (done) parts.push(LAST_CHUNK);
  return Buffer.concat(parts);
}
