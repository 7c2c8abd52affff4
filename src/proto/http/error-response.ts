/**
 * The short plain-text answers the proxy writes itself, before or instead of a node's response
 * (ARCHITECTURE decision 7): always `Connection: close`, since after an error the connection's
 * framing can no longer be trusted.
 */

/** Reason phrases of the statuses the proxy answers with on its own. */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
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
}

/** The header that carries the error code of an answer the super node writes itself. */
export const ERROR_CODE_HEADER = 'Proxima-Error';

const ERROR_CODE = /^PRX_ERR_[A-Z_]+$/;

/**
 * A complete minimal HTTP/1.1 error response: status line, Content-Type text/plain,
 * Content-Length, Connection: close, Proxima-Error when a code is given, then the body.
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
    '\r\n';
  return options.headRequest === true ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
