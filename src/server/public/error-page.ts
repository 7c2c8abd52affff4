/**
 * The short plain-text pages a tenant host gets when the super node answers itself (ARCHITECTURE
 * decision 7): the status, one line naming the node and service where that helps, and the error
 * code in `Proxima-Error`. Details of the node's own network never reach the page.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import { HttpError } from '../../proto/http/error.js';
import { httpErrorResponse, REASON_PHRASES } from '../../proto/http/error-response.js';

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
  const page = (status: number, text: string): Page => ({ status, code, text: `${text}\n` });
  switch (code) {
    case ErrorCodes.UNKNOWN_HOST:
      return page(404, `no node answers to ${ctx.host ?? 'this host'}`);
    case ErrorCodes.NODE_OFFLINE:
      return page(502, `${node} is offline`);
    case ErrorCodes.SERVICE_UNKNOWN:
      return page(404, `${node} has no ${ctx.service === undefined ? 'service' : service}`);
    case ErrorCodes.TARGET_UNREACHABLE:
      return page(502, `${node}: ${service} refused the connection`);
    case ErrorCodes.NODE_TIMEOUT:
      return page(504, `${node} did not answer in time`);
    case ErrorCodes.SERVER_DRAINING:
    case ErrorCodes.MUX_GOAWAY:
      return page(503, `${node} is shutting down; try again shortly`);
    case ErrorCodes.HTTP_BAD_RESPONSE:
      return page(502, `${node}: ${service} sent no valid response`);
    case ErrorCodes.HTTP_HEAD_TIMEOUT:
    case ErrorCodes.HTTP_BODY_TIMEOUT:
      return page(408, REASON_PHRASES[408]!);
    case ErrorCodes.HTTP_MISDIRECTED:
      return page(421, `this connection is for ${ctx.boundHost ?? 'another host'}; open a new one for ${ctx.host ?? 'this host'}`);
    default:
      break;
  }
  if (err instanceof HttpError && err.status < 500) return page(err.status, REASON_PHRASES[err.status] ?? 'Bad Request');
  if (err instanceof HttpError) return page(502, `${node}: ${service} sent no valid response`);
  return page(502, `${node}: the tunnel to ${service} failed`);
}

/** The complete response bytes of the page for `err`, with `Connection: close`. */
export function errorPage(err: unknown, ctx: PageContext, headRequest = false): Buffer {
  const { status, code, text } = describeError(err, ctx);
  return httpErrorResponse(status, { body: text, headRequest, errorCode: code });
}
