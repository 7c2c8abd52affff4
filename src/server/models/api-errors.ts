/**
 * Errors in the shape each client expects. On `/v1` the OpenAI shape,
 * `{"error":{"message","type","param","code"}}`, whose `code` openai-node exposes (`model_not_found`,
 * `invalid_api_key`, `rate_limit_exceeded`, ...); on `/api` Ollama's `{"error":"message"}`, a string,
 * as ollama-js reads it; on `/v1/messages` Anthropic's `{"type":"error","error":{"type","message"}}`,
 * its type from the status (`not_found_error`, `overloaded_error`, ...). Every answer also names the Proxima code in `Proxima-Error`. Once a stream
 * has begun, the same errors go in-band: an SSE `data: {"error":...}` event (Anthropic's `event: error`)
 * or an NDJSON line.
 */

import { type ErrorCode, ErrorCodes, HTTP_STATUS, ProximaError, UPSTREAM_FAILED_STATUS } from '../../errors.js';
import type { HttpResponse } from '../../http/exchange.js';
import type { Logger } from '../../log.js';
import { ERROR_CODE_HEADER } from '../../proto/http/error.js';
import { SECOND_MS } from '../../time.js';

/** Which API a request came to: OpenAI's `/v1`, Anthropic's `/v1/messages` or Ollama's `/api`. */
export type Surface = 'openai' | 'anthropic' | 'ollama';

/** An error as the user sees it. */
export interface UserError {
  status: number;
  /** OpenAI's error type and code. */
  type: string;
  openaiCode: string | null;
  message: string;
  /** The Proxima code, for `Proxima-Error`; undefined for a bug. */
  code: ErrorCode | undefined;
  /** The request field at fault, when there is one. */
  param: string | null;
}

/** A request field that is missing or wrong (400); `param` names it in the OpenAI error. */
export class BadFieldError extends ProximaError {
  readonly param: string;

  constructor(param: string, message: string) {
    super(ErrorCodes.HTTP_BAD_REQUEST, message);
    this.param = param;
  }
}

/** OpenAI's error type and code. */
type Shape = readonly [type: string, openaiCode: string | null];

const BAD = 'invalid_request_error';
const SERVER = 'server_error';

/** The codes the endpoint raises itself, as OpenAI clients read them; their status is HTTP_STATUS's. */
const SHAPES: Partial<Record<ErrorCode, Shape>> = {
  [ErrorCodes.HTTP_BAD_REQUEST]: [BAD, null],
  [ErrorCodes.UNAUTHORIZED]: [BAD, 'invalid_api_key'],
  [ErrorCodes.FORBIDDEN]: ['permission_error', 'forbidden'],
  [ErrorCodes.HTTP_NOT_FOUND]: [BAD, 'unknown_url'],
  [ErrorCodes.MODEL_NOT_FOUND]: [BAD, 'model_not_found'],
  [ErrorCodes.HTTP_METHOD_NOT_ALLOWED]: [BAD, 'method_not_allowed'],
  [ErrorCodes.HTTP_BODY_TIMEOUT]: [BAD, 'request_timeout'],
  [ErrorCodes.HTTP_BODY_TOO_LARGE]: [BAD, 'request_too_large'],
  [ErrorCodes.RATE_LIMITED]: ['requests', 'rate_limit_exceeded'],
  [ErrorCodes.QUOTA_EXCEEDED]: ['insufficient_quota', 'insufficient_quota'],
  [ErrorCodes.MODEL_UNAVAILABLE]: [SERVER, 'model_unavailable'],
  [ErrorCodes.NODES_BUSY]: [SERVER, 'model_overloaded'],
  [ErrorCodes.SERVER_DRAINING]: [SERVER, 'server_shutting_down'],
  [ErrorCodes.NODE_TIMEOUT]: [SERVER, 'timeout'],
  [ErrorCodes.USAGE_NOT_RECORDED]: [SERVER, 'usage_not_recorded'],
};

/** Any other code is a node-side failure: the node, its tunnel or its Ollama went wrong. */
const NODE_ERROR: Shape = [SERVER, 'node_error'];

/** How `err` is shown to a user. An error that is not a ProximaError is a bug: 500, no details. */
export function userError(err: unknown, param: string | null = null): UserError {
  if (!(err instanceof ProximaError)) {
    return { status: 500, type: SERVER, openaiCode: 'internal_error', message: 'internal error', code: undefined, param };
  }
  const shape = SHAPES[err.code];
  const status = shape === undefined ? UPSTREAM_FAILED_STATUS : (HTTP_STATUS[err.code] ?? UPSTREAM_FAILED_STATUS);
  const [type, openaiCode] = shape ?? NODE_ERROR;
  return { status, type, openaiCode, message: err.message, code: err.code, param: err instanceof BadFieldError ? err.param : param };
}

/** Anthropic's error type for a status, as its SDKs and docs name them. */
const ANTHROPIC_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  503: 'overloaded_error',
  504: 'timeout_error',
};

/** The type of an error in Anthropic's shape: by status; any other 4xx is the request's fault, 5xx ours. */
export function anthropicType(status: number): string {
  return ANTHROPIC_TYPES[status] ?? (status < 500 ? 'invalid_request_error' : 'api_error');
}

/** The JSON body of an error on `surface`. */
export function errorBody(surface: Surface, e: UserError): string {
  if (surface === 'ollama') return JSON.stringify({ error: e.message });
  if (surface === 'anthropic') return JSON.stringify({ type: 'error', error: { type: anthropicType(e.status), message: e.message } });
  return JSON.stringify({ error: { message: e.message, type: e.type, param: e.param, code: e.openaiCode } });
}

/** The in-band form of an error in a stream that has begun: an SSE event, or an NDJSON line. */
export function inBandError(surface: Surface, err: unknown): Buffer {
  const e = userError(err);
  const body = errorBody(surface, e);
  if (surface === 'anthropic') return Buffer.from(`event: error\ndata: ${body}\n\n`, 'utf8');
  return Buffer.from(surface === 'openai' ? `data: ${body}\n\n` : `${body}\n`, 'utf8');
}

/** Options of {@link sendApiError}. */
export interface SendErrorOptions {
  /** Headers the answer carries besides the error's own (x-request-id, x-proxima-node, Allow). */
  headers?: Record<string, string>;
  /** For 429 and 503: when to try again. */
  retryAfterMs?: number;
  param?: string | null;
  logger: Logger;
}

/** Answers with `err` in the shape of `surface`; a bug (no ProximaError) is logged. */
export function sendApiError(res: HttpResponse, surface: Surface, err: unknown, options: SendErrorOptions): void {
  const e = userError(err, options.param ?? null);
  if (e.code === undefined) options.logger.error('API request failed', { err });
  const body = errorBody(surface, e);
  const headers: Record<string, string> = {
    ...options.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  };
  if (e.code !== undefined) headers[ERROR_CODE_HEADER] = e.code;
  if (options.retryAfterMs !== undefined && (e.status === 429 || e.status === 503)) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(options.retryAfterMs / SECOND_MS)));
  }
  // The rest of a body we refused to read would arrive as a bogus next request.
  if (e.status === 408 || e.status === 413) headers.connection = 'close';
  res.writeHead(e.status, headers);
  res.end(body);
}
