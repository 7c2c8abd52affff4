/**
 * JSON over node:http for the super node's own small APIs: bodies read with a size cap and a time
 * limit, answers and errors in one shape, `{"error":{"code":"PRX_ERR_...","message":"..."}}`.
 */

import { type ErrorCode, ErrorCodes, HTTP_STATUS, ProximaError } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/exchange.js';
import { type BodyLimits, readRequestBody } from '../../http/request-body.js';
import type { Logger } from '../../log.js';
import { SECOND_MS } from '../../time.js';
import { ThrottledError } from './auth-throttle.js';

export type { BodyLimits } from '../../http/request-body.js';

/**
 * Reads and parses a JSON body: PRX_ERR_HTTP_BODY_TOO_LARGE past maxBodyBytes (declared or sent),
 * PRX_ERR_HTTP_BODY_TIMEOUT when it is not all there within bodyTimeoutMs, PRX_ERR_HTTP_BAD_REQUEST
 * when it is not JSON.
 */
export async function readJsonBody(req: HttpRequest, limits: BodyLimits): Promise<unknown> {
  const body = await readRequestBody(req, limits);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'the request body is not valid JSON', { cause: err });
  }
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The credential of `Authorization: Bearer <token>`; '' for another scheme or a malformed header; undefined without one. */
export function bearerToken(req: HttpRequest): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  return BEARER.exec(header)?.[1] ?? '';
}

/** Sends `body` as JSON. Answers of these APIs may carry tokens, so nothing may cache them. */
export function sendJson(res: HttpResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = status === 204 ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'cache-control': 'no-store',
    ...(status === 204 ? {} : { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }),
  });
  res.end(text);
}

/** Codes that mean the registry cannot serve right now, rather than a bug. */
const UNAVAILABLE: ReadonlySet<ErrorCode> = new Set([
  ErrorCodes.STORE_CORRUPT,
  ErrorCodes.STORE_LOCKED,
  ErrorCodes.STORE_IO,
  ErrorCodes.SERVER_DRAINING,
]);

/**
 * Sends `err` as a JSON error, with its status from HTTP_STATUS. A client's mistake gets its code and
 * message; server trouble gets a plain message, the details going to the log only (they name files).
 * An error that is not a ProximaError is a bug: 500, and its answer carries no code.
 */
export function sendError(res: HttpResponse, err: unknown, logger: Logger, headers: Record<string, string> = {}): void {
  const code = err instanceof ProximaError ? err.code : undefined;
  const status = code === undefined ? 500 : (HTTP_STATUS[code] ?? 500);
  if (err instanceof ThrottledError) headers = { ...headers, 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / SECOND_MS))) };
  if (status < 500) {
    // The rest of a body we refused to read would arrive as a bogus next request.
    const close: Record<string, string> = status === 408 || status === 413 ? { connection: 'close' } : {};
    sendJson(res, status, { error: { code, message: (err as Error).message } }, { ...headers, ...close });
    return;
  }
  logger.error('request failed', { err });
  const message = code !== undefined && UNAVAILABLE.has(code) ? 'the registry is unavailable; try again later' : 'internal error';
  sendJson(res, status, { error: { code, message } });
}
