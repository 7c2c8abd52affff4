/**
 * Errors of the HTTP/1.1 wire code, and the answers the proxy writes for them. An error carries the
 * status the proxy answers with: 400 or 431 for a request the public listener refuses, 502 for a
 * response a node sent that cannot be relayed safely. The answer is a short plain-text response the
 * proxy writes itself, before or instead of a node's (docs/architecture.md "Errors"): always
 * `Connection: close`, since after an error the connection's framing can no longer be trusted.
 */
import { type ErrorCode, ErrorCodes, HTTP_STATUS, ProximaError, UPSTREAM_FAILED_STATUS } from '../../errors.js';

/** A ProximaError with the HTTP status to answer (when nothing has been answered yet). */
export class HttpError extends ProximaError {
  /** 400, 431 for requests; 502 for responses from a node. */
  readonly status: number;

  constructor(code: ErrorCode, status: number, message: string) {
    super(code, message);
    this.status = status;
  }
}

/** Which message a parser reads: the codes and statuses differ between the two. */
export interface HttpSide {
  /** A start line or field line that does not parse. */
  syntax(message: string): HttpError;
  /** Length framing that is conflicting or malformed (the smuggling family). */
  framing(message: string): HttpError;
  /** A head longer than the limit. */
  tooLarge(message: string): HttpError;
}

const requestError = (code: ErrorCode, message: string): HttpError => new HttpError(code, HTTP_STATUS[code]!, message);

/** Requests from the public: 400 for syntax and framing, 431 for a head too large (HTTP_STATUS). */
export const REQUEST_SIDE: HttpSide = {
  syntax: (message) => requestError(ErrorCodes.HTTP_BAD_REQUEST, message),
  framing: (message) => requestError(ErrorCodes.HTTP_AMBIGUOUS_FRAMING, message),
  tooLarge: (message) => requestError(ErrorCodes.HTTP_HEAD_TOO_LARGE, message),
};

/** Responses from a node: the user gets 502 whatever went wrong, the code says what it was. */
export const RESPONSE_SIDE: HttpSide = {
  syntax: (message) => new HttpError(ErrorCodes.HTTP_BAD_RESPONSE, UPSTREAM_FAILED_STATUS, message),
  framing: (message) => new HttpError(ErrorCodes.HTTP_AMBIGUOUS_FRAMING, UPSTREAM_FAILED_STATUS, message),
  tooLarge: (message) => new HttpError(ErrorCodes.HTTP_HEAD_TOO_LARGE, UPSTREAM_FAILED_STATUS, message),
};

/** Reason phrases of the statuses the proxy answers with on its own. */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Options of httpErrorResponse. */
export interface ErrorResponseOptions {
  /** The plain-text body (UTF-8); defaults to the reason phrase and a newline. */
  body?: string;
  /** Answering a HEAD request: the head announces the body's length, the body is left out. */
  headRequest?: boolean;
  /** A Proxima error code (`PRX_ERR_…`), sent as `Proxima-Error`, for scripts and tests to match. */
  errorCode?: string;
  /** More fields: `WWW-Authenticate` on a 401, `Retry-After` on a 429. Names must be tokens, values printable ASCII. */
  fields?: Readonly<Record<string, string>>;
}

/** The header that carries the error code of an answer the super node writes itself. */
export const ERROR_CODE_HEADER = 'Proxima-Error';

/**
 * The header of a refusal by the instance holding a node, for a request another instance forwarded
 * (docs/protocol.md "Peer link"): the code the entry instance answers with, as if it had refused.
 */
export const FORWARD_REFUSED_HEADER = 'Proxima-Forward-Refused';

const ERROR_CODE = /^PRX_ERR_[A-Z_]+$/;
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/;

/** The extra header lines, each checked: nothing a caller passes can split the head. */
function extraFields(headers: Readonly<Record<string, string>> | undefined): string {
  let lines = '';
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!FIELD_NAME.test(name) || !FIELD_VALUE.test(value)) throw new RangeError(`not a header field: ${JSON.stringify(name)}`);
    lines += `${name}: ${value}\r\n`;
  }
  return lines;
}

/**
 * A complete minimal HTTP/1.1 error response: status line, Content-Type text/plain,
 * Content-Length, Connection: close, Proxima-Error when a code is given, the extra fields, then the body.
 * `status` must be 400..599.
 */
export function httpErrorResponse(status: number, options: ErrorResponseOptions = {}): Buffer {
  if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError(`not an error status: ${status}`);
  const { errorCode } = options;
  if (errorCode !== undefined && !ERROR_CODE.test(errorCode)) throw new RangeError(`not an error code: ${JSON.stringify(errorCode)}`);
  const reason = REASON_PHRASES[status] ?? (status < 500 ? 'Client Error' : 'Server Error');
  const body = Buffer.from(options.body ?? `${reason}\n`, 'utf8');
  const head =
    `HTTP/1.1 ${status} ${reason}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${body.length}\r\n` +
    'Connection: close\r\n' +
    (errorCode === undefined ? '' : `${ERROR_CODE_HEADER}: ${errorCode}\r\n`) +
    extraFields(options.fields) +
    '\r\n';
  return options.headRequest === true ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
