/**
 * The access log: one info line per finished request, tunnel and API, from the logger's child
 * `{ component: 'access' }` (switch: `log.access`). Built field by field from the observation:
 * never a key, a token, a body, a path or a query string, so the line skips the logger's
 * redaction walk (Logger.infoPlain).
 */
import type { Logger } from '../../log.js';
import type { ApiObservation, TunnelObservation } from './observations.js';

/** Milliseconds to the microsecond, as the ledger writes them. */
const ms = (v: number): number => Math.round(v * 1000) / 1000;

/** Writes the access lines. */
export class AccessLog {
  readonly #logger: Logger;

  /** `logger`: the server's; the access lines go to its child `{ component: 'access' }`. */
  constructor(logger: Logger) {
    this.#logger = logger.child({ component: 'access' });
  }

  /** True when the logger writes info lines at all (else there is nothing to build). */
  static writes(logger: Logger): boolean {
    return logger.level === 'debug' || logger.level === 'info';
  }

  tunnel(o: TunnelObservation): void {
    this.#logger.infoPlain('request', {
      kind: 'tunnel',
      requestId: o.requestId,
      host: o.host,
      node: o.node,
      service: o.service,
      method: o.method,
      status: o.status,
      bytesIn: o.bytesIn,
      bytesOut: o.bytesOut,
      durationMs: ms(o.durationMs),
      ttfbMs: o.ttfbMs < 0 ? null : ms(o.ttfbMs),
    });
  }

  api(o: ApiObservation): void {
    this.#logger.infoPlain('request', {
      kind: 'api',
      requestId: o.requestId,
      route: o.route,
      model: o.model,
      node: o.node,
      status: o.status,
      outcome: o.outcome,
      bytesIn: o.bytesIn,
      bytesOut: o.bytesOut,
      durationMs: ms(o.durationMs),
      ttfbMs: o.ttfbMs < 0 ? null : ms(o.ttfbMs),
      tokensIn: o.tokensIn,
      tokensOut: o.tokensOut,
    });
  }
}
