/**
 * The super node: the registry, the control port where nodes log in, the live nodes, and the
 * handler of its own HTTP API. The public HTTP listener (the data plane) plugs in through
 * `publicListener`: it is given the directory of live nodes and the API handler, and closed first.
 */
import { EventEmitter } from 'node:events';
import { type Logger, silentLogger } from '../log.js';
import type { AdminListenerHandle } from './admin/admin-listener.js';
import { adminParts, type ServerState } from './admin/admin-parts.js';
import { createServerDashboard, type Dashboard } from './admin/dashboard/dashboard.js';
import { ServerMetrics } from './admin/metrics.js';
import type { ApiHandler } from './api-host/api-server.js';
import { AuthThrottle } from './api-host/auth-throttle.js';
import { type Cluster, startCluster } from './cluster/cluster.js';
import type { ServerConfig } from './config.js';
import { ControlListener } from './control/control-listener.js';
import { NodeSessions } from './control/node-sessions.js';
import type { JsonKeyStore } from './keys/json-key-store.js';
import { LedgerWriter } from './ledger/ledger-writer.js';
import type { ModelApi } from './models/model-api.js';
import type { NodeDirectory } from './node-directory.js';
import { JsonPresenceStore } from './presence/json-presence-store.js';
import { trackPresence } from './presence/presence-tracker.js';
import type { BoundAddress, PublicListenerHandle } from './public/public-listener.js';
import { PublicUrls } from './public-urls.js';
import { openRegistry } from './registry/open-registry.js';
import type { Registry } from './registry/registry.js';
import { type AuthThrottles, openServerApi } from './server-api.js';

export type { ProximaServerEvents, ProximaServerOptions } from './server-options.js';

import type { ProximaServerEvents, ProximaServerOptions } from './server-options.js';
import type { NodeChecks } from './verify/node-checks.js';

