/**
 * The admin side of a super node, put together at start: the readiness checks and /metrics, the
 * dashboard (only with an admin listener: library use and most tests have none; its modules load
 * only then), and the listener.
 */
import type { Logger } from '../../log.js';
import type { AuthThrottle } from '../api-host/auth-throttle.js';
import type { ServerConfig } from '../config.js';
import type { AdminListenerFactory, AdminListenerHandle } from './admin-listener.js';
import { type AdminPartsOptions, adminParts } from './admin-parts.js';
import type { Dashboard, ServerDashboardParts } from './dashboard/dashboard.js';

/** What the admin side reads. */
export interface OpenAdminOptions
  extends Omit<AdminPartsOptions, 'metricsToken' | 'metricsThrottle' | 'logger' | 'registry'>,
    Omit<ServerDashboardParts, 'config' | 'logger' | 'throttles' | 'registry'> {
  config: ServerConfig;
  registry: ServerDashboardParts['registry'] & AdminPartsOptions['registry'];
  /** The dashboard's login counts against the admin door's throttle, a wrong /metrics token against its own. */
  throttles: { admin: AuthThrottle; metrics: AuthThrottle };
  /** Starts the admin listener (run.ts passes startAdminListener); absent: none, and no dashboard. */
  listener: AdminListenerFactory | undefined;
  logger: Logger;
}

/** Starts the admin listener with its parts; what it started goes first into `started`. */
export async function openAdmin(
  o: OpenAdminOptions,
  started: { destroy(): Promise<unknown> }[],
): Promise<{ admin: AdminListenerHandle | undefined; dashboard: Dashboard | undefined }> {
  const { config, logger } = o;
  const withAdmin = o.listener !== undefined && config.admin.listen !== false;
  const dashboard = withAdmin ? (await import('./dashboard/dashboard.js')).createServerDashboard({ ...o, config, logger }) : undefined;
  if (dashboard !== undefined) started.unshift({ destroy: async () => dashboard.close() });
  const parts = adminParts({ ...o, metricsToken: config.metrics.token, metricsThrottle: o.throttles.metrics });
  if (dashboard !== undefined) parts.push(dashboard.part);
  const admin = await o.listener?.({ config, parts, logger });
  if (admin !== undefined) started.unshift(admin);
  return { admin, dashboard };
}
