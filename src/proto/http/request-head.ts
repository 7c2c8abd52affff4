/**
 * The head of an HTTP/1.1 request, parsed strictly: the public listener reads it to route by
 * Host and to know where the body ends.
 */
import { REQUEST_SIDE } from './error.js';
import { parseFieldLines } from './fields.js';
import { type BodyFraming, requestBodyFraming } from './framing.js';
import { HttpHead } from './head.js';
import { type HeadParserOptions, HeadReader } from './head-reader.js';
import { parseHostPort } from './host.js';
import { findBadTargetChar, SP, scanToken } from './syntax.js';

/**
 * The methods llhttp (Node's parser) knows; it refuses any other, and so do we, rather than hand a
 * node's server a method whose body rules nobody agreed on. CONNECT is refused separately; QUERY,
 * still a draft, is left out because older llhttp versions (Node 20) do not know it.
 */
export const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'ACL',
  'BIND',
  'CHECKOUT',
  'CONNECT',
  'COPY',
  'DELETE',
  'GET',
  'HEAD',
  'LINK',
  'LOCK',
  'M-SEARCH',
  'MERGE',
  'MKACTIVITY',
  'MKCALENDAR',
  'MKCOL',
  'MOVE',
  'NOTIFY',
  'OPTIONS',
  'PATCH',
  'POST',
  'PROPFIND',
  'PROPPATCH',
  'PURGE',
  'PUT',
  'REBIND',
  'REPORT',
  'SEARCH',
  'SOURCE',
  'SUBSCRIBE',
  'TRACE',
  'UNBIND',
  'UNLINK',
  'UNLOCK',
  'UNSUBSCRIBE',
]);

/** scheme "://" authority, then the path and query (RFC 9112 3.2.2 absolute-form). */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([/?].*)?$/i;

/** A parsed request head. `raw` holds its exact bytes; nothing here copies the body. */
export class RequestHead extends HttpHead {
  readonly method: string;
  /** The request target as sent. */
  readonly target: string;
  /** The target in origin-form (path and query), also when it was sent in absolute-form. */
  readonly originTarget: string;
  /** True when the target was sent in absolute-form (`http://host/path`). */
  readonly absoluteForm: boolean;
  /** The authority: an absolute-form target's wins over the Host header (RFC 9112 3.2.2). */
  readonly host: string | undefined;
  /** `host` without its port, lower-cased and without a trailing dot. */
  readonly hostname: string | undefined;
  readonly port: number | undefined;
  readonly expectContinue: boolean;
  /** An HTTP/1.1 upgrade request (Connection: upgrade with an Upgrade field), such as WebSocket. */
  readonly upgrade: boolean;
  readonly framing: BodyFraming;

  constructor(raw: Buffer) {
    const text = raw.toString('latin1');
    const lineEnd = text.indexOf('\r\n');
    const methodEnd = scanToken(text, 0, lineEnd);
    if (methodEnd === 0 || text.charCodeAt(methodEnd) !== SP) throw REQUEST_SIDE.syntax('invalid method');
    const targetEnd = text.indexOf(' ', methodEnd + 1);
    if (targetEnd < 0 || targetEnd > lineEnd || targetEnd === methodEnd + 1) throw REQUEST_SIDE.syntax('malformed request line');
    if (findBadTargetChar(text, methodEnd + 1, targetEnd) >= 0) throw REQUEST_SIDE.syntax('invalid character in request target');
    const versionText = text.slice(targetEnd + 1, lineEnd);
    if (versionText !== 'HTTP/1.1' && versionText !== 'HTTP/1.0') throw REQUEST_SIDE.syntax('unsupported HTTP version');
    const fields = parseFieldLines(raw, text, lineEnd + 2, text.length - 2, REQUEST_SIDE);
    super(raw, text, versionText === 'HTTP/1.1' ? '1.1' : '1.0', lineEnd + 2, fields);
    this.method = text.slice(0, methodEnd);
    if (!KNOWN_METHODS.has(this.method)) throw REQUEST_SIDE.syntax(`unknown method ${JSON.stringify(this.method)}`);
    this.target = text.slice(methodEnd + 1, targetEnd);

    const hosts = fields.getAll('host');
    if (hosts.length > 1) throw REQUEST_SIDE.syntax('more than one Host field');
    if (hosts.length === 0 && this.version === '1.1') throw REQUEST_SIDE.syntax('missing Host in an HTTP/1.1 request');
    const target = this.#parseTarget();
    this.absoluteForm = target.authority !== undefined;
    this.originTarget = target.origin;
    // The Host field must be valid even when an absolute-form authority overrides it.
    const fieldHost = hosts.length === 1 ? parseHostPort(hosts[0]!) : undefined;
    this.host = target.authority ?? hosts[0];
    const hostPort = target.authority === undefined ? fieldHost : parseHostPort(target.authority);
    this.hostname = hostPort?.hostname;
    this.port = hostPort?.port;

    // HTTP/1.0 has no 100 Continue: RFC 9110 10.1.1 says to ignore the expectation there.
    this.expectContinue = this.version === '1.1' && fields.get('expect')?.toLowerCase() === '100-continue';
    this.upgrade = this.version === '1.1' && this.connection.includes('upgrade') && (fields.get('upgrade') ?? '') !== '';
    this.framing = requestBodyFraming(this.version, fields, REQUEST_SIDE);
  }

  /** Origin-form as is; absolute-form split into its authority and origin-form. */
  #parseTarget(): { authority: string | undefined; origin: string } {
    const target = this.target;
    if (this.method === 'CONNECT') throw REQUEST_SIDE.syntax('CONNECT is not supported: this is not a forward proxy');
    if (target.charCodeAt(0) === 0x2f) return { authority: undefined, origin: target };
    const m = ABSOLUTE_FORM.exec(target);
    if (m === null) throw REQUEST_SIDE.syntax('request target is neither origin-form nor absolute-form');
    const authority = m[1]!;
    if (authority.includes('@')) throw REQUEST_SIDE.syntax('userinfo in request target');
    const rest = m[2] ?? '';
    return { authority, origin: rest.startsWith('/') ? rest : '/' + rest };
  }
}

/** Parses the exact bytes of one complete request head (ending in CRLFCRLF). */
export function parseRequestHead(raw: Buffer): RequestHead {
  return new RequestHead(raw);
}

/**
 * Reads request heads from a connection's bytes, one at a time: `push(chunk)` returns
 * `{ head, rest }` once a head is complete (rest: body or next request), else null.
 * Errors are HttpErrors with `status` 400 or 431.
 */
export class RequestHeadParser extends HeadReader<RequestHead> {
  constructor(options: HeadParserOptions = {}) {
    super(REQUEST_SIDE, parseRequestHead, options);
  }
}