/** A running super node. Start it with {@link ProximaServer.start}. */
export class ProximaServer extends EventEmitter<ProximaServerEvents> {
  readonly config: ServerConfig;
  readonly registry: Registry;
  /** The live nodes: the directory the data plane routes with. */
  readonly nodes: NodeSessions;
  /** The handler of the super node's own API. */
  readonly api: ApiHandler;
  /** The usage ledger: one record per routed request, probe, canary verdict and flag. */
  readonly ledger: LedgerWriter;
  /** The OpenAI/Ollama endpoint: its catalog of models, its router and its pools of node streams. */
  readonly models: ModelApi;
  /** The availability prober and the canaries. */
  readonly checks: NodeChecks;
  /** The API keys of `proxima-server keys` (server.yaml's are in the config). */
  readonly keys: JsonKeyStore;
  /** The Prometheus metrics (served at the admin listener's /metrics); undefined when metrics.enabled is false. */
  readonly metrics: ServerMetrics | undefined;
  /** Who is online, written for `nodes list` (presence.json). */
  readonly presence: JsonPresenceStore;
  readonly #untrack: () => void;
  readonly cluster: Cluster | undefined;
  readonly #control: ControlListener;
  readonly #public: PublicListenerHandle | undefined;
  readonly #admin: AdminListenerHandle | undefined;
  readonly #dashboard: Dashboard | undefined;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  private constructor(parts: {
    config: ServerConfig;
    registry: Registry;
    nodes: NodeSessions;
    api: ApiHandler;
    ledger: LedgerWriter;
    models: ModelApi;
    checks: NodeChecks;
    keys: JsonKeyStore;
    presence: JsonPresenceStore;
    untrack: () => void;
    cluster: Cluster | undefined;
    control: ControlListener;
    public: PublicListenerHandle | undefined;
    admin: AdminListenerHandle | undefined;
    dashboard: Dashboard | undefined;
    metrics: ServerMetrics | undefined;
    logger: Logger;
  }) {
    super();
    this.config = parts.config;
    this.registry = parts.registry;
    this.nodes = parts.nodes;
    this.api = parts.api;
    this.ledger = parts.ledger;
    this.models = parts.models;
    this.checks = parts.checks;
    this.keys = parts.keys;
    this.presence = parts.presence;
    this.#untrack = parts.untrack;
    this.cluster = parts.cluster;
    this.#control = parts.control;
    this.#public = parts.public;
    this.#admin = parts.admin;
    this.#dashboard = parts.dashboard;
    this.metrics = parts.metrics;
    this.registry.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else parts.logger.error('registry failed', { err });
    });
  }

  /**
   * Opens the registry (PRX_ERR_STORE_CORRUPT naming the file if it does not parse), then starts the
   * public listener (if any) and the control port. A failure closes what was started.
   */
  static async start(options: ProximaServerOptions): Promise<ProximaServer> {
    const { config } = options;
    const logger = options.logger ?? silentLogger;
    const registry = await openRegistry({ ...options.registry, dataDir: config.dataDir, logger });
    const started: { destroy(): Promise<unknown> }[] = [registry];
    // Set before any request can be routed: nodes can log in only once the control port opens, last.
    let server: ProximaServer | undefined;
    const throttles: AuthThrottles = {
      apiKeys: options.authThrottles?.apiKeys ?? new AuthThrottle(),
      admin: options.authThrottles?.admin ?? new AuthThrottle(),
      nodes: options.authThrottles?.nodes ?? new AuthThrottle(),
      metrics: options.authThrottles?.metrics ?? new AuthThrottle(),
    };
    // Off: nothing counts, and no request path pays for a metric.
    const metrics = config.metrics.enabled ? new ServerMetrics() : undefined;
    try {
      const { now } = options;
      const ledger = await LedgerWriter.open({
        ...config.ledger,
        dataDir: config.dataDir,
        now,
        onBatch: metrics?.ledgerBatch,
        logger: logger.child({ component: 'ledger' }),
      });
      started.unshift(ledger);
      if (config.ledger.flushIntervalMs !== undefined)
        logger.warn('ledger.flushIntervalMs has no effect: a batch is written as soon as the disk is free');
      const nodes = await NodeSessions.open({ registry, openStream: options.openStream, logger });
      started.unshift(nodes);
      metrics?.watchNodes(nodes);
      const presence = await JsonPresenceStore.open({ ...config.presence, dataDir: config.dataDir, now, logger });
      started.unshift({ destroy: () => presence.close() });
      const untrack = trackPresence({ nodes, store: presence, now, onLeave: (name) => registry.touch(name) });
      let modelApi: ModelApi | undefined;
      const cluster = await startCluster(config.cluster, {
        ...{ nodes, remote: options.remotePresence, instance: options.instance },
        acquire: (node, service, signal) => modelApi?.acquireForwarded(node, service, signal),
        logger,
      });
      if (cluster !== undefined) started.unshift(cluster);
      const directory = cluster?.directory ?? nodes;
      const { api, models, checks, keys, observer } = await openServerApi(
        {
          config,
          registry,
          nodes: directory,
          ledger,
          presence,
          throttles,
          watch: options.registry,
          now,
          random: options.random,
          checksRandom: options.checksRandom,
          logger,
          metricsRegistry: options.metricsRegistry ?? metrics?.registry,
          onUsage: (record) => server?.emit('usage', record),
          onProbe: (probe) => {
            metrics?.probe(probe);
            server?.emit('probe', probe);
          },
          onCanary: (outcome) => {
            metrics?.canary(outcome);
            server?.emit('canary', outcome);
          },
        },
        started,
      );
      modelApi = models;
      const listener = await options.publicListener?.({ config, directory, api, ledger, logger, observer });
      if (listener !== undefined) started.unshift(listener);
      const publicStats = listener?.stats?.bind(listener);
      if (publicStats !== undefined) metrics?.watchPublic(() => publicStats().open);
      const httpPort = listener?.address().port ?? config.http.listen.port;
      const state = (): ServerState => (server === undefined ? 'starting' : server.#closing === undefined ? 'ready' : 'draining');
      // The dashboard lives on the admin listener; without one (library use, tests) there is none.
      const withAdmin = options.adminListener !== undefined && config.admin.listen !== false;
      const dashboard = withAdmin ? createServerDashboard({ config, registry, nodes, models, throttles, now, logger }) : undefined;
      if (dashboard !== undefined) started.unshift({ destroy: async () => dashboard.close() });
      const metricsThrottle = throttles.metrics;
      const parts = adminParts({ state, registry, ledger, metrics, metricsToken: config.metrics.token, metricsThrottle, logger });
      if (dashboard !== undefined) parts.push(dashboard.part);
      const admin = await options.adminListener?.({ config, parts, logger });
      if (admin !== undefined) started.unshift(admin);
      const urls = new PublicUrls({ template: config.http.publicUrl, domain: config.domain, port: httpPort });
      const control = await ControlListener.listen({
        ...config.control.listen,
        tls: config.control.tls,
        handshakeTimeoutMs: config.control.handshakeTimeoutMs,
        preambleTimeoutMs: config.control.preambleTimeoutMs,
        maxHandshakesPerAddress: config.control.maxHandshakesPerAddress,
        authThrottle: throttles.nodes,
        heartbeatIntervalMs: config.control.heartbeatIntervalMs,
        heartbeatTimeoutMs: config.control.heartbeatTimeoutMs,
        closeTimeoutMs: config.http.drainTimeoutMs,
        maxHandshakes: options.maxHandshakes ?? config.control.maxHandshakes,
        registry,
        publicUrl: (name) => urls.node(name),
        welcomeUrls: (name) => ({ apiUrl: urls.api(), serviceUrlTemplate: urls.serviceTemplate(name) }),
        onSession: (name, session, peer) => nodes.attach(name, session, peer),
        logger,
      });
      server = new ProximaServer({
        config,
        registry,
        nodes,
        api,
        ledger,
        models,
        checks,
        keys,
        presence,
        untrack,
        cluster,
        control,
        public: listener,
        admin,
        dashboard,
        metrics,
        logger,
      });
      dashboard?.follow(server);
      return server;
    } catch (err) {
      for (const part of started) await part.destroy();
      throw err;
    }
  }

  /** The directory of live nodes, for the data plane. */
  get directory(): NodeDirectory {
    return this.cluster?.directory ?? this.nodes;
  }

  /** Where the control port listens (the real port when 0 was configured). */
  controlAddress(): BoundAddress {
    return this.#control.address();
  }

  /** Where the public HTTP listener listens, when there is one. */
  httpAddress(): BoundAddress | undefined {
    return this.#public?.address();
  }

  /** Where the admin listener (health, metrics) listens, when there is one. */
  adminAddress(): BoundAddress | undefined {
    return this.#admin?.address();
  }

  /**
   * Drains: the control port stops accepting, the public listener finishes its requests, every node
   * is told `drain` and its session closed with GoAway once its streams are done (each bounded by
   * http.drainTimeoutMs); then the ledger and the registry write what is pending. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.checks.close();
      // The API closes its idle streams to nodes at once, so the nodes' sessions are not held up by them.
      await Promise.all([this.#control.close(), this.#public?.close(), this.models.close(), this.nodes.close(), this.cluster?.close()]);
      this.#untrack();
      await this.presence.close();
      await this.ledger.close();
      await this.keys.close();
      await this.registry.close();
      await this.#control.closed;
      // Last: /readyz says 503 while the rest drains.
      await this.#admin?.close();
      this.#dashboard?.close();
    })();
    return this.#closing;
  }

  /** Stops at once: every connection and stream is cut. Idempotent. */
  destroy(err?: Error): Promise<void> {
    this.#destroying ??= (async () => {
      await this.checks.destroy();
      const cluster = this.cluster?.destroy();
      await Promise.all([this.#control.destroy(), this.#public?.destroy(err), this.models.destroy(), this.nodes.destroy(err)]);
      await cluster;
      this.#untrack();
      await this.presence.close();
      await this.ledger.destroy(err);
      await this.keys.close();
      await this.registry.destroy(err);
      await this.#control.closed;
      await this.#admin?.destroy();
      this.#dashboard?.close();
    })();
    return this.#destroying;
  }
}
