/**
 * What the admin listener serves, in order: the health checks, then /metrics (when metrics.enabled). Others add their
 * parts (the dashboard, say) to the list {@link adminParts} returns.
 */
import type { Logger } from '../../log.js';
import type { ApiPart } from '../api-host/api-router.js';
import type { AuthThrottle } from '../api-host/auth-throttle.js';
import type { LedgerWriter } from '../ledger/ledger-writer.js';
import type { Registry } from '../registry/registry.js';
import { healthPart, type ReadinessCheck } from './health.js';
import type { ServerMetrics } from './metrics.js';
import { metricsPart } from './metrics-part.js';

/** Where the super node is in its life: /readyz is 503 unless 'ready'. */
export type ServerState = 'starting' | 'ready' | 'draining';

/** What the admin parts read. */
export interface AdminPartsOptions {
  state(): ServerState;
  registry: Pick<Registry, 'list'>;
  ledger: Pick<LedgerWriter, 'problem'>;
  /** Absent when metrics.enabled is false: /metrics is then 404. */
  metrics: ServerMetrics | undefined;
  /** metrics.token: what /metrics asks for. */
  metricsToken: string | undefined;
  /** Wrong metrics tokens per client address. */
  metricsThrottle: AuthThrottle;
  logger: Logger;
  /** With the shared PostgreSQL store: its readiness (storage/postgres/store-readiness.ts) replaces the registry read. */
  storeCheck?: ReadinessCheck;
}

/** The readiness checks of /readyz, by name. */
export function readinessChecks(o: AdminPartsOptions): Record<string, ReadinessCheck> {
  return {
    listeners: () => (o.state() === 'starting' ? 'the super node is starting' : undefined),
    draining: () => (o.state() === 'draining' ? 'the super node is draining' : undefined),
    store:
      o.storeCheck ??
      (async () => {
        await o.registry.list();
        return undefined;
      }),
    ledger: () => o.ledger.problem,
  };
}

/** The parts of the admin listener. */
export function adminParts(o: AdminPartsOptions): ApiPart[] {
  const { metrics, logger } = o;
  const parts = [healthPart(readinessChecks(o), logger)];
  if (metrics !== undefined) parts.push(metricsPart({ metrics, token: o.metricsToken, authThrottle: o.metricsThrottle, logger }));
  return parts;
}
