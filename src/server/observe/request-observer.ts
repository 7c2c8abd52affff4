/**
 * Where the request paths hand their finished requests: the metrics and the access log, each when
 * switched on. With both off there is no observer at all, and a request path's whole cost is the
 * null check before it would have made an observation.
 */
import type { Logger } from '../../log.js';
import { AccessLog } from './access-log.js';
import { type ApiObservation, outcomeOf, type TunnelObservation } from './observations.js';
import { type MetricsSources, RequestMetrics } from './request-metrics.js';
import type { MetricSink } from './tallies.js';

/** Hears each finished request once. */
export interface RequestObserver {
  /** True when the access log is on: tunnel observations carry a request id. */
  readonly ids: boolean;
  tunnel(o: TunnelObservation): void;
  api(o: ApiObservation): void;
  /** A request left the router's queue after waiting `ms`. */
  queueWait(ms: number): void;
}

/** What an observer is made of. */
export interface RequestObserverOptions {
  /** The server's metric list (or a test's prom-client Registry); undefined with `metrics.enabled: false`. */
  registry: MetricSink | undefined;
  /** `log.access`; lines are written only if the logger writes info lines. */
  accessLog: boolean;
  logger: Logger;
  sources: MetricsSources;
}

/** The observer, or undefined when nothing observes (metrics off, access log off). */
export function requestObserver(o: RequestObserverOptions): RequestObserver | undefined {
  const metrics = o.registry === undefined ? undefined : new RequestMetrics(o.registry, o.sources);
  const log = o.accessLog && AccessLog.writes(o.logger) ? new AccessLog(o.logger) : undefined;
  if (metrics === undefined && log === undefined) return undefined;
  return {
    ids: log !== undefined,
    tunnel(t) {
      metrics?.tunnel(t);
      log?.tunnel(t);
    },
    api(a) {
      a.outcome ??= outcomeOf(a.status);
      metrics?.api(a);
      log?.api(a);
    },
    queueWait(ms) {
      metrics?.queueWait(ms);
    },
  };
}
