/**
 * The short plain-text pages a tenant host gets when the super node answers itself: the status
 * (src/errors.ts HTTP_STATUS), one line naming the node and service where that helps, and the error
 * code in `Proxima-Error`, and a request id in `X-Request-Id` (on a 5xx page also in the text, for the
 * user to quote). Details of the node's own network or its error text never reach the page; the
 * super node logs them under that request id.
 */
import { type ErrorCode, ErrorCodes, HTTP_STATUS, ProximaError, UPSTREAM_FAILED_STATUS } from '../../errors.js';
import { newRequestId } from '../../http/request-id.js';
import type { Logger } from '../../log.js';
import { HttpError, httpErrorResponse, REASON_PHRASES } from '../../proto/http/error.js';
import { ChallengeError } from '../access/service-gate.js';

/** What a page may name. Hosts and names are validated before they get here: safe to echo. */
export interface PageContext {
  /** The Host of the request being answered. */
  host?: string;
  node?: string;
  service?: string;
  /** The Host the connection is bound to (421). */
  boundHost?: string;
}

/** The status, code and text of a page. */
export interface Page {
  status: number;
  code: string;
  text: string;
}

/** Maps an error to the page that answers it; anything unexpected is a 502 about the tunnel. */
export function describeError(err: unknown, ctx: PageContext): Page {
  const code = err instanceof ProximaError ? err.code : ErrorCodes.MUX_CONNECTION_LOST;
  const node = `node ${ctx.node ?? 'unknown'}`;
  const service = `service ${ctx.service ?? 'unknown'}`;
  const text = pageText(code, ctx, node, service);
  // An HttpError knows which side erred: a node's bad response is 502 whatever its code.
  const status = err instanceof HttpError ? err.status : (HTTP_STATUS[code] ?? UPSTREAM_FAILED_STATUS);
  if (text !== undefined) return { status, code, text: `${text}\n` };
  if (err instanceof HttpError && status < 500) return { status, code, text: `${REASON_PHRASES[status] ?? 'Bad Request'}\n` };
  if (err instanceof HttpError) return { status, code, text: `${node}: ${service} sent no valid response\n` };
  return { status: UPSTREAM_FAILED_STATUS, code, text: `${node}: the tunnel to ${service} failed\n` };
}

/** The line a page says for `code`, naming the node and service where that helps; undefined for a generic page. */
function pageText(code: ErrorCode, ctx: PageContext, node: string, service: string): string | undefined {
  switch (code) {
    case ErrorCodes.UNKNOWN_HOST:
      return `no node answers to ${ctx.host ?? 'this host'}`;
    case ErrorCodes.NODE_OFFLINE:
      return `${node} is offline`;
    case ErrorCodes.SERVICE_UNKNOWN:
      return `${node} has no ${ctx.service === undefined ? 'service' : service}`;
    case ErrorCodes.TARGET_UNREACHABLE:
      return `${node}: ${service} refused the connection`;
    case ErrorCodes.NODE_TIMEOUT:
      return `${node} did not answer in time`;
    case ErrorCodes.SERVER_DRAINING:
    case ErrorCodes.MUX_GOAWAY:
      return `${node} is shutting down; try again shortly`;
    case ErrorCodes.HTTP_BAD_RESPONSE:
      return `${node}: ${service} sent no valid response`;
    case ErrorCodes.HTTP_HEAD_TIMEOUT:
    case ErrorCodes.HTTP_BODY_TIMEOUT:
      return REASON_PHRASES[408];
    case ErrorCodes.SERVICE_NOT_PUBLIC:
      return `${node}: ${service} is not public; its models are reachable through the network's API`;
    case ErrorCodes.UNAUTHORIZED:
      return `${node}: ${service} needs a valid credential`;
    case ErrorCodes.FORBIDDEN:
      return `${node}: ${service} does not accept requests from your address`;
    case ErrorCodes.RATE_LIMITED:
      return 'too many password checks at once; try again shortly';
    case ErrorCodes.HTTP_MISDIRECTED:
      return `this connection is for ${ctx.boundHost ?? 'another host'}; open a new one for ${ctx.host ?? 'this host'}`;
    default:
      return undefined;
  }
}

/** A page ready to send, and the id it carries. */
export interface RenderedPage extends Page {
  requestId: string;
  /** The complete response bytes, with `Connection: close`. */
  bytes: Buffer;
}

/** The page for `err` under a new request id. */
export function errorPage(err: unknown, ctx: PageContext, headRequest = false): RenderedPage {
  const page = describeError(err, ctx);
  const requestId = newRequestId();
  const body = page.status >= 500 ? `${page.text}request id: ${requestId}\n` : page.text;
  const fields: Record<string, string> = {};
  if (err instanceof ChallengeError) fields['WWW-Authenticate'] = err.challenge;
  if (page.code === ErrorCodes.RATE_LIMITED) {
    const ms = (err as { retryAfterMs?: unknown }).retryAfterMs;
    fields['Retry-After'] = String(typeof ms === 'number' ? Math.max(1, Math.ceil(ms / 1000)) : 1);
  }
  fields['X-Request-Id'] = requestId;
  const bytes = httpErrorResponse(page.status, { body, headRequest, errorCode: page.code, fields });
  return { ...page, requestId, bytes };
}

/** The page for `err`, logged under its request id: a failure on the node's side as a warning, with its detail. */
export function loggedPage(err: unknown, ctx: PageContext, headRequest: boolean, logger: Logger): RenderedPage {
  const page = errorPage(err, ctx, headRequest);
  const fields = {
    requestId: page.requestId,
    status: page.status,
    code: page.code,
    host: ctx.host,
    node: ctx.node,
    service: ctx.service,
    err,
  };
  if (page.status >= 500) logger.warn('tenant request failed', fields);
  else logger.debug('request refused', fields);
  return page;
}
