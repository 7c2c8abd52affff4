/**
 * `/metrics` on the admin listener (GET and HEAD): the Prometheus text of the server's metrics.
 * With metrics.token set it asks for `Authorization: Bearer <token>`, compared in constant time;
 * wrong tokens count against the client's address and are slowed, then refused (auth-throttle.ts).
 */
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { constantTimeEqual } from '../../proto/control/auth.js';
import type { ApiPart } from '../api-host/api-router.js';
import { type AuthThrottle, admit, failed } from '../api-host/auth-throttle.js';
import { bearerToken, sendError } from '../api-host/http-json.js';
import type { ServerMetrics } from './metrics.js';

/** What /metrics serves, and whom. */
export interface MetricsPartOptions {
  metrics: ServerMetrics;
  /** The bearer token scrapers must present; absent: open. */
  token?: string;
  authThrottle: AuthThrottle;
  logger: Logger;
}

/** The /metrics part. */
export function metricsPart(o: MetricsPartOptions): ApiPart {
  const { metrics, token, logger } = o;
  return async (req, res, clientAddress) => {
    if ((req.url ?? '/').split('?', 1)[0] !== '/metrics') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, new ProximaError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, '/metrics answers GET and HEAD'), logger, { allow: 'GET, HEAD' });
      return true;
    }
    if (token !== undefined) {
      const presented = bearerToken(req);
      try {
        if (presented !== undefined) admit(o.authThrottle, clientAddress, 'metrics tokens');
        if (presented === undefined || presented === '' || !constantTimeEqual(presented, token)) {
          if (presented !== undefined) await failed(o.authThrottle, clientAddress);
          throw new ProximaError(ErrorCodes.UNAUTHORIZED, 'this needs the metrics bearer token (metrics.token)');
        }
      } catch (err) {
        sendError(res, err, logger, { 'www-authenticate': 'Bearer' });
        return true;
      }
    }
    const { contentType, text } = await metrics.exposition();
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
    return true;
  };
}
