/**
 * The super node's own HTTP API, as one `(req, res)` handler for the public listener to call on
 * requests for the API host. Each part (`/nodes` today; `/v1`, `/api`, `/admin` later) is a
 * handler that claims its paths; a path no part claims is 404.
 */

import { type TrustProxySetting, trustedProxies } from '../../config/access.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/exchange.js';
import type { Logger } from '../../log.js';
import type { ApiHandler } from './api-server.js';
import { sendError } from './http-json.js';

/** One part of the API: resolves true when it handled the request, false when the path is not its. */
export type ApiPart = (req: HttpRequest, res: HttpResponse, clientAddress: string) => Promise<boolean>;

/** How the router finds the client's address. */
export interface ApiRouterOptions {
  parts: readonly ApiPart[];
  /** The reverse proxies in front (http.trustProxy): from them, the client is the last X-Forwarded-For entry. */
  trustProxy: TrustProxySetting;
  logger: Logger;
}

/** Builds the API handler. */
export function createApiRouter(options: ApiRouterOptions): ApiHandler {
  const { parts, logger } = options;
  const trusted = trustedProxies(options.trustProxy);
  return (req, res) => {
    // Whether the peer is a trusted proxy matters only when it forwards an address (BlockList.check costs an object).
    const forwards = req.headers['x-forwarded-for'] !== undefined;
    const clientAddress = clientAddressOf(req, forwards && trusted.has(req.socket.remoteAddress ?? ''));
    void (async () => {
      for (const part of parts) if (await part(req, res, clientAddress)) return;
      const path = (req.url ?? '/').split('?', 1)[0]!.slice(0, 200);
      sendError(res, new ProximaError(ErrorCodes.HTTP_NOT_FOUND, `nothing here: ${path}`), logger);
    })().catch((err: unknown) => {
      if (!res.headersSent) sendError(res, err, logger);
      else res.destroy();
    });
  };
}

/** The client's address: the socket's peer, or when it is a trusted proxy, the proxy's last X-Forwarded-For entry. */
export function clientAddressOf(req: HttpRequest, trustProxy: boolean): string {
  const forwarded = req.headers['x-forwarded-for'];
  if (trustProxy && forwarded !== undefined) {
    const last = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',').pop()!.trim();
    if (last !== '') return last;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/** A part that answers every path under `prefix` with `err` (for a feature that is switched off). */
export function refusingPart(prefix: string, err: ProximaError, logger: Logger): ApiPart {
  return async (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
    sendError(res, err, logger);
    return true;
  };
}
