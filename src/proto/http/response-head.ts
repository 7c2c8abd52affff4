/**
 * The head of an HTTP/1.1 response from a node. The proxy relays responses untouched but must
 * know where each ends, to keep a keep-alive connection in step with its requests.
 */
import { RESPONSE_SIDE } from './error.js';
import { parseFieldLines } from './fields.js';
import { type ResponseFraming, responseBodyFraming } from './framing.js';
import { HttpHead } from './head.js';
import { type HeadParserOptions, HeadReader } from './head-reader.js';
import { findBadFieldChar } from './syntax.js';

/** The largest response head read (the proxy's relay, the super node's client, the node's guard); Node's own client allows 16 KiB, some servers send more. */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9][0-9][0-9])(?: |$)/;

/** A parsed response head; `raw` holds its exact bytes. */
export class ResponseHead extends HttpHead {
  /** 100..999 */
  readonly status: number;
  /** The reason phrase, possibly empty. */
  readonly reason: string;

  constructor(raw: Buffer) {
    const text = raw.toString('latin1');
    const lineEnd = text.indexOf('\r\n');
    const line = text.slice(0, lineEnd);
    const m = STATUS_LINE.exec(line);
    if (m === null) throw RESPONSE_SIDE.syntax('malformed status line');
    // A missing reason phrase, with or without its SP, is accepted (RFC 9112 4).
    const reasonStart = Math.min(m[0].length, line.length);
    if (findBadFieldChar(line, reasonStart, line.length) >= 0) throw RESPONSE_SIDE.syntax('control character in reason phrase');
    const fields = parseFieldLines(raw, text, lineEnd + 2, text.length - 2, RESPONSE_SIDE);
    super(raw, text, m[1] === '1' ? '1.1' : '1.0', lineEnd + 2, fields);
    this.status = Number(m[2]);
    this.reason = line.slice(reasonStart);
  }

  /**
   * How this response's body is delimited, given the method of the request it answers.
   * Throws PRX_ERR_HTTP_AMBIGUOUS_FRAMING (status 502) for conflicting length framing.
   */
  framing(requestMethod: string): ResponseFraming {
    return responseBodyFraming(requestMethod, this, RESPONSE_SIDE);
  }
}

/** Parses the exact bytes of one complete response head (ending in CRLFCRLF). */
export function parseResponseHead(raw: Buffer): ResponseHead {
  return new ResponseHead(raw);
}

/**
 * Reads response heads from a stream's bytes; after an `interim` (1xx) head, push the rest again
 * for the final head. Errors are HttpErrors with `status` 502.
 */
export class ResponseHeadParser extends HeadReader<ResponseHead> {
  constructor(options: HeadParserOptions = {}) {
    super(RESPONSE_SIDE, parseResponseHead, options);
  }
}
