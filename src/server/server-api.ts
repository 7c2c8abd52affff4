/**
 * The super node's own HTTP API, put together: the rewards reports, registration (`/nodes`), the
 * key store's admin part (`/keys`), and the model API with its availability prober and canaries. The
 * parts are asked in this order by the API router; the ledger gets the model API's records, and the
 * server hears of each once it is durable.
 */
import { ErrorCodes, ProximaError } from '../errors.js';
import type { Logger } from '../log.js';
import { type ApiPart, createApiRouter, refusingPart } from './api-host/api-router.js';
import type { ApiHandler } from './api-host/api-server.js';
import type { AuthThrottle } from './api-host/auth-throttle.js';
import { withCors } from './api-host/cors.js';
import type { ServerConfig } from './config.js';
import type { LiveKeyStore } from './keys/key-store.js';
import { createKeysApi } from './keys/keys-api.js';
import { openKeys } from './keys/open-keys.js';
import type { Ledger, LedgerSource } from './ledger/ledger.js';
import type { ProbeRecord, RequestRecord } from './ledger/ledger-record.js';
import { ModelApi } from './models/model-api.js';
import type { CatalogNodes } from './models/routing/model-catalog.js';
import { type RequestObserver, requestObserver } from './observe/request-observer.js';
import type { MetricSink } from './observe/tallies.js';
import { nodeStatuses } from './presence/node-status.js';
import type { PresenceStore } from './presence/presence-store.js';
import type { NodeRecord } from './registry/node-store.js';
import { createNodesApi } from './registry/nodes-api.js';
import type { OpenRegistryOptions } from './registry/open-registry.js';
import type { Registry } from './registry/registry.js';
import { createRewardsApi } from './rewards/rewards-api.js';
import type { SharedStore } from './storage/postgres/shared-store.js';
import type { CanaryOutcome } from './verify/canaries.js';
import { openPostgresCanaryPasses } from './verify/canary-passes.js';
import { seedFlags } from './verify/flagged-nodes.js';
import { NodeChecks } from './verify/node-checks.js';

/** Failed credentials per client address, one throttle per door (auth-throttle.ts). */
export interface AuthThrottles {
  apiKeys: AuthThrottle;
  /** The admin token, and node tokens on the HTTP API. */
  admin: AuthThrottle;
  /** Node tokens at the control handshake. */
  nodes: AuthThrottle;
  /** metrics.token on the admin listener's /metrics. */
  metrics: AuthThrottle;
}

/** What the API is built on, and whom it tells of durable records. */
export interface ServerApiOptions {
  config: ServerConfig;
  registry: Registry;
  /** The live nodes the API routes to (NodeSessions, or a cluster's merged directory). */
  nodes: CatalogNodes;
  ledger: Ledger;
  /** Where the ledger's readers read (open-ledger.ts): rewards, usage, key budgets, flags. */
  source: LedgerSource;
  /** What this instance knows of who is online, for GET /nodes. */
  presence?: Pick<PresenceStore, 'current'>;
  throttles: AuthThrottles;
  /** How the key store follows its folder (the registry's settings; tests shorten them). */
  watch?: Pick<OpenRegistryOptions, 'watch' | 'pollIntervalMs'>;
  now?: () => number;
  random?: () => number;
  checksRandom?: () => number;
  logger: Logger;
  /** Where the request metrics go (the server's `metrics.registry`); none are counted without one. */
  metricsRegistry?: MetricSink;
  /** The shared PostgreSQL store: API keys and canary passes live there. */
  shared?: SharedStore;
  /** A routed request's record is durable. */
  onUsage(record: RequestRecord): void;
  onProbe(record: ProbeRecord): void;
  onCanary(outcome: CanaryOutcome): void;
}

/** The API and what it runs; every part that must be closed is in `started`, last opened first. */
export interface ServerApi {
  api: ApiHandler;
  models: ModelApi;
  checks: NodeChecks;
  keys: LiveKeyStore;
  /** Hears each finished request, API and tunnel (metrics, access log); undefined when nothing observes. */
  observer: RequestObserver | undefined;
}

