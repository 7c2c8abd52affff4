/**
 * The heads the guard passes on: a request's for Ollama, an answer's for the super node. Each is
 * the received bytes with a few fields spliced in or out, written in one pass into one buffer (the
 * request's small body behind its head in the same one), or the received bytes themselves when
 * nothing changes, which is the usual answer of Ollama. serializeHead (head-edit.ts) built the same
 * bytes from strings, edits collected into a Map per request, and cost a chat more than its
 * parsing (docs/performance-notes.md, "The node's connections to Ollama kept").
 */
import { chunkParts, LAST_CHUNK } from '../../proto/http/chunked.js';
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
  const { raw, fields, connection } = head;
  const names = fields.lowerNames;
  const starts = fields.lineStarts;
  const count = names.length;
  const length = body === undefined ? undefined : String(body.length);
  // Pieces in order: a [from, to) range of raw, or a line to write.
  const pieces: (number | string)[] = [0, head.startLineEnd];
  let from = head.startLineEnd;
  let seenHost = false;
  let seenLength = false;
  let seenConnection = false;
  for (let i = 0; i < count; i++) {
    const name = names[i]!;
    let value: string | undefined;
    if (name === 'host') {
      value = seenHost ? '' : hostHeader;
      seenHost = true;
    } else if (name === 'content-length') {
      value = seenLength ? '' : (length ?? '');
      seenLength = true;
    } else if (name === 'connection') {
      value = seenConnection || !close ? '' : 'close';
      seenConnection = true;
    } else if (HOP_BY_HOP.has(name) || (connection.length > 0 && connection.includes(name))) value = '';
    if (value === undefined) continue; // kept: its bytes join the range being copied
    const start = starts[i]!;
    if (start > from) pieces.push(from, start);
    // A field set where it was keeps the name as received, its case included.
    if (value !== '') pieces.push(`${fields.list[i]![0]}: ${value}\r\n`);
    from = i + 1 < count ? starts[i + 1]! : fields.end;
  }
  if (fields.end > from) pieces.push(from, fields.end);
  if (close && !seenConnection) pieces.push('Connection: close\r\n');
  if (length !== undefined && !seenLength) pieces.push(`Content-Length: ${length}\r\n`);
  if (!seenHost) pieces.push(`Host: ${hostHeader}\r\n`);
  pieces.push('\r\n');

  let size = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (typeof piece === 'string') size += piece.length;
    else size += (pieces[++i] as number) - piece;
  }
  const copyBody = body !== undefined && body.length < COPY_BODY_BELOW_BYTES;
  const out = Buffer.allocUnsafe(size + (copyBody ? body.length : 0));
  let at = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (typeof piece === 'string') at += out.write(piece, at, 'latin1');
    else at += raw.copy(out, at, piece, pieces[++i] as number);
  }
  if (body === undefined || body.length === 0) return out;
  if (copyBody) {
    body.copy(out, at);
    return out;
  }
  return [out, body];
}

/**
 * The head of Ollama's answer as the super node gets it: Ollama's connection fields out,
 * `Connection: close` when the stream ends after it, `Transfer-Encoding: chunked` added when a
 * close-delimited body is re-framed, an HTTP/1.1 status line for an HTTP/1.0 answer. With none
 * of these (Ollama's answers to keep-alive requests), the received bytes themselves.
 */
export function answerHead(up: ResponseHead, closeAfter: boolean, reframe: boolean): Buffer {
  if (!closeAfter && !reframe && up.version === '1.1' && !hasAnswerHopByHop(up)) return up.raw;
  return serializeHead(up, answerEdits(up, closeAfter, reframe ? { append: { 'Transfer-Encoding': 'chunked' } } : {}), statusLine(up));
}

/** Whether an answer's head has a field of Ollama's connection (the fields a Connection names come with one). */
function hasAnswerHopByHop(up: ResponseHead): boolean {
  for (const name of up.fields.lowerNames) if (ANSWER_HOP_BY_HOP.includes(name)) return true;
  return false;
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