/** Opens the parts, pushing each to the front of `started` as it opens (so a failure can close them). */
export async function openServerApi(o: ServerApiOptions, started: { destroy(): Promise<unknown> }[]): Promise<ServerApi> {
  const { config, ledger, logger, now } = o;
  const { source } = o;
  const rewards = createRewardsApi({
    dataDir: config.dataDir,
    source,
    rules: config.rewards,
    registry: o.registry,
    adminToken: config.admin.token,
    now,
    logger,
    authThrottle: o.throttles.admin,
  });
  const keys = await openKeys({
    dataDir: config.dataDir,
    source,
    rules: config.rewards,
    now,
    watch: o.watch?.watch,
    pollIntervalMs: o.watch?.pollIntervalMs,
    logger: logger.child({ component: 'keys' }),
    shared: o.shared,
  });
  started.unshift({ destroy: () => keys.store.close() });
  let checks: NodeChecks | undefined;
  let models: ModelApi | undefined;
  const observer = requestObserver({
    registry: o.metricsRegistry,
    accessLog: config.log.access,
    logger,
    sources: { queueDepth: () => models?.router.queued ?? 0 },
  });
  models = await ModelApi.open({
    keyStore: keys.store,
    keyUsage: keys.usage,
    nodes: o.nodes,
    memory: o.registry,
    config,
    now,
    random: o.random,
    authThrottle: o.throttles.apiKeys,
    observer,
    logger: logger.child({ component: 'api' }),
    usage: (record) =>
      ledger.append(record).then(
        () => {
          o.onUsage(record);
          checks?.consider(record);
        },
        (err: unknown) => {
          logger.error('ledger append failed', { err, requestId: record.id });
          throw err;
        },
      ),
  });
  started.unshift(models);
  // With the shared store, a restart forgets no node's passed canaries.
  const passes = o.shared && (await openPostgresCanaryPasses(o.shared, logger.child({ component: 'checks' })));
  checks = new NodeChecks({
    passes,
    api: models,
    rules: config.rewards,
    append: (record) => ledger.append(record),
    now,
    random: o.checksRandom,
    logger,
    onProbe: o.onProbe,
    onCanary: o.onCanary,
  });
  started.unshift(checks);
  // Flags of unsettled epochs, read back before any node can log in: a flagged node gets no users back by a restart.
  await seedFlags({ dataDir: config.dataDir, source, rules: config.rewards, now: (now ?? Date.now)(), sink: models.health, logger });
  // Rewards first: /nodes/NAME/usage lies under /nodes, which a closed registration refuses whole.
  const parts = [
    rewards,
    nodesPart(config, o, logger),
    createKeysApi({
      store: keys.store,
      adminToken: config.admin.token,
      authThrottle: o.throttles.admin,
      configuredIds: config.api.keys.map((k) => k.id),
      logger,
    }),
    // Browsers may call the model API only: the admin parts never answer another origin.
    withCors(models.handle, config.api.cors, ['/v1', '/api']),
  ];
  const api = createApiRouter({ parts, trustProxy: config.http.trustProxy, logger });
  return { api, models, checks, keys: keys.store, observer };
}

/** `/nodes`: open registration, or admin-only, or off when admin mode has no admin token. */
function nodesPart(config: ServerConfig, o: ServerApiOptions, logger: Logger): ApiPart {
  const { mode, openRatePerMinute } = config.registration;
  const adminToken = config.admin.token;
  if (mode === 'admin' && adminToken === undefined) {
    const off = new ProximaError(
      ErrorCodes.FORBIDDEN,
      'registration over HTTP is off: the super node has no admin.token (add nodes with "proxima-server nodes add")',
    );
    return refusingPart('/nodes', off, logger);
  }
  const { registry, presence } = o;
  // This instance's own view: its lease is live while it answers.
  const describe = presence && ((records: NodeRecord[]) => nodeStatuses(records, presence.current(), () => true));
  return createNodesApi({ registry, mode, adminToken, openRatePerMinute, logger, authThrottle: o.throttles.admin, describe });
}
